//! How r2l chooses a token when it, not mistral.rs, does — a seeded draw, a request for
//! log-probabilities, or any sampling control ([`Controls`]): the request's bias and penalties
//! on the model's logits, then the likeliest token or a seeded draw. As a logits processor it
//! hands mistral.rs (set to greedy) logits where only the chosen token is finite, so every path
//! that serves a request — streamed or not, batched with others or not, its prompt from the
//! prefix cache or not — generates the same tokens.

use std::sync::OnceLock;

use candle_core::{Result, Tensor};
use mistralrs::CustomLogitsProcessor;

use super::controls::Controls;
use super::logprobs::top_k;
use super::seeded::{force_token, SeededSampler};

/// How a token is picked from the (adjusted) logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Choice {
    /// The likeliest token (the lowest id among ties).
    Greedy,
    /// A seeded draw.
    Sampled(SeededSampler),
}

impl Choice {
    /// Greedy without a temperature (None or 0); otherwise a draw with `seed` at `temperature`
    /// from the `top_p` mass, with the controls' `top_k` and `min_p`.
    pub fn of(
        temperature: Option<f64>,
        top_p: Option<f64>,
        seed: u64,
        controls: &Controls,
    ) -> Choice {
        match temperature.filter(|t| *t > 0.0) {
            None => Choice::Greedy,
            Some(temperature) => Choice::Sampled(SeededSampler {
                seed,
                temperature,
                top_p: top_p.unwrap_or(1.0),
                top_k: controls.top_k,
                min_p: controls.min_p,
            }),
        }
    }

    /// The token picked from `logits` at `position` (None when no logit is finite).
    pub fn pick(&self, logits: &[f32], position: usize) -> Option<usize> {
        match self {
            Choice::Greedy => top_k(logits, 1).first().map(|&(id, _)| id as usize),
            Choice::Sampled(sampler) => sampler.choose(logits, position),
        }
    }
}

/// Chooses every token of one sequence.
#[derive(Debug)]
pub struct Chooser {
    choice: Choice,
    controls: Controls,
    /// Tokens in the prompt: the context of the first call (mistral.rs hands a processor the
    /// whole sequence, prompt then answer, also when the prompt came from the prefix cache).
    prompt_len: OnceLock<usize>,
}

impl Chooser {
    /// A chooser for a new sequence.
    pub fn new(choice: Choice, controls: Controls) -> Chooser {
        Chooser {
            choice,
            controls,
            prompt_len: OnceLock::new(),
        }
    }

    /// The token chosen from the model's `logits` for the position after `context` (the
    /// prompt, then the answer so far): the bias and penalties applied, then picked (None when
    /// no logit is finite).
    pub fn choose(&self, logits: &[f32], context: &[u32]) -> Option<usize> {
        let prompt_len = *self.prompt_len.get_or_init(|| context.len());
        let position = context.len();
        if !self.controls.adjusts_logits() {
            return self.choice.pick(logits, position);
        }
        let mut adjusted = logits.to_vec();
        self.controls.adjust(&mut adjusted, context, prompt_len);
        self.choice.pick(&adjusted, position)
    }
}

impl CustomLogitsProcessor for Chooser {
    fn apply(&self, logits: &Tensor, context: &[u32]) -> Result<Tensor> {
        force_token(logits, |values| self.choose(values, context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn sampled(seed: u64) -> Choice {
        Choice::of(Some(1.0), None, seed, &Controls::default())
    }

    #[test]
    fn without_controls_it_picks_as_the_choice_does() {
        let logits = [0.3f32, 0.1, 0.9, -0.2];
        let chooser = Chooser::new(sampled(9), Controls::default());
        for length in 1..20 {
            let context = vec![1; length];
            assert_eq!(
                chooser.choose(&logits, &context),
                sampled(9).pick(&logits, length)
            );
        }
        let greedy = Chooser::new(Choice::Greedy, Controls::default());
        assert_eq!(greedy.choose(&logits, &[0]), Some(2));
        assert_eq!(
            Choice::of(Some(0.0), Some(0.5), 1, &Controls::default()),
            Choice::Greedy,
            "temperature 0 is greedy"
        );
    }

    #[test]
    fn the_bias_and_penalties_change_the_choice() {
        let logits = [1.0f32, 2.0, 0.0];
        let banned = Controls {
            logit_bias: vec![(1, -100.0)],
            ..Default::default()
        };
        let chooser = Chooser::new(Choice::Greedy, banned);
        assert_eq!(chooser.choose(&logits, &[2]), Some(0));
        // The presence penalty counts the answer only: token 1 in the prompt is not penalised,
        // once generated it is.
        let penalised = Controls {
            presence_penalty: 1.5,
            ..Default::default()
        };
        let chooser = Chooser::new(Choice::Greedy, penalised);
        assert_eq!(chooser.choose(&logits, &[1, 1]), Some(1), "the prompt");
        assert_eq!(
            chooser.choose(&logits, &[1, 1, 1]),
            Some(0),
            "answered once"
        );
    }

    #[test]
    fn the_processor_leaves_one_finite_logit() {
        let logits =
            Tensor::new(&[0.3f32, 1.2, -0.4], &Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
        let out: Vec<f32> = Chooser::new(sampled(5), Controls::default())
            .apply(&logits, &[1, 2, 3])
            .and_then(|t| t.to_vec1())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.iter().filter(|v| v.is_finite()).count(), 1);
    }
}
