//! Per-request seeded sampling. mistral.rs 0.8.1 has no per-request seed: one engine-wide RNG
//! (seeded once at start) serves every sequence, so a sampled answer depends on whatever ran
//! before it. When a request carries a `seed`, r2l samples the token itself in a logits
//! processor ([`super::chooser::Chooser`]) — temperature, then top-k, min-p and top-p, then one
//! uniform draw from a ChaCha8 stream keyed by the seed and the position — and hands mistral.rs
//! logits where only that token is finite, with mistral.rs set to greedy. The same request with
//! the same seed then gives the same text, whatever else the engine is doing.

use candle_core::{Device, Result, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Samples one token per step from `softmax(logits / temperature)` restricted to the `top_k`
/// likeliest tokens, to those at least `min_p` times as likely as the likeliest, and to the
/// top-p mass of what is left (vLLM's order; top-k and min-p commute).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeededSampler {
    /// The request's seed.
    pub seed: u64,
    /// Sampling temperature (> 0).
    pub temperature: f64,
    /// Nucleus mass in (0, 1].
    pub top_p: f64,
    /// Tokens kept, likeliest first (0 = all).
    pub top_k: usize,
    /// Smallest probability kept, as a fraction of the likeliest token's, 0–1 (0 = all).
    pub min_p: f64,
}

impl SeededSampler {
    /// The token drawn at `position` from `logits` (None when no logit is finite).
    pub fn choose(&self, logits: &[f32], position: usize) -> Option<usize> {
        let temperature = self.temperature.max(1e-6);
        let max = max_finite(logits)?;
        let mut weighted: Vec<(usize, f64)> = logits
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(token, &v)| (token, ((f64::from(v) - f64::from(max)) / temperature).exp()))
            .filter(|(_, w)| *w > 0.0)
            .collect();
        // Highest probability first; ties by token id, so the order never depends on the sort.
        weighted.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if self.top_k > 0 {
            weighted.truncate(self.top_k);
        }
        if self.min_p > 0.0 {
            // The likeliest token's weight is 1 (its logit is the maximum).
            weighted.retain(|(_, weight)| *weight >= self.min_p);
        }
        let total: f64 = weighted.iter().map(|(_, w)| w).sum();
        let mut kept = 0.0;
        let mut cut = weighted.len();
        for (index, (_, weight)) in weighted.iter().enumerate() {
            kept += weight;
            if kept >= self.top_p * total {
                cut = index + 1;
                break;
            }
        }
        weighted.truncate(cut);
        let kept_mass: f64 = weighted.iter().map(|(_, w)| w).sum();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(position as u64);
        let mut draw = rng.random::<f64>() * kept_mass;
        for (token, weight) in &weighted {
            if draw < *weight {
                return Some(*token);
            }
            draw -= weight;
        }
        weighted.last().map(|(token, _)| *token)
    }
}

/// The largest finite logit (None when none is finite).
pub(crate) fn max_finite(logits: &[f32]) -> Option<f32> {
    let max = logits
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f32::NEG_INFINITY, f32::max);
    max.is_finite().then_some(max)
}

/// What a choosing logits processor hands mistral.rs (set to greedy): logits where only the
/// token `choose` picks from the row is finite, so mistral.rs takes it; the logits unchanged
/// when nothing is picked.
pub(crate) fn force_token(
    logits: &Tensor,
    choose: impl FnOnce(&[f32]) -> Option<usize>,
) -> Result<Tensor> {
    let values: Vec<f32> = logits.to_dtype(candle_core::DType::F32)?.to_vec1()?;
    let Some(token) = choose(&values) else {
        return Ok(logits.clone());
    };
    let mut only = vec![f32::NEG_INFINITY; values.len()];
    only[token] = 0.0;
    Tensor::from_vec(only, values.len(), &Device::Cpu)?.to_device(logits.device())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(seed: u64, top_p: f64) -> SeededSampler {
        SeededSampler {
            seed,
            temperature: 1.0,
            top_p,
            top_k: 0,
            min_p: 0.0,
        }
    }

    #[test]
    fn the_same_seed_and_position_draw_the_same_token() {
        let logits = [0.1f32, 0.5, 0.2, 0.9, -1.0];
        for position in 0..20 {
            assert_eq!(
                sampler(7, 1.0).choose(&logits, position),
                sampler(7, 1.0).choose(&logits, position)
            );
        }
        let draws = |seed| -> Vec<_> {
            (0..40)
                .map(|p| sampler(seed, 1.0).choose(&logits, p))
                .collect()
        };
        assert_ne!(draws(1), draws(2));
    }

    #[test]
    fn draws_follow_the_distribution() {
        // logits ln(1), ln(3): the second token has probability 3/4.
        let logits = [0.0f32, 3f32.ln()];
        let second = (0..4000)
            .filter(|&p| sampler(11, 1.0).choose(&logits, p) == Some(1))
            .count();
        assert!((2850..3150).contains(&second), "{second} of 4000");
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        let logits = [5.0f32, 0.0, 0.0, f32::NEG_INFINITY];
        for position in 0..200 {
            assert_eq!(sampler(3, 0.5).choose(&logits, position), Some(0));
        }
        assert_eq!(
            sampler(3, 1.0).choose(&[f32::NEG_INFINITY; 3], 0),
            None,
            "nothing finite, nothing chosen"
        );
    }

    #[test]
    fn top_k_and_min_p_keep_only_the_likeliest() {
        let logits = [1.0f32, 3.0, 2.0, 2.9];
        let only = |top_k, min_p| SeededSampler {
            top_k,
            min_p,
            ..sampler(5, 1.0)
        };
        for position in 0..200 {
            assert_eq!(only(1, 0.0).choose(&logits, position), Some(1), "top_k 1");
            assert_eq!(only(0, 1.0).choose(&logits, position), Some(1), "min_p 1");
            let two = only(2, 0.0).choose(&logits, position);
            assert!(matches!(two, Some(1 | 3)), "top_k 2 drew {two:?}");
            // exp(2 - 3) = 0.37 of the likeliest: kept at min_p 0.3, not at 0.5.
            let third = only(0, 0.5).choose(&logits, position);
            assert!(matches!(third, Some(1 | 3)), "min_p 0.5 drew {third:?}");
        }
        let drawn: std::collections::BTreeSet<_> = (0..400)
            .filter_map(|p| only(0, 0.3).choose(&logits, p))
            .collect();
        assert_eq!(drawn, [1, 2, 3].into(), "min_p 0.3 keeps three tokens");
    }

    #[test]
    fn a_top_k_of_every_token_changes_no_draw() {
        // Keeping every token draws as before the filters existed (seeded answers stay the same).
        let logits = [0.1f32, 0.5, 0.2, 0.9, -1.0];
        for position in 0..50 {
            let filtered = SeededSampler {
                top_k: logits.len(),
                min_p: 0.0,
                ..sampler(3, 0.8)
            };
            assert_eq!(
                filtered.choose(&logits, position),
                sampler(3, 0.8).choose(&logits, position)
            );
        }
    }
}
