//! GGUF tensors → Hugging Face Llama tensors: names, shapes, dequantization to F32, and undoing
//! llama.cpp's rotary row permutation of the query and key projections.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Seek};

use candle_core::quantized::gguf_file::Content;
use candle_core::{DType, Device, Tensor};

use super::metadata::Msg;
use crate::config::ModelConfig;

/// The GGUF name of the output projection; its absence means tied embeddings.
pub(crate) const GGUF_LM_HEAD: &str = "output.weight";

/// Per-block tensors: GGUF suffix after `blk.{i}.`, Hugging Face suffix after `model.layers.{i}.`.
const BLOCK_TENSORS: [(&str, &str); 9] = [
    ("attn_q.weight", "self_attn.q_proj.weight"),
    ("attn_k.weight", "self_attn.k_proj.weight"),
    ("attn_v.weight", "self_attn.v_proj.weight"),
    ("attn_output.weight", "self_attn.o_proj.weight"),
    ("attn_norm.weight", "input_layernorm.weight"),
    ("ffn_norm.weight", "post_attention_layernorm.weight"),
    ("ffn_gate.weight", "mlp.gate_proj.weight"),
    ("ffn_up.weight", "mlp.up_proj.weight"),
    ("ffn_down.weight", "mlp.down_proj.weight"),
];

/// Model-level tensors: GGUF name, Hugging Face name.
const MODEL_TENSORS: [(&str, &str); 3] = [
    ("token_embd.weight", "model.embed_tokens.weight"),
    ("output_norm.weight", "model.norm.weight"),
    (GGUF_LM_HEAD, "lm_head.weight"),
];

/// The Hugging Face name of GGUF tensor `name` in a model of `num_layers` blocks, or an error
/// for a tensor this converter cannot place.
pub(crate) fn hf_name(name: &str, num_layers: usize) -> Msg<String> {
    if let Some((_, hf)) = MODEL_TENSORS.iter().find(|(gguf, _)| *gguf == name) {
        return Ok((*hf).to_string());
    }
    if name == "rope_freqs.weight" {
        return Err("tensor `rope_freqs.weight` (Llama 3 rope scaling) is not supported".into());
    }
    let block = name
        .strip_prefix("blk.")
        .and_then(|rest| rest.split_once('.'))
        .and_then(|(index, suffix)| Some((index.parse::<usize>().ok()?, suffix)));
    match block {
        Some((i, _)) if i >= num_layers => Err(format!(
            "tensor `{name}`: block {i} is beyond `llama.block_count` = {num_layers}"
        )),
        Some((i, suffix)) => BLOCK_TENSORS
            .iter()
            .find(|(gguf, _)| *gguf == suffix)
            .map(|(_, hf)| format!("model.layers.{i}.{hf}"))
            .ok_or_else(|| format!("unsupported tensor `{name}`")),
        None => Err(format!("unsupported tensor `{name}`")),
    }
}

/// The Hugging Face shape (`[out_features, in_features]` for linear layers) of tensor `hf`.
fn expected_shape(hf: &str, cfg: &ModelConfig) -> Vec<usize> {
    let (hidden, inter) = (cfg.hidden_size, cfg.intermediate_size);
    let q_rows = cfg.num_attention_heads * cfg.head_dim();
    let kv_rows = cfg.num_key_value_heads * cfg.head_dim();
    let is = |suffix: &str| hf.ends_with(suffix);
    if hf == "model.embed_tokens.weight" || hf == "lm_head.weight" {
        vec![cfg.vocab_size, hidden]
    } else if is("q_proj.weight") {
        vec![q_rows, hidden]
    } else if is("k_proj.weight") || is("v_proj.weight") {
        vec![kv_rows, hidden]
    } else if is("o_proj.weight") {
        vec![hidden, q_rows]
    } else if is("gate_proj.weight") || is("up_proj.weight") {
        vec![inter, hidden]
    } else if is("down_proj.weight") {
        vec![hidden, inter]
    } else {
        vec![hidden]
    }
}

/// Every Hugging Face tensor a model of this configuration must have.
fn required_names(cfg: &ModelConfig) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = ["model.embed_tokens.weight", "model.norm.weight"]
        .map(String::from)
        .into();
    if !cfg.tie_word_embeddings {
        names.insert("lm_head.weight".into());
    }
    for i in 0..cfg.num_hidden_layers {
        names.extend(
            BLOCK_TENSORS
                .iter()
                .map(|(_, hf)| format!("model.layers.{i}.{hf}")),
        );
    }
    names
}

/// Undoes llama.cpp's rotary permutation of a query or key projection of `n_head` heads.
///
/// llama.cpp's converter reorders each head's rows from Hugging Face's "rotate half" layout to
/// interleaved pairs: `w.reshape(n_head, 2, head_dim / 2, in).swapaxes(1, 2)`. The inverse views
/// the rows as `(n_head, head_dim / 2, 2)` and swaps the last two row axes back.
pub(crate) fn unpermute(w: &Tensor, n_head: usize) -> candle_core::Result<Tensor> {
    let (rows, cols) = w.dims2()?;
    if n_head == 0 || rows % (2 * n_head) != 0 {
        candle_core::bail!("cannot split {rows} rows into {n_head} heads of rotary pairs");
    }
    w.reshape((n_head, rows / n_head / 2, 2, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))
}

/// The converted weights.
pub(crate) struct Weights {
    /// Hugging Face name → F32 tensor in Hugging Face layout.
    pub tensors: HashMap<String, Tensor>,
    /// Total number of elements.
    pub parameters: u64,
}

/// Reads, dequantizes, renames, checks and un-permutes every tensor of `content`.
pub(crate) fn load_weights<R: Read + Seek>(
    content: &Content,
    reader: &mut R,
    cfg: &ModelConfig,
) -> Msg<Weights> {
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = HashMap::with_capacity(names.len());
    let mut parameters = 0u64;
    for name in names {
        let hf = hf_name(name, cfg.num_hidden_layers)?;
        if hf == "lm_head.weight" && cfg.tie_word_embeddings {
            return Err(format!(
                "tensor `{GGUF_LM_HEAD}` present in a model configured with tied embeddings"
            ));
        }
        let info = content
            .tensor_infos
            .get(name)
            .ok_or_else(|| format!("tensor `{name}` vanished from the index"))?;
        let expected = expected_shape(&hf, cfg);
        if info.shape.dims() != expected.as_slice() {
            return Err(format!(
                "tensor `{name}` has shape {:?}, expected {expected:?} for `{hf}`",
                info.shape.dims()
            ));
        }
        let failed =
            |e: candle_core::Error| format!("tensor `{name}` ({:?}): {e}", info.ggml_dtype);
        let quantized = info
            .read(reader, content.tensor_data_offset, &Device::Cpu)
            .map_err(failed)?;
        let mut tensor = quantized
            .dequantize(&Device::Cpu)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(failed)?;
        if hf.ends_with("q_proj.weight") {
            tensor = unpermute(&tensor, cfg.num_attention_heads).map_err(failed)?;
        } else if hf.ends_with("k_proj.weight") {
            tensor = unpermute(&tensor, cfg.num_key_value_heads).map_err(failed)?;
        }
        parameters += tensor.elem_count() as u64;
        tensors.insert(hf, tensor);
    }
    let missing: Vec<String> = required_names(cfg)
        .into_iter()
        .filter(|n| !tensors.contains_key(n))
        .collect();
    if !missing.is_empty() {
        let shown = missing
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        return Err(format!(
            "{} expected tensors are missing: {shown}",
            missing.len()
        ));
    }
    Ok(Weights {
        tensors,
        parameters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_hugging_face() {
        let cases = [
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("output_norm.weight", "model.norm.weight"),
            ("output.weight", "lm_head.weight"),
            (
                "blk.0.attn_q.weight",
                "model.layers.0.self_attn.q_proj.weight",
            ),
            (
                "blk.7.attn_k.weight",
                "model.layers.7.self_attn.k_proj.weight",
            ),
            (
                "blk.29.attn_v.weight",
                "model.layers.29.self_attn.v_proj.weight",
            ),
            (
                "blk.3.attn_output.weight",
                "model.layers.3.self_attn.o_proj.weight",
            ),
            (
                "blk.3.attn_norm.weight",
                "model.layers.3.input_layernorm.weight",
            ),
            (
                "blk.3.ffn_norm.weight",
                "model.layers.3.post_attention_layernorm.weight",
            ),
            (
                "blk.12.ffn_gate.weight",
                "model.layers.12.mlp.gate_proj.weight",
            ),
            ("blk.12.ffn_up.weight", "model.layers.12.mlp.up_proj.weight"),
            (
                "blk.12.ffn_down.weight",
                "model.layers.12.mlp.down_proj.weight",
            ),
        ];
        for (gguf, hf) in cases {
            assert_eq!(hf_name(gguf, 30), Ok(hf.to_string()), "{gguf}");
        }
        assert!(hf_name("blk.30.attn_q.weight", 30).is_err_and(|e| e.contains("beyond")));
        assert!(hf_name("blk.0.attn_q.bias", 30).is_err_and(|e| e.contains("`blk.0.attn_q.bias`")));
        assert!(hf_name("rope_freqs.weight", 30).is_err_and(|e| e.contains("rope_freqs")));
        assert!(hf_name("blk.x.attn_q.weight", 30).is_err());
    }

    /// llama.cpp's `permute`, written independently: row `h*hd + j*2 + s` of the permuted matrix
    /// is row `h*hd + s*(hd/2) + j` of the original.
    fn permute_rows(rows: &[Vec<f32>], n_head: usize) -> Vec<Vec<f32>> {
        let hd = rows.len() / n_head;
        let mut out = vec![Vec::new(); rows.len()];
        for h in 0..n_head {
            for j in 0..hd / 2 {
                for s in 0..2 {
                    out[h * hd + j * 2 + s] = rows[h * hd + s * (hd / 2) + j].clone();
                }
            }
        }
        out
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        for (n_head, hd, cols) in [(1, 4, 1), (2, 4, 3), (3, 8, 2)] {
            let rows: Vec<Vec<f32>> = (0..n_head * hd)
                .map(|r| (0..cols).map(|c| (r * 10 + c) as f32).collect())
                .collect();
            let permuted = permute_rows(&rows, n_head);
            let flat: Vec<f32> = permuted.concat();
            let t = Tensor::from_vec(flat, (n_head * hd, cols), &Device::Cpu)
                .unwrap_or_else(|e| panic!("{e}"));
            let back = unpermute(&t, n_head)
                .and_then(|t| t.to_vec2::<f32>())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, rows, "n_head {n_head}, head_dim {hd}");
        }
    }

    #[test]
    fn unpermute_known_matrix() {
        // One head of width 4: llama.cpp stores HF rows [r0, r1, r2, r3] as [r0, r2, r1, r3].
        let t = Tensor::from_vec(vec![0f32, 2., 1., 3.], (4, 1), &Device::Cpu)
            .unwrap_or_else(|e| panic!("{e}"));
        let back = unpermute(&t, 1)
            .and_then(|t| t.flatten_all()?.to_vec1::<f32>())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, vec![0., 1., 2., 3.]);
        assert!(unpermute(&t, 3).is_err());
    }
}
