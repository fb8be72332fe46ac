//! The student's hyper-parameters, from a checkpoint's `config.json`.

use std::path::Path;

use checkpoint::{Architecture, ModelConfig};

use crate::error::{Error, Result};

/// How rotary position frequencies are scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeKind {
    /// No scaling.
    Default,
    /// Positions divided by `factor` (transformers' `linear`).
    Linear {
        /// The divisor.
        factor: f64,
    },
    /// Llama 3's frequency-dependent scaling.
    Llama3 {
        /// Scale of the low frequencies.
        factor: f64,
        /// Wavelengths above `original / low_freq_factor` tokens are divided by `factor`.
        low_freq_factor: f64,
        /// Wavelengths below `original / high_freq_factor` tokens are kept.
        high_freq_factor: f64,
        /// Pre-training context length (tokens).
        original_max_position_embeddings: usize,
    },
}

/// The activation of the MLP's gate (`act(gate) * up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(x)` (Llama, Qwen, Mistral).
    Silu,
    /// GELU, tanh approximation (Gemma's `gelu_pytorch_tanh`).
    GeluTanh,
}

/// A decoder of one of [`Architecture`]'s families.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The family (Llama, Qwen2, Qwen3, Mistral, Gemma 3).
    pub architecture: Architecture,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Decoder blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// RoPE scaling.
    pub rope: RopeKind,
    /// Context length (tokens).
    pub max_position_embeddings: usize,
    /// Biases on the query, key and value projections.
    pub qkv_bias: bool,
    /// Bias on the attention output projection.
    pub o_bias: bool,
    /// Biases on the MLP projections.
    pub mlp_bias: bool,
    /// `lm_head` is the embedding matrix.
    pub tie_word_embeddings: bool,
    /// The MLP's gate activation.
    pub activation: Activation,
    /// Query/key dot products are multiplied by this (`1/sqrt(head_dim)`; Gemma 3:
    /// `1/sqrt(query_pre_attn_scalar)`).
    pub attention_scale: f64,
    /// Gemma 3: logits become `cap * tanh(logit / cap)`.
    pub final_softcap: Option<f64>,
    /// Keys a sliding-window layer attends to, its own position included (transformers: key
    /// `j` is visible from query `i` when `i - window < j <= i`).
    pub sliding_window: Option<usize>,
    /// Which layers attend through the window (all of them for Mistral; Gemma 3 alternates).
    pub sliding_layers: Vec<bool>,
    /// Gemma 3: RoPE base of the sliding-window layers (no scaling).
    pub local_rope_theta: Option<f64>,
}

impl Config {
    /// The student config of a checkpoint config; `path` names the file in errors. Fails on an
    /// architecture other than those of [`Architecture`], an activation other than SiLU (GELU-tanh
    /// for Gemma 3), Qwen's layer-dependent sliding window, or a rope scaling this trainer does
    /// not implement.
    pub fn from_model_config(config: &ModelConfig, path: &Path) -> Result<Config> {
        let architecture = config.architecture(path)?;
        let bad = |field: &str, message: String| config_error(path, field, message);
        let activation = if architecture == Architecture::Gemma3 {
            let name = config.extra_field::<String>("hidden_activation", path)?;
            match name.as_deref().unwrap_or("gelu_pytorch_tanh") {
                "gelu_pytorch_tanh" => Activation::GeluTanh,
                other => {
                    return Err(bad(
                        "hidden_activation",
                        format!("`{other}` is not supported (only gelu_pytorch_tanh)"),
                    ))
                }
            }
        } else if config.hidden_act == "silu" {
            Activation::Silu
        } else {
            return Err(bad(
                "hidden_act",
                format!("`{}` is not supported (only silu)", config.hidden_act),
            ));
        };
        if config
            .extra_field::<bool>("use_sliding_window", path)?
            .unwrap_or(false)
        {
            return Err(bad(
                "use_sliding_window",
                "Qwen's layer-dependent sliding window (max_window_layers) is not supported"
                    .to_string(),
            ));
        }
        let layers = config.num_hidden_layers;
        let (sliding_window, sliding_layers) = match architecture {
            Architecture::Mistral => {
                let window = config.extra_field::<usize>("sliding_window", path)?;
                (window, vec![window.is_some(); layers])
            }
            Architecture::Gemma3 => {
                let window = config
                    .extra_field::<usize>("sliding_window", path)?
                    .ok_or_else(|| bad("sliding_window", "missing".to_string()))?;
                (Some(window), gemma3_sliding_layers(config, path)?)
            }
            _ => (None, vec![false; layers]),
        };
        if sliding_window == Some(0) {
            return Err(bad("sliding_window", "must be at least 1".to_string()));
        }
        let gemma = architecture == Architecture::Gemma3;
        let final_softcap = match gemma {
            true => config.extra_field::<f64>("final_logit_softcapping", path)?,
            false => None,
        };
        if let Some(cap) = final_softcap.filter(|&c| c <= 0.0) {
            return Err(bad(
                "final_logit_softcapping",
                format!("{cap} is not a positive cap"),
            ));
        }
        // Gemma 3 replaced Gemma 2's attention soft-capping by query/key norms: transformers
        // ignores the leftover field, mistral.rs would apply it. A value set is refused rather
        // than trained one way and served another.
        if let Some(cap) = config.extra_field::<f64>("attn_logit_softcapping", path)? {
            return Err(bad(
                "attn_logit_softcapping",
                format!(
                    "{cap}: Gemma 3 has no attention soft-capping (transformers ignores the field, \
                     mistral.rs applies it); set it to null"
                ),
            ));
        }
        let attention_scale = match gemma {
            true => config
                .extra_field::<f64>("query_pre_attn_scalar", path)?
                .unwrap_or(256.0),
            false => config.head_dim() as f64,
        }
        .powf(-0.5);
        let local_rope_theta = match gemma {
            true => Some(
                config
                    .extra_field::<f64>("rope_local_base_freq", path)?
                    .unwrap_or(10_000.0),
            ),
            false => None,
        };

        let rope = match &config.rope_scaling {
            None => RopeKind::Default,
            Some(scaling) => {
                let need = |value: Option<f64>, key: &str| {
                    value.ok_or_else(|| bad(&format!("rope_scaling.{key}"), "missing".to_string()))
                };
                match scaling.rope_type.as_str() {
                    "default" => RopeKind::Default,
                    "linear" => RopeKind::Linear {
                        factor: need(scaling.factor, "factor")?,
                    },
                    "llama3" => RopeKind::Llama3 {
                        factor: need(scaling.factor, "factor")?,
                        low_freq_factor: need(scaling.low_freq_factor, "low_freq_factor")?,
                        high_freq_factor: need(scaling.high_freq_factor, "high_freq_factor")?,
                        original_max_position_embeddings: scaling
                            .original_max_position_embeddings
                            .ok_or_else(|| {
                                bad(
                                    "rope_scaling.original_max_position_embeddings",
                                    "missing".to_string(),
                                )
                            })?,
                    },
                    other => {
                        return Err(bad(
                            "rope_scaling.rope_type",
                            format!("`{other}` is not supported (default, linear, llama3)"),
                        ))
                    }
                }
            }
        };
        Ok(Config {
            architecture,
            hidden_size: config.hidden_size,
            intermediate_size: config.intermediate_size,
            num_layers: config.num_hidden_layers,
            num_heads: config.num_attention_heads,
            num_kv_heads: config.num_key_value_heads,
            head_dim: config.head_dim(),
            vocab_size: config.vocab_size,
            rms_norm_eps: config.rms_norm_eps,
            rope_theta: config.rope_theta,
            rope,
            max_position_embeddings: config.max_position_embeddings,
            qkv_bias: architecture.qkv_bias(config),
            o_bias: architecture.o_bias(config),
            mlp_bias: config.mlp_bias,
            tie_word_embeddings: config.tie_word_embeddings,
            activation,
            attention_scale,
            final_softcap,
            sliding_window,
            sliding_layers,
            local_rope_theta,
        })
    }

    /// What every RMSNorm adds to its stored weight: 1 for Gemma (which stores the scale's offset
    /// from one), else 0.
    pub fn norm_shift(&self) -> f32 {
        match self.architecture {
            Architecture::Gemma3 => 1.0,
            _ => 0.0,
        }
    }

    /// Whether layer `layer` attends through the sliding window.
    pub fn is_sliding(&self, layer: usize) -> bool {
        self.sliding_window.is_some() && self.sliding_layers.get(layer).copied().unwrap_or(false)
    }

    /// Width of the query projection (`num_heads * head_dim`).
    pub fn q_width(&self) -> usize {
        self.num_heads * self.head_dim
    }

    /// Width of the key (and of the value) projection.
    pub fn kv_width(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Rotary inverse frequencies of the sliding-window layers, when they have their own base
    /// (Gemma 3; unscaled).
    pub fn local_inv_freq(&self) -> Option<Vec<f32>> {
        self.local_rope_theta
            .map(|theta| default_inv_freq(theta, self.head_dim))
    }

    /// Rotary inverse frequencies (radians per position), one per pair of head dimensions,
    /// computed in `f32` as transformers does.
    pub fn inv_freq(&self) -> Vec<f32> {
        let default = default_inv_freq(self.rope_theta, self.head_dim);
        match self.rope {
            RopeKind::Default => default,
            RopeKind::Linear { factor } => default.iter().map(|f| f / factor as f32).collect(),
            RopeKind::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                let old = original_max_position_embeddings as f64;
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                default
                    .iter()
                    .map(|&f| {
                        let f = f64::from(f);
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        let scaled = if wavelen > low_wavelen { f / factor } else { f };
                        let medium = wavelen >= high_wavelen && wavelen <= low_wavelen;
                        let out = if medium {
                            let smooth = (old / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * scaled / factor + smooth * scaled
                        } else {
                            scaled
                        };
                        out as f32
                    })
                    .collect()
            }
        }
    }

    /// The config as a checkpoint `config.json` would state it (for tiny random test models).
    pub fn to_model_config(&self) -> ModelConfig {
        let (architectures, model_type) = self.architecture.hf_names();
        let mut extra = serde_json::Map::new();
        let gemma = self.architecture == Architecture::Gemma3;
        if gemma {
            extra.insert("hidden_activation".into(), "gelu_pytorch_tanh".into());
            let scalar = self.attention_scale.powi(-2).round();
            extra.insert("query_pre_attn_scalar".into(), scalar.into());
            extra.insert("final_logit_softcapping".into(), self.final_softcap.into());
            extra.insert("rope_local_base_freq".into(), self.local_rope_theta.into());
            let types: Vec<&str> = (0..self.num_layers)
                .map(|l| match self.is_sliding(l) {
                    true => "sliding_attention",
                    false => "full_attention",
                })
                .collect();
            extra.insert("layer_types".into(), types.into());
        }
        if gemma || self.architecture == Architecture::Mistral {
            extra.insert("sliding_window".into(), self.sliding_window.into());
        }
        ModelConfig {
            architectures: vec![architectures.to_string()],
            model_type: model_type.to_string(),
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_hidden_layers: self.num_layers,
            num_attention_heads: self.num_heads,
            num_key_value_heads: self.num_kv_heads,
            head_dim: Some(self.head_dim),
            max_position_embeddings: self.max_position_embeddings,
            rms_norm_eps: self.rms_norm_eps,
            rope_theta: self.rope_theta,
            rope_scaling: None,
            vocab_size: self.vocab_size,
            bos_token_id: None,
            eos_token_id: None,
            pad_token_id: None,
            tie_word_embeddings: self.tie_word_embeddings,
            attention_bias: match self.architecture {
                Architecture::Qwen2 | Architecture::Mistral => false,
                _ => self.qkv_bias,
            },
            mlp_bias: self.mlp_bias,
            torch_dtype: Some("float32".to_string()),
            hidden_act: "silu".to_string(),
            extra,
        }
    }
}

/// transformers' default rotary inverse frequencies of base `theta` over heads of width `dim`,
/// in `f32`.
fn default_inv_freq(theta: f64, dim: usize) -> Vec<f32> {
    let base = theta as f32;
    (0..dim / 2)
        .map(|i| 1.0 / base.powf((2 * i) as f32 / dim as f32))
        .collect()
}

/// A config field this trainer cannot use, naming the file and the field.
fn config_error(path: &Path, field: &str, message: String) -> Error {
    Error::Checkpoint(checkpoint::Error::Config {
        path: path.to_path_buf(),
        field: field.to_string(),
        message,
    })
}

/// Which of a Gemma 3 config's layers are sliding-window layers: its `layer_types` when stated
/// (transformers 5.x), else every layer but each `sliding_window_pattern`-th (4.x; default 6).
fn gemma3_sliding_layers(config: &ModelConfig, path: &Path) -> Result<Vec<bool>> {
    let bad = |field: &str, message: String| config_error(path, field, message);
    let layers = config.num_hidden_layers;
    if let Some(types) = config.extra_field::<Vec<String>>("layer_types", path)? {
        if types.len() != layers {
            return Err(bad(
                "layer_types",
                format!("{} entries for {layers} layers", types.len()),
            ));
        }
        return types
            .iter()
            .map(|t| match t.as_str() {
                "sliding_attention" => Ok(true),
                "full_attention" => Ok(false),
                other => Err(bad(
                    "layer_types",
                    format!("`{other}` is not sliding_attention or full_attention"),
                )),
            })
            .collect();
    }
    let pattern = config
        .extra_field::<usize>("sliding_window_pattern", path)?
        .unwrap_or(6);
    if pattern == 0 {
        return Err(bad("sliding_window_pattern", "must be at least 1".into()));
    }
    Ok((0..layers).map(|l| (l + 1) % pattern != 0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::student::testing::tiny_config;

    #[test]
    fn llama3_rope_scaling_follows_transformers() {
        // Llama-3.2-1B: head 64, theta 500000, factor 32, low 1, high 4, original 8192.
        // Expected values: transformers' `_compute_llama3_parameters`, evaluated in Python.
        let cfg = Config {
            head_dim: 64,
            rope_theta: 500_000.0,
            rope: RopeKind::Llama3 {
                factor: 32.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192,
            },
            ..tiny_config()
        };
        let inv = cfg.inv_freq();
        let expected = [
            (0, 1.0),
            (10, 0.016_560_44),
            (14, 0.003_211_446),
            (15, 0.001_290_548),
            (16, 0.000_429_556_7),
            (17, 9.708_287e-5),
            (20, 8.570_256e-6),
            (31, 9.418_306e-8),
        ];
        for (i, value) in expected {
            assert!(
                ((inv[i] - value) / value).abs() < 1e-5,
                "inv_freq[{i}] = {}, transformers {value}",
                inv[i]
            );
        }
        let linear = Config {
            rope: RopeKind::Linear { factor: 4.0 },
            ..tiny_config()
        };
        assert_eq!(linear.inv_freq()[1], tiny_config().inv_freq()[1] / 4.0);
    }

    /// The Gemma 3 fixture's config (transformers 5.24's shape), normalised.
    fn gemma3_config() -> ModelConfig {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/architectures/gemma3");
        ModelConfig::read(&dir).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn gemma3_is_read_with_its_layer_types_and_local_rope() {
        let cfg = Config::from_model_config(&gemma3_config(), Path::new("config.json"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.sliding_layers, vec![true, true, false]);
        assert_eq!(cfg.sliding_window, Some(4));
        assert_eq!(cfg.local_rope_theta, Some(50.0));
        assert_eq!(cfg.rope_theta, 1000.0);
        assert_eq!(cfg.activation, Activation::GeluTanh);
        assert!((cfg.attention_scale - 8f64.powf(-0.5)).abs() < 1e-12);
        assert!(cfg.is_sliding(1) && !cfg.is_sliding(2));
        // Written back for a tiny test model, it reads the same.
        let back = Config::from_model_config(&cfg.to_model_config(), Path::new("c"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, cfg);
    }

    #[test]
    fn gemma3_attention_soft_capping_is_refused_naming_the_field() {
        let mut config = gemma3_config();
        config
            .extra
            .insert("attn_logit_softcapping".into(), 50.0.into());
        let err = Config::from_model_config(&config, Path::new("m/config.json"))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(
                |e| e.contains("m/config.json") && e.contains("`attn_logit_softcapping`")
            ),
            "{err:?}"
        );
        let mut config = gemma3_config();
        config
            .extra
            .insert("layer_types".into(), serde_json::json!(["full_attention"]));
        let err = Config::from_model_config(&config, Path::new("c"))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("`layer_types`") && e.contains("1 entries for 3")),
            "{err:?}"
        );
    }
}
