//! The SFT objective: mean negative log-likelihood of the learnt tokens of an optimizer step
//! (summed over its micro-batches, divided by their learnt tokens, as one big batch would be).

use candle_core::Result;
use serde_json::Value;

use super::batch::Packed;
use super::examples::{load_sft, DataSummary};
use super::export::Base;
use super::grads::Grads;
use super::linear::Pass;
use super::model::{token_logprobs, Llama};
use super::objective::{Objective, StepStats};
use super::options::TrainOptions;
use super::tokenize::Sequence;

/// SFT over tokenized sequences.
#[derive(Debug, Clone, PartialEq)]
pub struct SftObjective {
    /// The examples.
    pub sequences: Vec<Sequence>,
}

impl SftObjective {
    /// Reads and tokenizes `options.data` for `base`.
    pub fn load(options: &TrainOptions, base: &Base) -> crate::Result<SftObjective> {
        Ok(SftObjective {
            sequences: load_sft(options, base)?,
        })
    }
}

impl Objective for SftObjective {
    fn examples(&self) -> usize {
        self.sequences.len()
    }

    fn summary(&self) -> Value {
        serde_json::to_value(DataSummary::of_sequences(&self.sequences)).unwrap_or_default()
    }

    fn step(
        &self,
        model: &Llama,
        picked: &[Vec<usize>],
        grads: &mut Grads,
        seed: u64,
    ) -> crate::Result<StepStats> {
        let micro: Vec<Packed> = picked
            .iter()
            .map(|ids| Packed::new(ids.iter().map(|&i| &self.sequences[i])))
            .collect();
        let s = sft_step(model, &micro, grads, seed)?;
        Ok(StepStats::new(s.loss, s.tokens, Value::Null))
    }
}

/// What one step's micro-batches gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SftStep {
    /// Mean negative log-likelihood per learnt token (nats).
    pub loss: f64,
    /// Tokens processed (rows of every micro-batch).
    pub tokens: usize,
    /// Learnt tokens.
    pub targets: usize,
}

/// Runs forward and backward over `micro` (one optimizer step), accumulating the gradient of
/// the step's mean loss into `grads`. `seed` seeds the step's adapter dropout.
pub fn sft_step(model: &Llama, micro: &[Packed], grads: &mut Grads, seed: u64) -> Result<SftStep> {
    let targets: usize = micro.iter().map(|p| p.targets.len()).sum();
    let tokens: usize = micro.iter().map(Packed::tokens).sum();
    if targets == 0 {
        candle_core::bail!("an SFT step without learnt tokens");
    }
    let coef = -1.0 / targets as f32;
    let mut loss = 0f64;
    for (i, packed) in micro.iter().enumerate() {
        let pass = Pass {
            train: true,
            seed: seed.wrapping_mul(0x0100_0000_01b3).wrapping_add(i as u64),
        };
        let (rows, acts) = model.forward_rows(packed, pass)?;
        let coefs = vec![coef; packed.targets.len()];
        let logprobs = model.backward_through_head(acts, packed, rows, &coefs, grads)?;
        loss -= logprobs.iter().map(|&l| f64::from(l)).sum::<f64>() / targets as f64;
    }
    Ok(SftStep {
        loss,
        tokens,
        targets,
    })
}

/// The mean negative log-likelihood of the learnt tokens of `batches` (no dropout, no
/// gradient).
pub fn sft_loss(model: &Llama, batches: &[Packed]) -> Result<f64> {
    let mut total = 0f64;
    let mut count = 0usize;
    for packed in batches {
        let logprobs = token_logprobs(model, packed)?;
        total -= logprobs.iter().map(|&l| f64::from(l)).sum::<f64>();
        count += logprobs.len();
    }
    Ok(total / count.max(1) as f64)
}
