//! Tiny random models: configs and seeded weights for tests of the trainer's mathematics
//! (gradients, DPO, resume) that must run in well under a second.

use std::collections::HashMap;

use candle_core::{Result, Tensor};
use checkpoint::Architecture;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::{Activation, Config, RopeKind};
use super::tensor::tensor;

/// A two-block model: hidden 16, MLP 24, 4 query heads over 2 key/value heads of width 4,
/// vocabulary 40, untied head. Each family gets what sets it apart: Qwen2 its query/key/value
/// biases, Qwen3 its query/key norms, Mistral a 3-token sliding window, Gemma 3 all of its
/// features (window on the first block only, its own RoPE base there, GELU, soft-capped logits,
/// an attention scale from `query_pre_attn_scalar`).
pub fn tiny_config(architecture: Architecture) -> Config {
    let gemma = architecture == Architecture::Gemma3;
    let window = match architecture {
        Architecture::Mistral | Architecture::Gemma3 => Some(3),
        _ => None,
    };
    Config {
        architecture,
        hidden_size: 16,
        intermediate_size: 24,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 4,
        vocab_size: 40,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        rope: RopeKind::Default,
        max_position_embeddings: 64,
        qkv_bias: architecture == Architecture::Qwen2,
        o_bias: false,
        mlp_bias: false,
        tie_word_embeddings: false,
        activation: if gemma {
            Activation::GeluTanh
        } else {
            Activation::Silu
        },
        attention_scale: if gemma { 1.0 / 3.0 } else { 0.5 },
        final_softcap: gemma.then_some(3.0),
        sliding_window: window,
        sliding_layers: match architecture {
            Architecture::Gemma3 => vec![true, false],
            _ => vec![window.is_some(); 2],
        },
        local_rope_theta: gemma.then_some(100.0),
    }
}

/// Weights for `cfg` under their Hugging Face names: uniform in `[-scale, scale]`, norm scales
/// around 1.
pub fn random_weights(cfg: &Config, seed: u64, scale: f32) -> Result<HashMap<String, Tensor>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |shape: &[usize], centre: f32| -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| centre + rng.random_range(-scale..scale))
            .collect();
        tensor(values, shape)
    };
    let (h, i, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
    // Norm scales around 1: Gemma stores the scale's offset from 1.
    let norm = match cfg.architecture {
        Architecture::Gemma3 => 0.0,
        _ => 1.0,
    };
    let (qw, kw) = (cfg.q_width(), cfg.kv_width());
    let mut out = HashMap::new();
    out.insert("model.embed_tokens.weight".into(), draw(&[v, h], 0.0)?);
    for l in 0..cfg.num_layers {
        let p = format!("model.layers.{l}");
        out.insert(format!("{p}.input_layernorm.weight"), draw(&[h], norm)?);
        let mut norms = vec![("post_attention_layernorm", h)];
        if cfg.architecture.qk_norm() {
            norms.extend([
                ("self_attn.q_norm", cfg.head_dim),
                ("self_attn.k_norm", cfg.head_dim),
            ]);
        }
        if cfg.architecture == Architecture::Gemma3 {
            norms.extend([
                ("pre_feedforward_layernorm", h),
                ("post_feedforward_layernorm", h),
            ]);
        }
        for (name, width) in norms {
            out.insert(format!("{p}.{name}.weight"), draw(&[width], norm)?);
        }
        for (name, rows, cols) in [
            ("self_attn.q_proj", qw, h),
            ("self_attn.k_proj", kw, h),
            ("self_attn.v_proj", kw, h),
            ("self_attn.o_proj", h, qw),
            ("mlp.gate_proj", i, h),
            ("mlp.up_proj", i, h),
            ("mlp.down_proj", h, i),
        ] {
            out.insert(format!("{p}.{name}.weight"), draw(&[rows, cols], 0.0)?);
            let biased = match name {
                "self_attn.q_proj" | "self_attn.k_proj" | "self_attn.v_proj" => cfg.qkv_bias,
                "self_attn.o_proj" => cfg.o_bias,
                _ => cfg.mlp_bias,
            };
            if biased {
                out.insert(format!("{p}.{name}.bias"), draw(&[rows], 0.0)?);
            }
        }
    }
    out.insert("model.norm.weight".into(), draw(&[h], norm)?);
    if !cfg.tie_word_embeddings {
        out.insert("lm_head.weight".into(), draw(&[v, h], 0.0)?);
    }
    Ok(out)
}
