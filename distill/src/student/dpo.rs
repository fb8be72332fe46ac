//! Direct preference optimisation with TRL's sigmoid loss: for a pair with policy
//! log-probabilities `πc`, `πr` of the chosen and rejected completions and the reference
//! model's `ρc`, `ρr`, `z = β((πc − ρc) − (πr − ρr))` and the loss is `−log σ(z)`, averaged
//! over the step's pairs. The reference is the starting model; its log-probabilities are
//! computed once, before training.

use candle_core::Result;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::batch::Packed;
use super::examples::{load_dpo, DataSummary};
use super::export::Base;
use super::grads::Grads;
use super::linear::Pass;
use super::model::{token_logprobs, Llama};
use super::objective::{Objective, StepStats};
use super::options::TrainOptions;
use super::tokenize::Pair;
use crate::error::{io_error, Error};

/// The DPO reference log-probabilities, cached beside the output.
pub const REFERENCE_FILE: &str = "reference_logps.json";

/// DPO over tokenized pairs, against the starting model's log-probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct DpoObjective {
    /// The examples.
    pub pairs: Vec<Pair>,
    /// TRL's `beta`.
    pub beta: f64,
    /// The reference log-probabilities of every pair ([`Objective::prepare`] fills them).
    pub references: Vec<PairRef>,
}

impl DpoObjective {
    /// Reads and tokenizes `options.data` for `base`.
    pub fn load(
        options: &TrainOptions,
        base: &Base,
        beta: f64,
        max_prompt_length: usize,
    ) -> crate::Result<DpoObjective> {
        Ok(DpoObjective {
            pairs: load_dpo(options, base, max_prompt_length)?,
            beta,
            references: Vec::new(),
        })
    }
}

impl Objective for DpoObjective {
    fn examples(&self) -> usize {
        self.pairs.len()
    }

    fn summary(&self) -> Value {
        serde_json::to_value(DataSummary::of_pairs(&self.pairs)).unwrap_or_default()
    }

    fn prepare(
        &mut self,
        model: &Llama,
        options: &TrainOptions,
        fingerprint: &Value,
    ) -> crate::Result<()> {
        self.references = reference_logprobs(model, &self.pairs, options, fingerprint)?;
        Ok(())
    }

    fn step(
        &self,
        model: &Llama,
        picked: &[Vec<usize>],
        grads: &mut Grads,
        seed: u64,
    ) -> crate::Result<StepStats> {
        if self.references.len() != self.pairs.len() {
            return Err(Error::Fatal(
                "a DPO step before the reference log-probabilities".to_string(),
            ));
        }
        let micro: Vec<(Packed, Vec<PairRef>)> = picked
            .iter()
            .map(|ids| {
                let chosen: Vec<_> = ids.iter().map(|&i| &self.pairs[i]).collect();
                (
                    pack_pairs(&chosen),
                    ids.iter().map(|&i| self.references[i]).collect(),
                )
            })
            .collect();
        let s = dpo_step(model, &micro, self.beta, grads, seed)?;
        let extra = json!({
            "rewards_chosen": s.rewards_chosen, "rewards_rejected": s.rewards_rejected,
            "margin": s.margin, "accuracy": s.accuracy,
        });
        Ok(StepStats::new(s.loss, s.tokens, extra))
    }
}

/// The reference log-probabilities of every pair under the starting model: read from
/// `out/reference_logps.json` when a previous session of this run computed them, else
/// computed now (batch by batch, without dropout) and written there.
fn reference_logprobs(
    model: &Llama,
    pairs: &[Pair],
    options: &TrainOptions,
    fingerprint: &Value,
) -> crate::Result<Vec<PairRef>> {
    let path = options.out.join(REFERENCE_FILE);
    if path.is_file() {
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        let saved: Value = serde_json::from_str(&text).map_err(|e| Error::Resume {
            dir: options.out.clone(),
            message: format!("{REFERENCE_FILE}: {e}"),
        })?;
        if saved.get("fingerprint") == Some(fingerprint) {
            let refs: Vec<PairRef> =
                serde_json::from_value(saved["pairs"].clone()).map_err(|e| Error::Resume {
                    dir: options.out.clone(),
                    message: format!("{REFERENCE_FILE}: {e}"),
                })?;
            if refs.len() == pairs.len() {
                return Ok(refs);
            }
        }
    }
    let mut refs = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(options.batch) {
        let chosen: Vec<_> = chunk.iter().collect();
        let logps = sequence_logprobs(model, &pack_pairs(&chosen))?;
        refs.extend(logps.chunks(2).map(|c| PairRef {
            chosen: c[0],
            rejected: c[1],
        }));
    }
    checkpoint::write_json(&path, &json!({"fingerprint": fingerprint, "pairs": refs}))?;
    Ok(refs)
}

/// The reference model's log-probabilities of a pair's completions (nats).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairRef {
    /// `log p_ref(chosen | prompt)`.
    pub chosen: f64,
    /// `log p_ref(rejected | prompt)`.
    pub rejected: f64,
}

/// What one DPO step gave (means over its pairs).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DpoStep {
    /// Mean `−log σ(z)`.
    pub loss: f64,
    /// Mean `β (πc − ρc)`.
    pub rewards_chosen: f64,
    /// Mean `β (πr − ρr)`.
    pub rewards_rejected: f64,
    /// Mean of chosen minus rejected reward.
    pub margin: f64,
    /// Share of pairs whose chosen reward beats the rejected one.
    pub accuracy: f64,
    /// Tokens processed.
    pub tokens: usize,
}

/// `log σ(z)`, stable for large `|z|`.
pub fn log_sigmoid(z: f64) -> f64 {
    -(z.max(0.0) - z + (-z.abs()).exp().ln_1p())
}

/// `σ(z)`.
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The packed micro-batch of `pairs`: sequence `2k` is pair `k`'s chosen completion, `2k + 1`
/// its rejected one.
pub fn pack_pairs(pairs: &[&Pair]) -> Packed {
    let sequences: Vec<_> = pairs
        .iter()
        .flat_map(|p| [p.sequence(true), p.sequence(false)])
        .collect();
    Packed::new(&sequences)
}

/// Per sequence of `packed`, the sum of the learnt tokens' log-probabilities under `model`
/// (no dropout, no gradient).
pub fn sequence_logprobs(model: &Llama, packed: &Packed) -> Result<Vec<f64>> {
    Ok(sum_by_sequence(&token_logprobs(model, packed)?, packed))
}

fn sum_by_sequence(logprobs: &[f32], packed: &Packed) -> Vec<f64> {
    let mut sums = vec![0f64; packed.spans.len()];
    for (&lp, &s) in logprobs.iter().zip(&packed.target_sequence) {
        sums[s] += f64::from(lp);
    }
    sums
}

/// Runs forward and backward over `micro` (one optimizer step: packed pairs and their
/// references), accumulating the gradient of the step's mean loss into `grads`.
pub fn dpo_step(
    model: &Llama,
    micro: &[(Packed, Vec<PairRef>)],
    beta: f64,
    grads: &mut Grads,
    seed: u64,
) -> Result<DpoStep> {
    let pairs: usize = micro.iter().map(|(_, refs)| refs.len()).sum();
    if pairs == 0 {
        candle_core::bail!("a DPO step without pairs");
    }
    let mut stats = DpoStep::default();
    for (i, (packed, refs)) in micro.iter().enumerate() {
        if packed.spans.len() != 2 * refs.len() {
            candle_core::bail!("{} sequences for {} pairs", packed.spans.len(), refs.len());
        }
        let pass = Pass {
            train: true,
            seed: seed.wrapping_mul(0x0100_0000_01b3).wrapping_add(i as u64),
        };
        let (rows, acts) = model.forward_rows(packed, pass)?;
        let first = model.head().run(&rows, &packed.targets, None, grads)?;
        let policy = sum_by_sequence(&first.logprobs, packed);
        // dL/dπ per sequence.
        let mut seq_coef = vec![0f64; packed.spans.len()];
        for (k, r) in refs.iter().enumerate() {
            let chosen = beta * (policy[2 * k] - r.chosen);
            let rejected = beta * (policy[2 * k + 1] - r.rejected);
            let z = chosen - rejected;
            stats.loss -= log_sigmoid(z) / pairs as f64;
            stats.rewards_chosen += chosen / pairs as f64;
            stats.rewards_rejected += rejected / pairs as f64;
            stats.margin += z / pairs as f64;
            stats.accuracy += f64::from(u8::from(chosen > rejected)) / pairs as f64;
            let d = -beta * sigmoid(-z) / pairs as f64;
            seq_coef[2 * k] = d;
            seq_coef[2 * k + 1] = -d;
        }
        let coefs: Vec<f32> = packed
            .target_sequence
            .iter()
            .map(|&s| seq_coef[s] as f32)
            .collect();
        model.backward_through_head(acts, packed, rows, &coefs, grads)?;
        stats.tokens += packed.tokens();
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sigmoid_is_stable() {
        assert!((log_sigmoid(0.0) + std::f64::consts::LN_2).abs() < 1e-15);
        assert!((log_sigmoid(-800.0) + 800.0).abs() < 1e-9);
        assert!(log_sigmoid(800.0).abs() < 1e-300);
        assert!((sigmoid(-3.0) - 1.0 / (1.0 + 3f64.exp())).abs() < 1e-15);
    }
}
