//! `config.json` of a Llama-, Qwen2-, Qwen3-, Mistral- or Gemma 3-architecture causal language
//! model, read (any transformers shape, normalised) and written (the transformers 4.x shape).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{io_error, Error, Result};
use crate::files::{write_json, CONFIG_FILE};
use crate::normalize::normalize_config;

/// The model families this project loads, trains and serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// `LlamaForCausalLM` (SmolLM2, TinyLlama, Llama 3.x): biases only if `attention_bias`.
    Llama,
    /// `Qwen2ForCausalLM` (Qwen2.5): biases on the query, key and value projections.
    Qwen2,
    /// `Qwen3ForCausalLM`: an RMSNorm on each query and key head before RoPE; biases only if
    /// `attention_bias`.
    Qwen3,
    /// `MistralForCausalLM`: no biases; sliding-window attention when `sliding_window` is set.
    Mistral,
    /// `Gemma3ForCausalLM` (text): norms scaling by `1 + weight`, a norm after attention and after
    /// the MLP too, query/key norms, GELU (tanh) gate, embeddings scaled by `sqrt(hidden)`,
    /// sliding-window layers with their own RoPE base, optional final-logit soft-capping.
    Gemma3,
}

impl Architecture {
    /// The names accepted in `architectures` / `model_type`, for error messages.
    pub const VALID: &'static str = "LlamaForCausalLM (llama), Qwen2ForCausalLM (qwen2), \
        Qwen3ForCausalLM (qwen3), MistralForCausalLM (mistral), Gemma3ForCausalLM (gemma3_text)";

    /// The architecture a name of `architectures` or `model_type` stands for.
    pub fn named(name: &str) -> Option<Architecture> {
        Some(match name {
            "LlamaForCausalLM" | "llama" => Architecture::Llama,
            "Qwen2ForCausalLM" | "qwen2" => Architecture::Qwen2,
            "Qwen3ForCausalLM" | "qwen3" => Architecture::Qwen3,
            "MistralForCausalLM" | "mistral" => Architecture::Mistral,
            "Gemma3ForCausalLM" | "gemma3_text" => Architecture::Gemma3,
            _ => return None,
        })
    }

    /// The `architectures` entry and `model_type` transformers writes for it.
    pub fn hf_names(self) -> (&'static str, &'static str) {
        match self {
            Architecture::Llama => ("LlamaForCausalLM", "llama"),
            Architecture::Qwen2 => ("Qwen2ForCausalLM", "qwen2"),
            Architecture::Qwen3 => ("Qwen3ForCausalLM", "qwen3"),
            Architecture::Mistral => ("MistralForCausalLM", "mistral"),
            Architecture::Gemma3 => ("Gemma3ForCausalLM", "gemma3_text"),
        }
    }

    /// Whether the query/key/value projections carry a bias.
    pub fn qkv_bias(self, config: &ModelConfig) -> bool {
        match self {
            Architecture::Llama | Architecture::Qwen3 | Architecture::Gemma3 => {
                config.attention_bias
            }
            Architecture::Qwen2 => true,
            Architecture::Mistral => false,
        }
    }

    /// Whether the output projection carries a bias.
    pub fn o_bias(self, config: &ModelConfig) -> bool {
        match self {
            Architecture::Llama | Architecture::Qwen3 | Architecture::Gemma3 => {
                config.attention_bias
            }
            Architecture::Qwen2 | Architecture::Mistral => false,
        }
    }

    /// Whether each query and key head is RMS-normalised before RoPE (`q_norm`, `k_norm`).
    pub fn qk_norm(self) -> bool {
        matches!(self, Architecture::Qwen3 | Architecture::Gemma3)
    }
}

/// End-of-sequence token ids: one id, or several (Llama 3.1 lists three).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// A single id.
    One(u32),
    /// Several ids, any of which ends a sequence.
    Many(Vec<u32>),
}

impl TokenIds {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }
}

/// A rope scaling entry (`rope_scaling`), in the transformers 4.x shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeScaling {
    /// `linear`, `llama3`, `dynamic`, `yarn`, ...
    pub rope_type: String,
    /// The scaling factor (context length multiple).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// Llama 3: wavelengths above `original_max_position_embeddings / low_freq_factor` are scaled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_freq_factor: Option<f64>,
    /// Llama 3: wavelengths below `original_max_position_embeddings / high_freq_factor` are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_freq_factor: Option<f64>,
    /// Llama 3: the context length the model was pre-trained with (tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_max_position_embeddings: Option<usize>,
    /// Any other keys, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_hidden_act() -> String {
    "silu".to_string()
}

/// The fields of a Hugging Face `config.json` this project reads; every other key is kept in
/// `extra` and written back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// `["LlamaForCausalLM"]` or `["Qwen2ForCausalLM"]`.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// `llama` or `qwen2`.
    #[serde(default)]
    pub model_type: String,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Number of decoder blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than the query heads).
    pub num_key_value_heads: usize,
    /// Width of one head, when stated (default `hidden_size / num_attention_heads`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    /// Context length (tokens).
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// RoPE scaling, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<RopeScaling>,
    /// Vocabulary size (rows of the embedding matrix).
    pub vocab_size: usize,
    /// Beginning-of-sequence token id.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token id(s).
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    /// Padding token id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<u32>,
    /// Whether `lm_head` reuses the embedding matrix.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Llama: biases on the attention projections.
    #[serde(default)]
    pub attention_bias: bool,
    /// Llama: biases on the MLP projections.
    #[serde(default)]
    pub mlp_bias: bool,
    /// The dtype of the stored weights (`float32`, `bfloat16`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
    /// The MLP activation (`silu`).
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    /// Every other key, kept as it is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ModelConfig {
    /// Reads `dir/config.json`, normalised (see [`normalize_config`]). Fails naming the file and
    /// the field on a missing or mistyped field.
    pub fn read(dir: &Path) -> Result<ModelConfig> {
        let path = dir.join(CONFIG_FILE);
        if !path.is_file() {
            return Err(Error::Missing {
                dir: dir.to_path_buf(),
                file: CONFIG_FILE.to_string(),
            });
        }
        let value = read_normalized(&path)?;
        Self::from_value(value, &path)
    }

    /// Parses a normalised config value; `path` names it in errors.
    pub fn from_value(value: Value, path: &Path) -> Result<ModelConfig> {
        let config: ModelConfig =
            serde_path_to_error::deserialize(value).map_err(|e| Error::Json {
                path: path.to_path_buf(),
                message: format!("field `{}`: {}", e.path(), e.inner()),
            })?;
        config.check(path)?;
        Ok(config)
    }

    /// Writes `dir/config.json` (pretty JSON, atomically).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let value = serde_json::to_value(self).map_err(|e| Error::Json {
            path: dir.join(CONFIG_FILE),
            message: format!("encoding: {e}"),
        })?;
        write_json(&dir.join(CONFIG_FILE), &value)
    }

    /// The architecture, from `architectures` (or `model_type` when that is empty). Any other
    /// is an error naming the field.
    pub fn architecture(&self, path: &Path) -> Result<Architecture> {
        let (field, found) = match self.architectures.first() {
            Some(first) => ("architectures", first.as_str()),
            None => ("model_type", self.model_type.as_str()),
        };
        Architecture::named(found).ok_or_else(|| Error::Config {
            path: path.to_path_buf(),
            field: field.to_string(),
            message: format!(
                "`{found}` is not a supported architecture; supported: {}",
                Architecture::VALID
            ),
        })
    }

    /// A key this struct does not type (kept in `extra`, e.g. Mistral's `sliding_window`,
    /// Gemma 3's `query_pre_attn_scalar`), parsed as `T`; None when absent or `null`. A value of
    /// the wrong type is an error naming the field.
    pub fn extra_field<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        path: &Path,
    ) -> Result<Option<T>> {
        match self.extra.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value.clone())
                .map(Some)
                .map_err(|e| Error::Config {
                    path: path.to_path_buf(),
                    field: key.to_string(),
                    message: format!("{value} is not valid here: {e}"),
                }),
        }
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// End-of-sequence ids (empty when the config names none).
    pub fn eos_token_ids(&self) -> Vec<u32> {
        self.eos_token_id
            .as_ref()
            .map(TokenIds::to_vec)
            .unwrap_or_default()
    }

    /// Consistency of the attention shape.
    fn check(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, message: String| Error::Config {
            path: path.to_path_buf(),
            field: field.to_string(),
            message,
        };
        if self.num_attention_heads == 0 {
            return Err(bad("num_attention_heads", "must be at least 1".into()));
        }
        if self.num_key_value_heads == 0
            || !self
                .num_attention_heads
                .is_multiple_of(self.num_key_value_heads)
        {
            return Err(bad(
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads = {}",
                    self.num_key_value_heads, self.num_attention_heads
                ),
            ));
        }
        if self.head_dim() == 0 || !self.head_dim().is_multiple_of(2) {
            return Err(bad(
                "head_dim",
                format!(
                    "{} is not a positive even width (RoPE rotates pairs)",
                    self.head_dim()
                ),
            ));
        }
        Ok(())
    }
}

/// `path` parsed as JSON and normalised.
pub fn read_normalized(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    let mut value: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.to_path_buf(),
        message: format!("not valid JSON: {e}"),
    })?;
    normalize_config(&mut value);
    Ok(value)
}

/// The normalised `dir/config.json`, if normalising changes it (None when the file is already in
/// the shape mistral.rs reads).
pub fn normalized_if_changed(dir: &Path) -> Result<Option<Value>> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
    let mut value: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.clone(),
        message: format!("not valid JSON: {e}"),
    })?;
    Ok(normalize_config(&mut value).then_some(value))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn smollm2() -> Value {
        json!({
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
            "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64,
            "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "rope_theta": 100000.0,
            "vocab_size": 49152, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2,
            "tie_word_embeddings": true, "attention_bias": false, "mlp_bias": false,
            "torch_dtype": "float32", "hidden_act": "silu",
        })
    }

    #[test]
    fn round_trips_every_field_and_keeps_unknown_keys() {
        let mut value = smollm2();
        if let Some(map) = value.as_object_mut() {
            map.insert("use_cache".into(), true.into());
        }
        let config = ModelConfig::from_value(value.clone(), Path::new("config.json"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.head_dim(), 64);
        assert_eq!(config.eos_token_ids(), vec![2]);
        assert_eq!(
            config.architecture(Path::new("c")).ok(),
            Some(Architecture::Llama)
        );
        let back = serde_json::to_value(&config).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, value);
    }

    #[test]
    fn qwen2_has_qkv_bias_and_eos_lists_parse() {
        let mut value = smollm2();
        if let Some(map) = value.as_object_mut() {
            map.insert("architectures".into(), json!(["Qwen2ForCausalLM"]));
            map.insert("eos_token_id".into(), json!([2, 5]));
        }
        let config =
            ModelConfig::from_value(value, Path::new("c")).unwrap_or_else(|e| panic!("{e}"));
        let arch = config
            .architecture(Path::new("c"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(arch, Architecture::Qwen2);
        assert!(arch.qkv_bias(&config));
        assert!(!arch.o_bias(&config));
        assert_eq!(config.eos_token_ids(), vec![2, 5]);
    }

    #[test]
    fn the_papers_student_architectures_are_named() {
        for (name, arch) in [
            ("Qwen3ForCausalLM", Architecture::Qwen3),
            ("MistralForCausalLM", Architecture::Mistral),
            ("Gemma3ForCausalLM", Architecture::Gemma3),
        ] {
            let mut value = smollm2();
            if let Some(map) = value.as_object_mut() {
                map.insert("architectures".into(), json!([name]));
                map.insert("attention_bias".into(), json!(true));
                map.insert("sliding_window".into(), json!(4096));
            }
            let config =
                ModelConfig::from_value(value, Path::new("c")).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(config.architecture(Path::new("c")).ok(), Some(arch));
            assert_eq!(Architecture::named(arch.hf_names().1), Some(arch));
            assert_eq!(arch.qkv_bias(&config), arch != Architecture::Mistral);
            assert_eq!(arch.qk_norm(), arch != Architecture::Mistral);
            assert_eq!(
                config
                    .extra_field::<usize>("sliding_window", Path::new("c"))
                    .ok(),
                Some(Some(4096))
            );
        }
        let config =
            ModelConfig::from_value(smollm2(), Path::new("c")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config
                .extra_field::<usize>("sliding_window", Path::new("c"))
                .ok(),
            Some(None)
        );
        let mut value = smollm2();
        if let Some(map) = value.as_object_mut() {
            map.insert("sliding_window".into(), json!("wide"));
        }
        let config =
            ModelConfig::from_value(value, Path::new("c")).unwrap_or_else(|e| panic!("{e}"));
        let err = config
            .extra_field::<usize>("sliding_window", Path::new("m/config.json"))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("m/config.json") && e.contains("`sliding_window`")),
            "{err:?}"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let mut value = smollm2();
        if let Some(map) = value.as_object_mut() {
            map.insert("hidden_size".into(), json!("wide"));
        }
        let err = ModelConfig::from_value(value, Path::new("m/config.json"))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("m/config.json") && e.contains("`hidden_size`")),
            "{err:?}"
        );

        let mut value = smollm2();
        if let Some(map) = value.as_object_mut() {
            map.insert("architectures".into(), json!(["GPT2LMHeadModel"]));
        }
        let config =
            ModelConfig::from_value(value, Path::new("c")).unwrap_or_else(|e| panic!("{e}"));
        let err = config
            .architecture(Path::new("m/config.json"))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(
                |e| e.contains("field `architectures`") && e.contains("GPT2LMHeadModel")
            ),
            "{err:?}"
        );

        let mut value = smollm2();
        if let Some(map) = value.as_object_mut() {
            map.insert("num_key_value_heads".into(), json!(2));
        }
        let err = ModelConfig::from_value(value, Path::new("c"))
            .err()
            .map(|e| e.to_string());
        assert!(err
            .as_deref()
            .is_some_and(|e| e.contains("`num_key_value_heads`")));
    }
}
