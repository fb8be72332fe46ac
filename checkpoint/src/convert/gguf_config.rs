//! The `config.json` of a Hugging Face `LlamaForCausalLM`, from GGUF metadata.

use serde_json::Map;

use super::metadata::{Metadata, Msg};
use crate::config::{ModelConfig, RopeScaling, TokenIds};

/// The only GGUF architecture this converter handles.
pub(crate) const ARCHITECTURE: &str = "llama";

/// The Hugging Face Llama config of a llama-architecture GGUF. `tie_word_embeddings` says
/// whether the file lacks `output.weight`. Fails, naming the key, on a missing key, another
/// architecture, or a layout that a Hugging Face Llama (as mistral.rs loads it) cannot express.
pub(crate) fn config_from_metadata(
    md: &Metadata<'_>,
    tie_word_embeddings: bool,
) -> Msg<ModelConfig> {
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
    Ok(ModelConfig {
        architectures: vec!["LlamaForCausalLM".to_string()],
        model_type: "llama".to_string(),
        hidden_size,
        intermediate_size: md.usize(&key("feed_forward_length"))?,
        num_hidden_layers: md.usize(&key("block_count"))?,
        num_attention_heads,
        num_key_value_heads,
        head_dim: Some(head_dim),
        max_position_embeddings: md.usize(&key("context_length"))?,
        rms_norm_eps: md.f64(&key("attention.layer_norm_rms_epsilon"))?,
        rope_theta: md.opt_f64(&key("rope.freq_base"))?.unwrap_or(10_000.0),
        rope_scaling: rope_scaling(md)?,
        vocab_size,
        bos_token_id: md.opt_u32("tokenizer.ggml.bos_token_id")?,
        eos_token_id: md
            .opt_u32("tokenizer.ggml.eos_token_id")?
            .map(TokenIds::One),
        pad_token_id: md.opt_u32("tokenizer.ggml.padding_token_id")?,
        tie_word_embeddings,
        attention_bias: false,
        mlp_bias: false,
        torch_dtype: Some("float32".to_string()),
        hidden_act: "silu".to_string(),
        extra: Map::new(),
    })
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
                rope_type: "linear".to_string(),
                factor: Some(factor),
                low_freq_factor: None,
                high_freq_factor: None,
                original_max_position_embeddings: None,
                extra: Map::new(),
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
    use serde_json::json;

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
        let cfg = config_from_metadata(&Metadata::new(&m), true);
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
            crate::generation::generation_config(&cfg),
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
        let cfg = config_from_metadata(&Metadata::new(&m), false);
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
        let err = config_from_metadata(&Metadata::new(&m), true);
        assert_eq!(
            err,
            Err("missing metadata key `llama.context_length`".into())
        );

        let mut m = smollm2();
        m.insert("general.architecture".into(), Value::String("qwen2".into()));
        let err = config_from_metadata(&Metadata::new(&m), true);
        assert!(err.is_err_and(|e| e.contains("`general.architecture` `qwen2`")));

        let mut m = smollm2();
        m.insert(
            "llama.rope.scaling.type".into(),
            Value::String("yarn".into()),
        );
        let err = config_from_metadata(&Metadata::new(&m), true);
        assert!(err.is_err_and(|e| e.contains("`llama.rope.scaling.type` `yarn`")));

        let mut m = smollm2();
        m.insert("llama.attention.key_length".into(), Value::U32(128));
        let err = config_from_metadata(&Metadata::new(&m), true);
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
        let cfg = config_from_metadata(&Metadata::new(&m), true);
        let Ok(cfg) = cfg else { panic!("{cfg:?}") };
        assert_eq!(
            cfg.rope_scaling,
            Some(RopeScaling {
                rope_type: "linear".to_string(),
                factor: Some(4.0),
                low_freq_factor: None,
                high_freq_factor: None,
                original_max_position_embeddings: None,
                extra: Map::new(),
            })
        );
    }
}
