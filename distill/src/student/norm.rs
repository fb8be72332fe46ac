//! RMSNorm: `y = x / sqrt(mean(x²) + eps) * (shift + weight)`, forward and backward (`shift`
//! is 0, or 1 for Gemma's norms, which store the scale's offset from one).

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use super::grads::Grads;
use super::tensor::{combine, tensor, view, ROW_BLOCK};

/// An RMSNorm layer.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    /// The per-channel scale, `[width]`.
    pub weight: Tensor,
    eps: f32,
    shift: f32,
}

/// What the backward pass needs from the forward pass.
#[derive(Debug)]
pub struct NormCache {
    input: Tensor,
    rstd: Vec<f32>,
}

impl RmsNorm {
    /// Loads `weight` of width `size`; the scale is `shift + weight`.
    pub fn new(size: usize, eps: f64, shift: f32, vb: VarBuilder) -> Result<RmsNorm> {
        Ok(RmsNorm {
            weight: vb.get(size, "weight")?,
            eps: eps as f32,
            shift,
        })
    }

    /// The scale `shift + weight`.
    fn scale(&self) -> Result<Vec<f32>> {
        let ws = view(&self.weight)?;
        Ok(ws.slice().iter().map(|w| self.shift + w).collect())
    }

    /// [`RmsNorm::forward`] on each `width`-wide piece of the rows of `x` (one attention head
    /// each: Qwen3's and Gemma 3's query/key norms).
    pub fn forward_pieces(&self, x: &Tensor, width: usize) -> Result<(Tensor, NormCache)> {
        let (rows, total) = x.dims2()?;
        let (out, cache) = self.forward(&x.reshape((rows * total / width, width))?)?;
        Ok((out.reshape((rows, total))?, cache))
    }

    /// The backward pass of [`RmsNorm::forward_pieces`].
    pub fn backward_pieces(
        &self,
        cache: &NormCache,
        dy: &Tensor,
        width: usize,
        grads: &mut Grads,
    ) -> Result<Tensor> {
        let (rows, total) = dy.dims2()?;
        let dy = dy.reshape((rows * total / width, width))?;
        self.backward(cache, &dy, grads)?.reshape((rows, total))
    }

    /// Normalises each row of `x` (`[rows, width]`).
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, NormCache)> {
        let (rows, width) = x.dims2()?;
        let (out, rstd) = {
            let xs = view(x)?;
            let ws = self.scale()?;
            let (xs, ws) = (xs.slice(), ws.as_slice());
            let mut out = vec![0f32; rows * width];
            let mut rstd = vec![0f32; rows];
            out.par_chunks_mut(width * ROW_BLOCK)
                .zip(xs.par_chunks(width * ROW_BLOCK))
                .zip(rstd.par_chunks_mut(ROW_BLOCK))
                .for_each(|((out, xs), rstd)| {
                    for ((o, x), r) in out.chunks_mut(width).zip(xs.chunks(width)).zip(rstd) {
                        let mean = (x.iter().map(|&v| f64::from(v * v)).sum::<f64>() / width as f64)
                            as f32;
                        *r = 1.0 / (mean + self.eps).sqrt();
                        for ((o, v), w) in o.iter_mut().zip(x).zip(ws) {
                            *o = w * (v * *r);
                        }
                    }
                });
            (out, rstd)
        };
        Ok((
            tensor(out, (rows, width))?,
            NormCache {
                input: x.clone(),
                rstd,
            },
        ))
    }

    /// The gradient with respect to the input, given `dy`; accumulates the weight's gradient
    /// into `grads` when it is trained.
    pub fn backward(&self, cache: &NormCache, dy: &Tensor, grads: &mut Grads) -> Result<Tensor> {
        let (rows, width) = dy.dims2()?;
        let want_weight = grads.wants(&self.weight);
        let (dx, dw) = {
            let xs = view(&cache.input)?;
            let dys = view(dy)?;
            let ws = self.scale()?;
            let (xs, dys, ws) = (xs.slice(), dys.slice(), ws.as_slice());
            let mut dx = vec![0f32; rows * width];
            let partials: Vec<Vec<f32>> = dx
                .par_chunks_mut(width * ROW_BLOCK)
                .zip(xs.par_chunks(width * ROW_BLOCK))
                .zip(dys.par_chunks(width * ROW_BLOCK))
                .zip(cache.rstd.par_chunks(ROW_BLOCK))
                .map(|(((dx, xs), dys), rstd)| {
                    let mut dw = if want_weight {
                        vec![0f32; width]
                    } else {
                        Vec::new()
                    };
                    for (((dx, x), dy), &r) in dx
                        .chunks_mut(width)
                        .zip(xs.chunks(width))
                        .zip(dys.chunks(width))
                        .zip(rstd)
                    {
                        // g = dy * w; dx = r * g - x * r³ * mean(g * x).
                        let mut gx = 0f32;
                        for ((g, x), w) in dy.iter().zip(x).zip(ws) {
                            gx += g * w * x;
                        }
                        let c = r * r * r * gx / width as f32;
                        for (((d, g), x), w) in dx.iter_mut().zip(dy).zip(x).zip(ws) {
                            *d = r * g * w - c * x;
                        }
                        if want_weight {
                            for ((dw, g), x) in dw.iter_mut().zip(dy).zip(x) {
                                *dw += g * x * r;
                            }
                        }
                    }
                    dw
                })
                .collect();
            let dw = want_weight.then(|| combine(partials, width));
            (dx, dw)
        };
        if let Some(dw) = dw {
            grads.accumulate(&self.weight, tensor(dw, width)?)?;
        }
        tensor(dx, (rows, width))
    }
}
