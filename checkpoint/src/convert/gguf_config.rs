//! `config.json` and `generation_config.json` of a Hugging Face `LlamaForCausalLM`, from GGUF
//! metadata.

use serde::Serialize;
use serde_json::json;

use super::metadata::{Metadata, Msg};

/// The only GGUF architecture this converter handles.
pub(crate) const ARCHITECTURE: &str = "llama";

/// The Hugging Face rope scaling entry (only linear scaling is expressible from GGUF metadata).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RopeScaling {
    /// Always `"linear"`.
    pub rope_type: &'static str,
    /// The position scaling factor.
    pub factor: f64,
}

/// The fields of a Hugging Face Llama `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LlamaConfig {
    /// `["LlamaForCausalLM"]`.
    pub architectures: Vec<&'static str>,
    /// `"llama"`.
    pub model_type: &'static str,
    /// Width of the residual stream (`llama.embedding_length`).
    pub hidden_size: usize,
    /// Width of the MLP (`llama.feed_forward_length`).
    pub intermediate_size: usize,
    /// Number of decoder blocks (`llama.block_count`).
    pub num_hidden_layers: usize,
    /// Query heads (`llama.attention.head_count`).
    pub num_attention_heads: usize,
    /// Key/value heads (`llama.attention.head_count_kv`, default: the query heads).
    pub num_key_value_heads: usize,
    /// Width of one head: `hidden_size / num_attention_heads`.
    pub head_dim: usize,
    /// Context length (`llama.context_length`).
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon (`llama.attention.layer_norm_rms_epsilon`).
    pub rms_norm_eps: f64,
    /// RoPE base (`llama.rope.freq_base`, default 10000).
    pub rope_theta: f64,
    /// RoPE scaling (`llama.rope.scaling.type` = `linear`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<RopeScaling>,
    /// Vocabulary size (`llama.vocab_size`, or the length of `tokenizer.ggml.tokens`).
    pub vocab_size: usize,
    /// Beginning-of-sequence token id (`tokenizer.ggml.bos_token_id`).
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token id (`tokenizer.ggml.eos_token_id`).
    pub eos_token_id: Option<u32>,
    /// Padding token id (`tokenizer.ggml.padding_token_id`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<u32>,
    /// Whether `lm_head` reuses the embedding matrix (the GGUF has no `output.weight`).
    pub tie_word_embeddings: bool,
    /// Llama has no attention biases.
    pub attention_bias: bool,
    /// Llama has no MLP biases.
    pub mlp_bias: bool,
    /// `"float32"`: the converted weights are dequantized to F32.
    pub torch_dtype: &'static str,
    /// `"silu"`.
    pub hidden_act: &'static str,
}

impl LlamaConfig {
    /// Reads the hyper-parameters of a llama-architecture GGUF. `tie_word_embeddings` says whether
    /// the file lacks `output.weight`. Fails, naming the key, on a missing key, another
    /// architecture, or a layout that a Hugging Face Llama (as mistral.rs loads it) cannot express.
    pub(crate) fn from_metadata(md: &Metadata<'_>, tie_word_embeddings: bool) -> Msg<Self> {
        let arch = md.str("general.architecture")?;
        if arch != ARCHITECTURE {
            return Err(format!(
                "unsupported `general.architecture` `{arch}`: only `{ARCHITECTURE}` is supported"
            ));
        }
        let key = |name: &str| format!("{ARCHITECTURE}.{name}");
        if md.opt_usize(&key("expert_count"))?.unwrap_or(0) > 0 {
            return Err(format!(
                "`{}` is set: mixture-of-experts llama models are not supported",
                key("expert_count")
            ));
        }
        let hidden_size = md.usize(&key("embedding_length"))?;
        let num_attention_heads = md.usize(&key("attention.head_count"))?;
        let num_key_value_heads = md
            .opt_usize(&key("attention.head_count_kv"))?
            .unwrap_or(num_attention_heads);
        if num_attention_heads == 0
            || num_key_value_heads == 0
            || hidden_size % num_attention_heads != 0
            || num_attention_heads % num_key_value_heads != 0
        {
            return Err(format!(
                "inconsistent attention shape: `{}` = {hidden_size}, `{}` = {num_attention_heads}, \
                 `{}` = {num_key_value_heads}",
                key("embedding_length"),
                key("attention.head_count"),
                key("attention.head_count_kv"),
            ));
        }
        let head_dim = hidden_size / num_attention_heads;
        if head_dim % 2 != 0 {
            return Err(format!(
                "head width {hidden_size}/{num_attention_heads} is odd: RoPE needs an even width"
            ));
        }
        for name in [
            "attention.key_length",
            "attention.value_length",
            "rope.dimension_count",
        ] {
            if let Some(n) = md.opt_usize(&key(name))? {
                if n != head_dim {
                    return Err(format!(
                        "`{}` = {n} differs from embedding_length/head_count = {head_dim}: \
                         not supported (mistral.rs's llama derives the head width)",
                        key(name)
                    ));
                }
            }
        }
        let vocab_size = match md.opt_usize(&key("vocab_size"))? {
            Some(n) => n,
            None => md.opt_array_len("tokenizer.ggml.tokens")?.ok_or_else(|| {
                format!(
                    "missing metadata keys `{}` and `tokenizer.ggml.tokens`",
                    key("vocab_size")
                )
            })?,
        };
        Ok(Self {
            architectures: vec!["LlamaForCausalLM"],
            model_type: "llama",
            hidden_size,
            intermediate_size: md.usize(&key("feed_forward_length"))?,
            num_hidden_layers: md.usize(&key("block_count"))?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            max_position_embeddings: md.usize(&key("context_length"))?,
            rms_norm_eps: md.f64(&key("attention.layer_norm_rms_epsilon"))?,
            rope_theta: md.opt_f64(&key("rope.freq_base"))?.unwrap_or(10_000.0),
            rope_scaling: rope_scaling(md)?,
            vocab_size,
            bos_token_id: md.opt_u32("tokenizer.ggml.bos_token_id")?,
            eos_token_id: md.opt_u32("tokenizer.ggml.eos_token_id")?,
            pad_token_id: md.opt_u32("tokenizer.ggml.padding_token_id")?,
            tie_word_embeddings,
            attention_bias: false,
            mlp_bias: false,
            torch_dtype: "float32",
            hidden_act: "silu",
        })
    }

    /// `generation_config.json`: the special token ids generation stops on and starts with.
    pub(crate) fn generation_config(&self) -> serde_json::Value {
        let mut config = json!({
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
        });
        if let (Some(pad), Some(map)) = (self.pad_token_id, config.as_object_mut()) {
            map.insert("pad_token_id".into(), pad.into());
        }
        config
    }
}

/// The rope scaling described by `llama.rope.scaling.*`: none, or linear.
fn rope_scaling(md: &Metadata<'_>) -> Msg<Option<RopeScaling>> {
    let type_key = format!("{ARCHITECTURE}.rope.scaling.type");
    let factor_key = format!("{ARCHITECTURE}.rope.scaling.factor");
    match md.opt_str(&type_key)? {
        None | Some("none") => Ok(None),
        Some("linear") => {
            let factor = md.f64(&factor_key)?;
            Ok((factor != 1.0).then_some(RopeScaling {
                rope_type: "linear",
                factor,
            }))
        }
        Some(other) => Err(format!(
            "unsupported `{type_key}` `{other}`: only `none` and `linear` are supported"
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::quantized::gguf_file::Value;

    use super::*;

    /// The metadata of SmolLM2-135M-Instruct's GGUF, less the tokenizer arrays.
    fn smollm2() -> HashMap<String, Value> {
        [
            ("general.architecture", Value::String("llama".into())),
            ("llama.block_count", Value::U32(30)),
            ("llama.context_length", Value::U32(8192)),
            ("llama.embedding_length", Value::U32(576)),
            ("llama.feed_forward_length", Value::U32(1536)),
            ("llama.attention.head_count", Value::U32(9)),
            ("llama.attention.head_count_kv", Value::U32(3)),
            ("llama.rope.freq_base", Value::F32(100_000.0)),
            ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
            ("llama.vocab_size", Value::U32(49152)),
            ("llama.rope.dimension_count", Value::U32(64)),
            ("tokenizer.ggml.bos_token_id", Value::U32(1)),
            ("tokenizer.ggml.eos_token_id", Value::U32(2)),
            ("tokenizer.ggml.padding_token_id", Value::U32(2)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn maps_every_field() {
        let m = smollm2();
        let cfg = LlamaConfig::from_metadata(&Metadata::new(&m), true);
        let Ok(cfg) = cfg else { panic!("{cfg:?}") };
        let json = serde_json::to_value(&cfg).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            json,
            json!({
                "architectures": ["LlamaForCausalLM"], "model_type": "llama",
                "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
                "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64,
                "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "rope_theta": 100000.0,
                "vocab_size": 49152, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2,
                "tie_word_embeddings": true, "attention_bias": false, "mlp_bias": false,
                "torch_dtype": "float32", "hidden_act": "silu",
            })
        );
        assert_eq!(
            cfg.generation_config(),
            json!({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2})
        );
    }

    #[test]
    fn defaults_apply_to_optional_keys() {
        let mut m = smollm2();
        for k in [
            "llama.rope.freq_base",
            "llama.attention.head_count_kv",
            "llama.vocab_size",
        ] {
            m.remove(k);
        }
        m.insert(
            "tokenizer.ggml.tokens".into(),
            Value::Array(vec![Value::String("a".into()); 5]),
        );
        let cfg = LlamaConfig::from_metadata(&Metadata::new(&m), false);
        let Ok(cfg) = cfg else { panic!("{cfg:?}") };
        assert_eq!(cfg.rope_theta, 10_000.0);
        assert_eq!(cfg.num_key_value_heads, 9);
        assert_eq!(cfg.vocab_size, 5);
        assert!(!cfg.tie_word_embeddings);
    }

    #[test]
    fn errors_name_the_key() {
        let mut m = smollm2();
        m.remove("llama.context_length");
        let err = LlamaConfig::from_metadata(&Metadata::new(&m), true);
        assert_eq!(
            err,
            Err("missing metadata key `llama.context_length`".into())
        );

        let mut m = smollm2();
        m.insert("general.architecture".into(), Value::String("qwen2".into()));
        let err = LlamaConfig::from_metadata(&Metadata::new(&m), true);
        assert!(err.is_err_and(|e| e.contains("`general.architecture` `qwen2`")));

        let mut m = smollm2();
        m.insert(
            "llama.rope.scaling.type".into(),
            Value::String("yarn".into()),
        );
        let err = LlamaConfig::from_metadata(&Metadata::new(&m), true);
        assert!(err.is_err_and(|e| e.contains("`llama.rope.scaling.type` `yarn`")));

        let mut m = smollm2();
        m.insert("llama.attention.key_length".into(), Value::U32(128));
        let err = LlamaConfig::from_metadata(&Metadata::new(&m), true);
        assert!(err.is_err_and(|e| e.contains("`llama.attention.key_length` = 128")));
    }

    #[test]
    fn linear_rope_scaling_is_kept() {
        let mut m = smollm2();
        m.insert(
            "llama.rope.scaling.type".into(),
            Value::String("linear".into()),
        );
        m.insert("llama.rope.scaling.factor".into(), Value::F32(4.0));
        let cfg = LlamaConfig::from_metadata(&Metadata::new(&m), true);
        let Ok(cfg) = cfg else { panic!("{cfg:?}") };
        assert_eq!(
            cfg.rope_scaling,
            Some(RopeScaling {
                rope_type: "linear",
                factor: 4.0
            })
        );
    }
}
