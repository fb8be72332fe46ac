//! The language-model head and its loss, fused: for the rows that have a target token, logits
//! `x W^T` (soft-capped for Gemma 3), log-softmax, the target's log-probability, and (when the caller says how the loss
//! depends on each log-probability) the logits' gradient written over the logits, then the
//! input and weight gradients. Only rows with a target are computed (prompt tokens of an SFT
//! example need no logits), in blocks of rows that bound the logits' memory.

use candle_core::{Result, Tensor};
use rayon::prelude::*;

use super::grads::Grads;
use super::math::exp;
use super::tensor::{matmul_nt, matmul_tn, modify, view};

/// Most logits held at once (elements): 32M floats, 128 MB.
const BLOCK_ELEMENTS: usize = 1 << 25;

/// What the head computed for the selected rows.
#[derive(Debug)]
pub struct HeadOutput {
    /// `log p(target)` of each row (natural log).
    pub logprobs: Vec<f32>,
    /// The gradient with respect to the rows `[rows, hidden]`, when coefficients were given.
    pub d_input: Option<Tensor>,
}

/// The output head: the weight `[vocab, hidden]` and the logits' soft cap, if any.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// `[vocab, hidden]` (the embeddings when tied).
    pub weight: &'a Tensor,
    /// Logits become `cap * tanh(logit / cap)` (Gemma 3's `final_logit_softcapping`).
    pub softcap: Option<f32>,
}

impl Head<'_> {
    /// Runs the head over `x` (`[rows, hidden]`) with one target token per row: see [`run`].
    pub fn run(
        &self,
        x: &Tensor,
        targets: &[u32],
        coef: Option<&[f32]>,
        grads: &mut Grads,
    ) -> Result<HeadOutput> {
        run(self.weight, self.softcap, x, targets, coef, grads)
    }

    /// The logits `[rows, vocab]` of `x` (`[rows, hidden]`), soft-capped when the model caps them.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let logits = matmul_nt(x, self.weight)?;
        if let Some(cap) = self.softcap {
            modify(&logits, |data| {
                data.par_iter_mut()
                    .for_each(|v| *v = cap * (*v / cap).tanh())
            })?;
        }
        Ok(logits)
    }
}

/// Runs the head `weight` (`[vocab, hidden]`) over `x` (`[rows, hidden]`) with one target token
/// per row, the logits capped at `softcap`. With `coef` (`dL/dlogp` of each row) it also
/// returns `dL/dx` and accumulates `dL/dW` into `grads` when the head is trained.
fn run(
    weight: &Tensor,
    softcap: Option<f32>,
    x: &Tensor,
    targets: &[u32],
    coef: Option<&[f32]>,
    grads: &mut Grads,
) -> Result<HeadOutput> {
    let (rows, _) = x.dims2()?;
    let vocab = weight.dims2()?.0;
    if targets.len() != rows {
        candle_core::bail!("{} targets for {rows} rows", targets.len());
    }
    if let Some(&bad) = targets.iter().find(|&&t| t as usize >= vocab) {
        candle_core::bail!("target token {bad} is outside the vocabulary of {vocab}");
    }
    let block = (BLOCK_ELEMENTS / vocab).clamp(1, rows.max(1));
    let mut logprobs = vec![0f32; rows];
    let mut d_parts = Vec::new();
    for start in (0..rows).step_by(block) {
        let len = block.min(rows - start);
        let xb = x.narrow(0, start, len)?;
        let logits = matmul_nt(&xb, weight)?;
        let targets = &targets[start..start + len];
        let coef = coef.map(|c| &c[start..start + len]);
        let out = &mut logprobs[start..start + len];
        modify(&logits, |data| {
            data.par_chunks_mut(vocab)
                .zip(out.par_iter_mut())
                .enumerate()
                .for_each(|(i, (row, logprob))| {
                    // Soft-capping: the capped logits, and `1 - tanh²` for the gradient.
                    let cap_slope: Option<Vec<f32>> = softcap.map(|cap| {
                        row.iter_mut()
                            .map(|v| {
                                let t = (*v / cap).tanh();
                                *v = cap * t;
                                1.0 - t * t
                            })
                            .collect()
                    });
                    let target = targets[i] as usize;
                    let picked = row[target];
                    let max = row_max(row);
                    let mut lanes = [0f32; 8];
                    for chunk in row.chunks_mut(8) {
                        for (v, lane) in chunk.iter_mut().zip(lanes.iter_mut()) {
                            *v = exp(*v - max);
                            *lane += *v;
                        }
                    }
                    let sum: f32 = lanes.iter().sum();
                    let lse = max + sum.ln();
                    *logprob = picked - lse;
                    if let Some(coef) = coef {
                        // dL/dlogits = c · (onehot − softmax); the row holds e^(v − max).
                        let scale = -coef[i] / sum;
                        row.iter_mut().for_each(|v| *v *= scale);
                        row[target] += coef[i];
                        if let Some(slope) = &cap_slope {
                            row.iter_mut().zip(slope).for_each(|(v, s)| *v *= s);
                        }
                    }
                })
        })?;
        if coef.is_some() {
            d_parts.push(logits.matmul(weight)?);
            if grads.wants(weight) {
                grads.accumulate(weight, matmul_tn(&logits, &xb)?)?;
            }
        }
    }
    let d_input = match d_parts.len() {
        0 => None,
        1 => d_parts.pop(),
        _ => Some(Tensor::cat(&d_parts, 0)?),
    };
    Ok(HeadOutput { logprobs, d_input })
}

/// The largest element of a row, with eight independent lanes (so the loop vectorises).
fn row_max(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    for chunk in row.chunks(8) {
        for (v, lane) in chunk.iter().zip(lanes.iter_mut()) {
            *lane = lane.max(*v);
        }
    }
    lanes.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

/// The index of the largest logit of a row (the first one on ties), for greedy decoding.
pub fn argmax(logits: &Tensor) -> Result<u32> {
    let row = view(logits)?;
    let (mut best, mut best_value) = (0usize, f32::NEG_INFINITY);
    for (i, &v) in row.slice().iter().enumerate() {
        if v > best_value {
            best = i;
            best_value = v;
        }
    }
    Ok(best as u32)
}
