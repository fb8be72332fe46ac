//! One `config.json` shape out of the shapes Hugging Face transformers writes.
//!
//! transformers 4.x writes `rope_theta` at the top level and rope scaling as `rope_scaling`
//! (older releases with `type` instead of `rope_type`); transformers 5.x moves both into
//! `rope_parameters` (`{"rope_type": "default", "rope_theta": 100000.0}`) and writes `dtype`
//! instead of `torch_dtype`. mistral.rs 0.8.1 and this project read the 4.x shape, so every
//! config is rewritten into it before anything parses it. transformers 5.x reads the 4.x shape
//! too, so a normalised config is what every checkpoint this project writes carries.

use serde_json::Value;

/// RoPE base when a config states none (transformers' default for Llama and Qwen2).
pub const DEFAULT_ROPE_THETA: f64 = 10_000.0;

/// Rewrites `config` (a parsed `config.json` object) into the transformers 4.x shape:
///
/// - `rope_parameters.rope_theta` → `rope_theta` (when the top level has none); the rest of
///   `rope_parameters` becomes `rope_scaling` unless its `rope_type` is `default`; then
///   `rope_parameters` is dropped;
/// - `rope_scaling.type` → `rope_scaling.rope_type`; a `rope_scaling` of type `default` (no
///   scaling) is dropped;
/// - `rope_theta` absent everywhere → [`DEFAULT_ROPE_THETA`];
/// - Gemma 3's per-layer-type `rope_parameters`: `full_attention`'s entry is read as above,
///   `sliding_attention`'s `rope_theta` becomes `rope_local_base_freq`; a `layer_types` list
///   that alternates regularly also gets its `sliding_window_pattern` (mistral.rs reads that);
/// - `dtype` → `torch_dtype`; `num_key_value_heads` absent → `num_attention_heads`.
///
/// Values of other keys are kept as they are. Returns whether anything changed. A value that is
/// not a JSON object is left alone (the typed parse reports it).
pub fn normalize_config(config: &mut Value) -> bool {
    let Some(map) = config.as_object_mut() else {
        return false;
    };
    let before = map.clone();
    if let Some(Value::Object(mut parameters)) = map.remove("rope_parameters") {
        // Gemma 3: one entry per layer type; the sliding layers' base is 4.x's
        // `rope_local_base_freq`, the full layers' entry is the model's rope.
        if let Some(Value::Object(mut local)) = parameters.remove("sliding_attention") {
            if let Some(theta) = local.remove("rope_theta") {
                map.entry("rope_local_base_freq").or_insert(theta);
            }
        }
        if let Some(Value::Object(full)) = parameters.remove("full_attention") {
            parameters.extend(full);
        }
        if let Some(theta) = parameters.remove("rope_theta") {
            map.entry("rope_theta").or_insert(theta);
        }
        // Keys of rope_parameters that are not about scaling the positions.
        parameters.remove("partial_rotary_factor");
        if !parameters.is_empty() && !map.contains_key("rope_scaling") {
            map.insert("rope_scaling".into(), Value::Object(parameters));
        }
    }
    let scaling = map.remove("rope_scaling");
    if let Some(scaling) = scaling.and_then(normal_rope_scaling) {
        map.insert("rope_scaling".into(), scaling);
    }
    if !map.contains_key("rope_theta") {
        map.insert("rope_theta".into(), DEFAULT_ROPE_THETA.into());
    }
    if let Some(dtype) = map.remove("dtype") {
        map.entry("torch_dtype").or_insert(dtype);
    }
    if !map.contains_key("num_key_value_heads") {
        if let Some(heads) = map.get("num_attention_heads").cloned() {
            map.insert("num_key_value_heads".into(), heads);
        }
    }
    if !map.contains_key("sliding_window_pattern") {
        if let Some(pattern) = map.get("layer_types").and_then(sliding_window_pattern) {
            map.insert("sliding_window_pattern".into(), pattern.into());
        }
    }
    *map != before
}

/// 4.x's `sliding_window_pattern` of a 5.x `layer_types` list that has one: every `p`-th layer
/// full attention, the others sliding (Gemma 3). None when no such `p` describes the list or the
/// list has no sliding layer.
fn sliding_window_pattern(layer_types: &Value) -> Option<usize> {
    let types: Vec<&str> = layer_types
        .as_array()?
        .iter()
        .map(Value::as_str)
        .collect::<Option<_>>()?;
    if !types.contains(&"sliding_attention") {
        return None;
    }
    (1..=types.len() + 1).find(|&p| {
        types.iter().enumerate().all(|(i, &t)| {
            let full = (i + 1) % p == 0;
            t == if full {
                "full_attention"
            } else {
                "sliding_attention"
            }
        })
    })
}

/// A `rope_scaling` value in the 4.x shape, or None when it asks for no scaling.
fn normal_rope_scaling(scaling: Value) -> Option<Value> {
    let Value::Object(mut scaling) = scaling else {
        // `null` means no scaling; anything else is kept for the typed parse to reject.
        return (!scaling.is_null()).then_some(scaling);
    };
    if let Some(kind) = scaling.remove("type") {
        scaling.entry("rope_type").or_insert(kind);
    }
    let is_default = scaling.get("rope_type").and_then(Value::as_str) == Some("default");
    (!is_default && !scaling.is_empty()).then_some(Value::Object(scaling))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The Llama fields both shapes share (SmolLM2-135M-Instruct's).
    fn base() -> Value {
        json!({
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
            "num_attention_heads": 9, "num_key_value_heads": 3, "max_position_embeddings": 8192,
            "rms_norm_eps": 1e-5, "vocab_size": 49152, "tie_word_embeddings": true,
            "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
        })
    }

    fn with(mut value: Value, extra: Value) -> Value {
        if let (Some(map), Value::Object(extra)) = (value.as_object_mut(), extra) {
            map.extend(extra);
        }
        value
    }

    #[test]
    fn transformers_4_config_is_unchanged() {
        let mut config = with(
            base(),
            json!({"rope_theta": 100000.0, "rope_scaling": null, "torch_dtype": "float32"}),
        );
        let expected = with(
            base(),
            json!({"rope_theta": 100000.0, "torch_dtype": "float32"}),
        );
        normalize_config(&mut config);
        assert_eq!(config, expected);
        // A second pass changes nothing.
        assert!(!normalize_config(&mut config));
    }

    #[test]
    fn transformers_5_config_gets_rope_theta_at_the_top() {
        // What transformers 5.x `save_pretrained` writes for a SmolLM2 student.
        let mut config = with(
            base(),
            json!({
                "dtype": "float32",
                "rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"},
            }),
        );
        assert!(normalize_config(&mut config));
        assert_eq!(
            config,
            with(
                base(),
                json!({"rope_theta": 100000.0, "torch_dtype": "float32"})
            )
        );
    }

    #[test]
    fn transformers_5_llama3_scaling_becomes_rope_scaling() {
        // Llama-3.2-1B's rope as transformers 5.x writes it.
        let mut config = with(
            base(),
            json!({"rope_parameters": {
                "rope_theta": 500000.0, "rope_type": "llama3", "factor": 32.0,
                "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192,
            }}),
        );
        normalize_config(&mut config);
        assert_eq!(config["rope_theta"], 500000.0);
        assert_eq!(
            config["rope_scaling"],
            json!({
                "rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 8192,
            })
        );
        assert!(config.get("rope_parameters").is_none());
    }

    #[test]
    fn old_rope_scaling_type_key_is_renamed() {
        let mut config = with(
            base(),
            json!({"rope_theta": 10000.0, "rope_scaling": {"type": "linear", "factor": 2.0}}),
        );
        normalize_config(&mut config);
        assert_eq!(
            config["rope_scaling"],
            json!({"rope_type": "linear", "factor": 2.0})
        );
    }

    #[test]
    fn missing_defaults_are_filled_in() {
        let mut config = base();
        if let Some(map) = config.as_object_mut() {
            map.remove("num_key_value_heads");
        }
        assert!(normalize_config(&mut config));
        assert_eq!(config["rope_theta"], DEFAULT_ROPE_THETA);
        assert_eq!(config["num_key_value_heads"], 9);
    }

    #[test]
    fn top_level_rope_theta_wins_over_rope_parameters() {
        let mut config = with(
            base(),
            json!({"rope_theta": 1.0, "rope_parameters": {"rope_theta": 2.0, "rope_type": "default"}}),
        );
        normalize_config(&mut config);
        assert_eq!(config["rope_theta"], 1.0);
    }

    #[test]
    fn gemma3_rope_per_layer_type_becomes_the_4x_keys() {
        // What transformers 5.24 writes for a Gemma 3 text model (3 layers, pattern 3).
        let mut config = with(
            base(),
            json!({
                "layer_types": ["sliding_attention", "sliding_attention", "full_attention"],
                "rope_parameters": {
                    "full_attention": {"rope_theta": 1000000.0, "rope_type": "linear", "factor": 8.0},
                    "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"},
                },
            }),
        );
        assert!(normalize_config(&mut config));
        assert_eq!(config["rope_theta"], 1000000.0);
        assert_eq!(config["rope_local_base_freq"], 10000.0);
        assert_eq!(
            config["rope_scaling"],
            json!({"rope_type": "linear", "factor": 8.0})
        );
        assert_eq!(config["sliding_window_pattern"], 3);
        assert!(!normalize_config(&mut config));
    }

    #[test]
    fn a_pattern_is_derived_only_when_one_describes_the_layers() {
        let types = |t: &[&str]| json!(t);
        let (s, f) = ("sliding_attention", "full_attention");
        assert_eq!(sliding_window_pattern(&types(&[s, s, f, s, s, f])), Some(3));
        assert_eq!(sliding_window_pattern(&types(&[s, s, s])), Some(4));
        assert_eq!(sliding_window_pattern(&types(&[f, s])), None);
        assert_eq!(sliding_window_pattern(&types(&[f, f])), None);
    }

    #[test]
    fn non_objects_are_left_alone() {
        let mut config = json!([1, 2]);
        assert!(!normalize_config(&mut config));
    }
}
