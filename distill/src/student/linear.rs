//! A linear projection `y = x W^T + b`, possibly several Hugging Face projections fused along
//! the output rows (query/key/value; gate/up) so one matmul does them all, each with an
//! optional LoRA adapter.

use std::ops::Range;

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use super::grads::Grads;
use super::lora::{apply_mask, dropout, Lora, LoraConfig};
use super::tensor::{column_sums, matmul_nt, matmul_tn, modify, tensor, view, ROW_BLOCK};

/// One Hugging Face projection inside a fused [`Linear`].
#[derive(Debug, Clone)]
pub struct Part {
    /// Its full Hugging Face name without `.weight` (`model.layers.0.self_attn.q_proj`).
    pub name: String,
    /// Its rows of the fused weight.
    pub rows: Range<usize>,
    /// Its adapter, when LoRA adapts it.
    pub lora: Option<Lora>,
}

/// A (fused) linear projection.
#[derive(Debug, Clone)]
pub struct Linear {
    /// `[out, in]`: the parts' weights stacked along the rows.
    pub weight: Tensor,
    /// `[out]`, when the projections have biases.
    pub bias: Option<Tensor>,
    /// The projections, in row order.
    pub parts: Vec<Part>,
}

/// How a forward pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Training: adapter dropout is active.
    pub train: bool,
    /// Seeds the dropout masks of this pass (one pass = one micro-batch of one step).
    pub seed: u64,
}

impl Pass {
    /// Inference: no dropout.
    pub const EVAL: Pass = Pass {
        train: false,
        seed: 0,
    };
}

/// What the backward pass needs from the forward pass.
#[derive(Debug)]
pub struct LinearCache {
    input: Tensor,
    adapters: Vec<Option<AdapterCache>>,
}

#[derive(Debug)]
struct AdapterCache {
    /// The adapter's input after dropout, and the keep mask (None without dropout).
    dropped: Option<(Tensor, Vec<bool>)>,
    /// `dropout(x) A^T`, `[rows, rank]`.
    down: Tensor,
}

impl Linear {
    /// Loads the projections `names` (relative to `vb`, e.g. `["q_proj", "k_proj"]`) of widths
    /// `outs` from `in_dim` inputs and fuses them; `prefix` is `vb`'s full name for the parts.
    /// `lora` adapts the parts whose module name it targets; `seed` draws their `A` matrices.
    #[allow(clippy::too_many_arguments)]
    pub fn fused(
        vb: &VarBuilder,
        prefix: &str,
        names: &[&str],
        outs: &[usize],
        in_dim: usize,
        bias: bool,
        lora: Option<&LoraConfig>,
        seed: u64,
    ) -> Result<Linear> {
        let mut weights = Vec::with_capacity(names.len());
        let mut biases = Vec::new();
        let mut parts = Vec::with_capacity(names.len());
        let mut row = 0;
        for (i, (name, &out)) in names.iter().zip(outs).enumerate() {
            weights.push(vb.pp(name).get((out, in_dim), "weight")?);
            if bias {
                biases.push(vb.pp(name).get(out, "bias")?);
            }
            let adapter = match lora {
                Some(config) if config.targets(name) => Some(Lora::new(
                    in_dim,
                    out,
                    config,
                    seed.wrapping_mul(16).wrapping_add(i as u64),
                )?),
                _ => None,
            };
            parts.push(Part {
                name: format!("{prefix}.{name}"),
                rows: row..row + out,
                lora: adapter,
            });
            row += out;
        }
        let weight = if weights.len() == 1 {
            weights.remove(0).contiguous()?
        } else {
            Tensor::cat(&weights, 0)?
        };
        let bias = match biases.len() {
            0 => None,
            1 => Some(biases.remove(0).contiguous()?),
            _ => Some(Tensor::cat(&biases, 0)?),
        };
        Ok(Linear {
            weight,
            bias,
            parts,
        })
    }

    /// Output width.
    pub fn out_dim(&self) -> Result<usize> {
        Ok(self.weight.dims2()?.0)
    }

    /// `x W^T + b` plus the adapters' updates, for `x` `[rows, in]`.
    pub fn forward(&self, x: &Tensor, pass: Pass) -> Result<(Tensor, LinearCache)> {
        let y = matmul_nt(x, &self.weight)?;
        let (rows, out) = y.dims2()?;
        if let Some(bias) = &self.bias {
            let b = view(bias)?;
            let b = b.slice();
            modify(&y, |data| {
                data.par_chunks_mut(out * ROW_BLOCK).for_each(|block| {
                    for row in block.chunks_mut(out) {
                        row.iter_mut().zip(b).for_each(|(y, b)| *y += b);
                    }
                })
            })?;
        }
        let mut adapters = Vec::with_capacity(self.parts.len());
        for (i, part) in self.parts.iter().enumerate() {
            let Some(lora) = &part.lora else {
                adapters.push(None);
                continue;
            };
            let dropped = if pass.train && lora.dropout > 0.0 {
                let seed = pass.seed ^ fxhash(&part.name).wrapping_add(i as u64);
                Some(dropout(x, lora.dropout, seed)?)
            } else {
                None
            };
            let input = dropped.as_ref().map_or(x, |(t, _)| t);
            let down = matmul_nt(input, &lora.a)?;
            let up = matmul_nt(&down, &lora.b)?;
            let ups = view(&up)?;
            let (ups, width, start, scale) =
                (ups.slice(), part.rows.len(), part.rows.start, lora.scale);
            modify(&y, |data| {
                data.par_chunks_mut(out * ROW_BLOCK)
                    .zip(ups.par_chunks(width * ROW_BLOCK))
                    .for_each(|(block, ups)| {
                        for (row, up) in block.chunks_mut(out).zip(ups.chunks(width)) {
                            row[start..start + width]
                                .iter_mut()
                                .zip(up)
                                .for_each(|(y, u)| *y += scale * u);
                        }
                    })
            })?;
            adapters.push(Some(AdapterCache { dropped, down }));
        }
        debug_assert_eq!(rows, x.dims2()?.0);
        Ok((
            y,
            LinearCache {
                input: x.clone(),
                adapters,
            },
        ))
    }

    /// Accumulates the gradients of the trained tensors (weight, bias, adapters) given `dy`
    /// `[rows, out]`, and returns the gradient with respect to the input when `need_input`.
    pub fn backward(
        &self,
        cache: &LinearCache,
        dy: &Tensor,
        grads: &mut Grads,
        need_input: bool,
    ) -> Result<Option<Tensor>> {
        let dx = if need_input {
            Some(dy.matmul(&self.weight)?)
        } else {
            None
        };
        if grads.wants(&self.weight) {
            grads.accumulate(&self.weight, matmul_tn(dy, &cache.input)?)?;
        }
        if let Some(bias) = &self.bias {
            if grads.wants(bias) {
                let out = dy.dims2()?.1;
                let sums = column_sums(view(dy)?.slice(), out);
                grads.accumulate(bias, tensor(sums, out)?)?;
            }
        }
        for (part, adapter) in self.parts.iter().zip(&cache.adapters) {
            let (Some(lora), Some(adapter)) = (&part.lora, adapter) else {
                continue;
            };
            let dy_part = dy.narrow(1, part.rows.start, part.rows.len())?;
            let scale = f64::from(lora.scale);
            if grads.wants(&lora.b) {
                let db = matmul_tn(&dy_part, &adapter.down)?.affine(scale, 0.0)?;
                grads.accumulate(&lora.b, db)?;
            }
            let d_down = dy_part.matmul(&lora.b)?.affine(scale, 0.0)?;
            let input = adapter.dropped.as_ref().map_or(&cache.input, |(t, _)| t);
            if grads.wants(&lora.a) {
                grads.accumulate(&lora.a, matmul_tn(&d_down, input)?)?;
            }
            if let Some(dx) = &dx {
                let through = d_down.matmul(&lora.a)?;
                if let Some((_, keep)) = &adapter.dropped {
                    apply_mask(&through, keep, lora.dropout)?;
                }
                let src = view(&through)?;
                modify(dx, |d| super::tensor::add_assign(d, src.slice()))?;
            }
        }
        Ok(dx)
    }

    /// The parts' weights with their adapters merged in: (Hugging Face name, weight, bias).
    pub fn merged_parts(&self) -> Result<Vec<(String, Tensor, Option<Tensor>)>> {
        self.parts
            .iter()
            .map(|part| {
                let mut w = self
                    .weight
                    .narrow(0, part.rows.start, part.rows.len())?
                    .contiguous()?;
                if let Some(lora) = &part.lora {
                    w = (w + lora.delta()?)?;
                }
                let b = match &self.bias {
                    Some(b) => Some(
                        b.narrow(0, part.rows.start, part.rows.len())?
                            .contiguous()?,
                    ),
                    None => None,
                };
                Ok((part.name.clone(), w, b))
            })
            .collect()
    }
}

/// A stable 64-bit hash of a name (FNV-1a), to give each adapter its own dropout stream.
pub(crate) fn fxhash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
