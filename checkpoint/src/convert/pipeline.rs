//! The conversion itself: read the GGUF, build every output, then write the directory.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Content;

use super::gguf_config::config_from_metadata;
use super::metadata::Metadata;
use super::tensors::{load_weights, GGUF_LM_HEAD};
use super::tokenizer::Vocab;
use crate::error::{Error, Result};
use crate::files::{write_json, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE};
use crate::generation::{generation_config, write_generation_config};
use crate::weights::save_weights;

/// What a conversion produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The Hugging Face–style model directory.
    pub dir: PathBuf,
    /// Number of tensors written to `model.safetensors`.
    pub tensors: usize,
    /// Number of parameters (tensor elements) written.
    pub parameters: u64,
    /// The GGUF's `general.architecture` (always `llama` today).
    pub architecture: String,
}

/// Converts a llama-architecture GGUF into `out_dir` (created): `model.safetensors` (F32),
/// `config.json`, `tokenizer.json`, `tokenizer_config.json` (with the chat template and the
/// bos/eos/pad/unk tokens) and `generation_config.json`.
///
/// Quantized tensors are dequantized to F32, renamed to Hugging Face Llama names, and the query
/// and key projections are un-permuted back to Hugging Face's rotary layout. A model without
/// `output.weight` is written with `tie_word_embeddings: true` and no `lm_head.weight`.
///
/// Idempotent: existing files of the same names are overwritten. Each file is written under a
/// temporary name and renamed into place, and `config.json` comes last, so a directory with a
/// `config.json` holds a complete conversion. Peak memory is about the F32 size of the model.
pub fn convert_gguf(gguf: &Path, out_dir: &Path) -> Result<Converted> {
    let fail = |message: String| Error::Convert {
        path: gguf.to_path_buf(),
        message,
    };
    let file = File::open(gguf).map_err(|source| Error::Io {
        path: gguf.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(file);
    let content =
        Content::read(&mut reader).map_err(|e| fail(format!("not a readable GGUF file: {e}")))?;
    let metadata = Metadata::new(&content.metadata);

    let tied = !content.tensor_infos.contains_key(GGUF_LM_HEAD);
    let config = config_from_metadata(&metadata, tied).map_err(fail)?;
    let vocab = Vocab::from_metadata(&metadata).map_err(fail)?;
    if vocab.len() > config.vocab_size {
        return Err(fail(format!(
            "`tokenizer.ggml.tokens` has {} tokens but the model's vocabulary is {}",
            vocab.len(),
            config.vocab_size
        )));
    }
    let tokenizer = vocab.tokenizer_json().map_err(fail)?;
    let tokenizer_config = vocab.tokenizer_config_json(config.max_position_embeddings);
    let weights = load_weights(&content, &mut reader, &config).map_err(fail)?;
    drop(reader);

    std::fs::create_dir_all(out_dir).map_err(crate::error::io_error(out_dir))?;
    save_weights(out_dir, &weights.tensors)?;
    write_json(&out_dir.join(TOKENIZER_FILE), &tokenizer)?;
    write_json(&out_dir.join(TOKENIZER_CONFIG_FILE), &tokenizer_config)?;
    write_generation_config(out_dir, &generation_config(&config))?;
    // Last: a directory with a config.json holds a complete conversion.
    config.write(out_dir)?;
    Ok(Converted {
        dir: out_dir.to_path_buf(),
        tensors: weights.tensors.len(),
        parameters: weights.parameters,
        architecture: super::gguf_config::ARCHITECTURE.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::gguf_file::{self, Value};
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    use super::*;

    /// A unique scratch directory under the system temp dir.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("r2l-convert-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        dir
    }

    /// Writes a two-block llama GGUF (hidden 8, 2 heads, 1 KV head, vocab 6) with F32 tensors
    /// whose values are `base + index`, so every element is recognisable.
    fn tiny_gguf(path: &Path, with_lm_head: bool) {
        let (hidden, inter, vocab, heads, kv) = (8usize, 12usize, 6usize, 2usize, 1usize);
        let hd = hidden / heads;
        let mut shapes: Vec<(String, Vec<usize>)> = vec![
            ("token_embd.weight".into(), vec![vocab, hidden]),
            ("output_norm.weight".into(), vec![hidden]),
        ];
        if with_lm_head {
            shapes.push(("output.weight".into(), vec![vocab, hidden]));
        }
        for i in 0..2 {
            for (suffix, shape) in [
                ("attn_q.weight", vec![heads * hd, hidden]),
                ("attn_k.weight", vec![kv * hd, hidden]),
                ("attn_v.weight", vec![kv * hd, hidden]),
                ("attn_output.weight", vec![hidden, heads * hd]),
                ("attn_norm.weight", vec![hidden]),
                ("ffn_norm.weight", vec![hidden]),
                ("ffn_gate.weight", vec![inter, hidden]),
                ("ffn_up.weight", vec![inter, hidden]),
                ("ffn_down.weight", vec![hidden, inter]),
            ] {
                shapes.push((format!("blk.{i}.{suffix}"), shape));
            }
        }
        let tensors: Vec<(String, QTensor)> = shapes
            .into_iter()
            .enumerate()
            .map(|(n, (name, shape))| {
                let count: usize = shape.iter().product();
                let values: Vec<f32> = (0..count).map(|i| (n * 1000 + i) as f32).collect();
                let t =
                    Tensor::from_vec(values, shape, &Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
                (
                    name,
                    QTensor::quantize(&t, GgmlDType::F32).unwrap_or_else(|e| panic!("{e}")),
                )
            })
            .collect();
        let strings = |items: &[&str]| {
            Value::Array(items.iter().map(|s| Value::String((*s).into())).collect())
        };
        let metadata = [
            ("general.architecture", Value::String("llama".into())),
            ("llama.block_count", Value::U32(2)),
            ("llama.context_length", Value::U32(64)),
            ("llama.embedding_length", Value::U32(hidden as u32)),
            ("llama.feed_forward_length", Value::U32(inter as u32)),
            ("llama.attention.head_count", Value::U32(heads as u32)),
            ("llama.attention.head_count_kv", Value::U32(kv as u32)),
            ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
            ("tokenizer.ggml.model", Value::String("gpt2".into())),
            ("tokenizer.ggml.pre", Value::String("smollm".into())),
            (
                "tokenizer.ggml.tokens",
                strings(&["<|e|>", "a", "b", "ab", "Ġ", "Ġa"]),
            ),
            (
                "tokenizer.ggml.token_type",
                Value::Array([3, 1, 1, 1, 1, 1].map(Value::I32).to_vec()),
            ),
            ("tokenizer.ggml.merges", strings(&["a b", "Ġ a"])),
            ("tokenizer.ggml.eos_token_id", Value::U32(0)),
        ];
        let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
        let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let mut file = File::create(path).unwrap_or_else(|e| panic!("{e}"));
        gguf_file::write(&mut file, &metadata, &tensors).unwrap_or_else(|e| panic!("{e}"));
    }

    fn read_json(path: &Path) -> serde_json::Value {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn converts_a_tiny_model_twice() {
        let dir = scratch("tiny");
        let gguf = dir.join("tiny.gguf");
        tiny_gguf(&gguf, false);
        let out = dir.join("hf");
        for _ in 0..2 {
            let converted = convert_gguf(&gguf, &out).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(converted.tensors, 2 + 2 * 9);
            assert_eq!(
                converted.parameters,
                6 * 8 + 8 + 2 * (64 + 2 * 32 + 64 + 2 * 8 + 3 * 96)
            );
            assert_eq!(converted.architecture, "llama");
        }
        let config = read_json(&out.join("config.json"));
        assert_eq!(config["tie_word_embeddings"], true);
        assert_eq!(config["num_key_value_heads"], 1);
        assert_eq!(config["eos_token_id"], 0);
        assert_eq!(
            read_json(&out.join("tokenizer_config.json"))["eos_token"],
            "<|e|>"
        );
        assert_eq!(
            read_json(&out.join("generation_config.json"))["eos_token_id"],
            0
        );

        let weights =
            candle_core::safetensors::load(out.join(crate::files::WEIGHTS_FILE), &Device::Cpu)
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(!weights.contains_key("lm_head.weight"));
        let row = |name: &str, r: usize| {
            let t = weights.get(name).unwrap_or_else(|| panic!("no {name}"));
            t.get(r)
                .and_then(|t| t.to_vec1::<f32>())
                .unwrap_or_else(|e| panic!("{e}"))
        };
        // The embedding comes through untouched: tensor 0, row 1 starts at element 8.
        assert_eq!(row("model.embed_tokens.weight", 1)[0], 8.0);
        // k_proj (1 head of width 4) is stored as HF rows [0, 2, 1, 3]: HF row 1 is GGUF row 2.
        let k = row("model.layers.0.self_attn.k_proj.weight", 1);
        let v = row("model.layers.0.self_attn.v_proj.weight", 1);
        assert_eq!(k[0] % 1000.0, 16.0, "k_proj is un-permuted");
        assert_eq!(v[0] % 1000.0, 8.0, "v_proj is not permuted");
        let leftovers = std::fs::read_dir(&out)
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            .count();
        assert_eq!(leftovers, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn keeps_an_untied_lm_head() {
        let dir = scratch("untied");
        let gguf = dir.join("untied.gguf");
        tiny_gguf(&gguf, true);
        let converted = convert_gguf(&gguf, &dir.join("hf")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(converted.tensors, 3 + 2 * 9);
        assert_eq!(
            read_json(&dir.join("hf/config.json"))["tie_word_embeddings"],
            false
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = scratch("errors");
        let missing = dir.join("missing.gguf");
        let err = convert_gguf(&missing, &dir.join("hf"))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("missing.gguf")));
        let junk = dir.join("junk.gguf");
        std::fs::write(&junk, b"not a gguf").unwrap_or_else(|e| panic!("{e}"));
        let err = convert_gguf(&junk, &dir.join("hf"))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("converting") && e.contains("junk.gguf")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
