//! Log-probabilities of chosen tokens, taken from the model's raw distribution (before
//! `logit_bias`, the penalties, temperature, top-k, min-p and top-p, as vLLM's default
//! `raw_logprobs`), by a logits processor that also chooses the token with a [`Chooser`]:
//! greedily or by a seeded draw, the request's controls applied. mistral.rs then sees one finite
//! logit and takes it, so the recorded token is the one generated.

use std::sync::{Arc, Mutex};

use candle_core::{Result, Tensor};
use mistralrs::CustomLogitsProcessor;

use super::chooser::Chooser;
use super::seeded::{force_token, max_finite};

/// Most alternatives a request may ask for per position (OpenAI's cap).
pub const MAX_TOP_LOGPROBS: usize = 20;

/// A token chosen at one position.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    /// Its id.
    pub id: u32,
    /// Its log-probability under the model.
    pub logprob: f32,
    /// The likeliest tokens at the position, likeliest first (ties by id).
    pub top: Vec<(u32, f32)>,
}

/// `log p` of every entry of `logits` (non-finite logits get −∞).
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let Some(max) = max_finite(logits) else {
        return vec![f32::NEG_INFINITY; logits.len()];
    };
    let sum: f64 = logits
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v - max).exp())
        .sum();
    let lse = max + sum.ln() as f32;
    logits
        .iter()
        .map(|&v| {
            if v.is_finite() {
                v - lse
            } else {
                f32::NEG_INFINITY
            }
        })
        .collect()
}

/// The `k` likeliest entries of `logprobs`, likeliest first, ties by id.
pub fn top_k(logprobs: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut order: Vec<(u32, f32)> = logprobs
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(id, &v)| (id as u32, v))
        .collect();
    let k = k.min(order.len());
    if k == 0 {
        return Vec::new();
    }
    let by_rank = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    order.select_nth_unstable_by(k - 1, by_rank);
    order.truncate(k);
    order.sort_by(by_rank);
    order
}

/// Chooses each token itself and records it with its log-probability and `top` alternatives.
#[derive(Debug)]
pub struct Recorder {
    chooser: Chooser,
    top: usize,
    chosen: Arc<Mutex<Vec<Chosen>>>,
}

impl Recorder {
    /// A recorder and the list it fills, one entry per generated token.
    pub fn new(chooser: Chooser, top: usize) -> (Recorder, Arc<Mutex<Vec<Chosen>>>) {
        let chosen = Arc::new(Mutex::new(Vec::new()));
        let recorder = Recorder {
            chooser,
            top: top.min(MAX_TOP_LOGPROBS),
            chosen: chosen.clone(),
        };
        (recorder, chosen)
    }

    /// The token chosen from the model's `logits` after `context` (prompt, then the answer so
    /// far), recorded with its raw log-probability (None when no logit is finite).
    pub fn choose(&self, logits: &[f32], context: &[u32]) -> Option<usize> {
        let token = self.chooser.choose(logits, context)?;
        let logprobs = log_softmax(logits);
        let entry = Chosen {
            id: token as u32,
            logprob: logprobs[token],
            top: top_k(&logprobs, self.top),
        };
        if let Ok(mut chosen) = self.chosen.lock() {
            chosen.push(entry);
        }
        Some(token)
    }
}

impl CustomLogitsProcessor for Recorder {
    fn apply(&self, logits: &Tensor, context: &[u32]) -> Result<Tensor> {
        force_token(logits, |values| self.choose(values, context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::chooser::Choice;
    use crate::engine::controls::Controls;
    use crate::engine::seeded::SeededSampler;

    #[test]
    fn log_softmax_matches_the_hand_computation() {
        // logits ln 1, ln 3: probabilities 1/4 and 3/4.
        let lp = log_softmax(&[0.0, 3f32.ln(), f32::NEG_INFINITY]);
        assert!((lp[0] - 0.25f32.ln()).abs() < 1e-6);
        assert!((lp[1] - 0.75f32.ln()).abs() < 1e-6);
        assert_eq!(lp[2], f32::NEG_INFINITY);
    }

    #[test]
    fn top_k_is_ordered_with_ties_by_id() {
        let lp = [-1.0, -0.5, -1.0, -3.0, f32::NEG_INFINITY];
        assert_eq!(top_k(&lp, 3), vec![(1, -0.5), (0, -1.0), (2, -1.0)]);
        assert_eq!(
            top_k(&lp, 9).len(),
            4,
            "non-finite entries are never listed"
        );
        assert!(top_k(&lp, 0).is_empty());
    }

    #[test]
    fn a_greedy_recorder_takes_the_top_token_and_records_it() {
        let (recorder, chosen) = Recorder::new(Chooser::new(Choice::Greedy, no_controls()), 2);
        assert_eq!(recorder.choose(&[0.1, 2.0, 1.0], &[0]), Some(1));
        let chosen = chosen.lock().map(|c| c.clone()).unwrap_or_default();
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].id, 1);
        assert_eq!(chosen[0].top[0].0, 1);
        assert_eq!(chosen[0].logprob, chosen[0].top[0].1);
        assert_eq!(chosen[0].top[1].0, 2);
    }

    #[test]
    fn a_sampled_recorder_draws_what_the_seeded_sampler_draws() {
        let sampler = SeededSampler {
            seed: 9,
            temperature: 0.7,
            top_p: 0.9,
            top_k: 0,
            min_p: 0.0,
        };
        let chooser = Chooser::new(Choice::Sampled(sampler), no_controls());
        let (recorder, chosen) = Recorder::new(chooser, 0);
        let logits = [0.3f32, 0.1, 0.9, -0.2];
        for length in 1..10 {
            assert_eq!(
                recorder.choose(&logits, &vec![0; length]),
                sampler.choose(&logits, length)
            );
        }
        let chosen = chosen.lock().map(|c| c.clone()).unwrap_or_default();
        let lp = log_softmax(&logits);
        assert!(chosen
            .iter()
            .all(|c| c.top.is_empty() && c.logprob == lp[c.id as usize]));
    }

    #[test]
    fn a_biased_choice_is_recorded_with_its_raw_log_probability() {
        let biased = Controls {
            logit_bias: vec![(0, 100.0)],
            ..no_controls()
        };
        let (recorder, chosen) = Recorder::new(Chooser::new(Choice::Greedy, biased), 1);
        let logits = [0.1f32, 2.0, 1.0];
        assert_eq!(recorder.choose(&logits, &[2]), Some(0), "the bias wins");
        let chosen = chosen.lock().map(|c| c.clone()).unwrap_or_default();
        let lp = log_softmax(&logits);
        assert_eq!(chosen[0].logprob, lp[0], "the model's, not the biased");
        assert_eq!(chosen[0].top, vec![(1, lp[1])], "the model's likeliest");
    }

    fn no_controls() -> Controls {
        Controls::default()
    }
}
