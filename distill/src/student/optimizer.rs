//! AdamW (PyTorch's update, decoupled weight decay) fused into one in-place parallel pass per
//! tensor, global-norm gradient clipping, and the learning-rate schedule.

use candle_core::{Result, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::grads::Grads;
use super::tensor::{modify, sum_of_squares, tensor, view};

/// AdamW hyper-parameters (PyTorch's defaults but for the learning rate, set per step).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay (fraction of the weight removed per unit of learning rate).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> AdamWConfig {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// AdamW state over a fixed list of tensors.
#[derive(Debug)]
pub struct AdamW {
    config: AdamWConfig,
    /// Updates applied so far.
    pub steps: u64,
    moments: Vec<(Vec<f32>, Vec<f32>)>,
}

impl AdamW {
    /// Zero moments for `params`.
    pub fn new(config: AdamWConfig, params: &[(String, Tensor)]) -> AdamW {
        AdamW {
            config,
            steps: 0,
            moments: params
                .iter()
                .map(|(_, t)| (vec![0f32; t.elem_count()], vec![0f32; t.elem_count()]))
                .collect(),
        }
    }

    /// Applies one update with learning rate `lr` to every tensor of `params` that has a
    /// gradient, the gradients multiplied by `grad_scale` (the clipping factor).
    pub fn step(
        &mut self,
        params: &[(String, Tensor)],
        grads: &Grads,
        lr: f64,
        grad_scale: f32,
    ) -> Result<()> {
        self.steps += 1;
        let t = self.steps as i32;
        let c = self.config;
        let decay = (1.0 - lr * c.weight_decay) as f32;
        let step_size = (lr / (1.0 - c.beta1.powi(t))) as f32;
        let bias2_sqrt = (1.0 - c.beta2.powi(t)).sqrt() as f32;
        let (b1, b2, eps) = (c.beta1 as f32, c.beta2 as f32, c.eps as f32);
        for ((_, param), (m, v)) in params.iter().zip(self.moments.iter_mut()) {
            let Some(grad) = grads.get(param) else {
                continue;
            };
            let g = view(grad)?;
            let g = g.slice();
            modify(param, |p| {
                const CHUNK: usize = 1 << 14;
                p.par_chunks_mut(CHUNK)
                    .zip(g.par_chunks(CHUNK))
                    .zip(m.par_chunks_mut(CHUNK))
                    .zip(v.par_chunks_mut(CHUNK))
                    .for_each(|(((p, g), m), v)| {
                        for i in 0..p.len() {
                            let grad = g[i] * grad_scale;
                            m[i] = b1 * m[i] + (1.0 - b1) * grad;
                            v[i] = b2 * v[i] + (1.0 - b2) * grad * grad;
                            let denom = v[i].sqrt() / bias2_sqrt + eps;
                            p[i] = p[i] * decay - step_size * m[i] / denom;
                        }
                    })
            })?;
        }
        Ok(())
    }

    /// The moments as named tensors (`m.{name}`, `v.{name}`), for the resume file.
    pub fn state_tensors(&self, params: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(2 * params.len());
        for ((name, param), (m, v)) in params.iter().zip(&self.moments) {
            out.push((format!("m.{name}"), tensor(m.clone(), param.dims())?));
            out.push((format!("v.{name}"), tensor(v.clone(), param.dims())?));
        }
        Ok(out)
    }

    /// Restores the moments saved by [`AdamW::state_tensors`] after `steps` updates.
    pub fn restore(
        &mut self,
        params: &[(String, Tensor)],
        state: &std::collections::HashMap<String, Tensor>,
        steps: u64,
    ) -> Result<()> {
        for ((name, param), (m, v)) in params.iter().zip(self.moments.iter_mut()) {
            for (prefix, target) in [("m", m), ("v", v)] {
                let key = format!("{prefix}.{name}");
                let saved = state.get(&key).ok_or_else(|| {
                    candle_core::Error::Msg(format!("optimizer state has no `{key}`"))
                })?;
                if saved.dims() != param.dims() {
                    candle_core::bail!(
                        "optimizer state `{key}` has shape {:?}, expected {:?}",
                        saved.dims(),
                        param.dims()
                    );
                }
                target.copy_from_slice(view(&saved.contiguous()?)?.slice());
            }
        }
        self.steps = steps;
        Ok(())
    }
}

/// The global L2 norm of the gradients of `params` (`f64`, summed in a fixed order).
pub fn grad_norm(params: &[(String, Tensor)], grads: &Grads) -> Result<f64> {
    let mut total = 0f64;
    for (_, param) in params {
        if let Some(g) = grads.get(param) {
            total += sum_of_squares(view(g)?.slice());
        }
    }
    Ok(total.sqrt())
}

/// PyTorch's `clip_grad_norm_` factor: `min(1, max_norm / (norm + 1e-6))`.
pub fn clip_scale(norm: f64, max_norm: f64) -> f32 {
    if max_norm <= 0.0 {
        return 1.0;
    }
    (max_norm / (norm + 1e-6)).min(1.0) as f32
}

/// Linear warmup over `warmup` steps, then cosine decay to 0 at `total` steps: the learning
/// rate of step `step` (0-based).
pub fn learning_rate(peak: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let decay_steps = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / decay_steps as f64).min(1.0);
    peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays() {
        assert_eq!(learning_rate(1.0, 0, 2, 10), 0.5);
        assert_eq!(learning_rate(1.0, 1, 2, 10), 1.0);
        assert_eq!(learning_rate(1.0, 2, 2, 10), 1.0);
        assert!((learning_rate(1.0, 6, 2, 10) - 0.5).abs() < 1e-12);
        assert!(learning_rate(1.0, 9, 2, 10) > 0.0);
        assert_eq!(learning_rate(2.0, 0, 0, 1), 2.0);
        assert_eq!(clip_scale(4.0, 1.0), (1.0 / (4.0 + 1e-6)) as f32);
        assert_eq!(clip_scale(0.5, 1.0), 1.0);
    }

    #[test]
    fn one_adamw_step_matches_pytorch() {
        // torch.optim.AdamW([p], lr=0.1, weight_decay=0.01) on p=[1, -2], grad=[0.5, 0.25]:
        // p = p*(1 - 0.001) - 0.1 * m̂ / (sqrt(v̂) + eps) with m̂ = g, v̂ = g², so p - 0.1·sign(g).
        let p = tensor(vec![1.0, -2.0], 2).unwrap_or_else(|e| panic!("{e}"));
        let params = vec![("p".to_string(), p.clone())];
        let mut grads = Grads::new([&p]);
        grads
            .accumulate(
                &p,
                tensor(vec![0.5, 0.25], 2).unwrap_or_else(|e| panic!("{e}")),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let config = AdamWConfig {
            weight_decay: 0.01,
            ..AdamWConfig::default()
        };
        let mut adam = AdamW::new(config, &params);
        adam.step(&params, &grads, 0.1, 1.0)
            .unwrap_or_else(|e| panic!("{e}"));
        let after = p.to_vec1::<f32>().unwrap_or_else(|e| panic!("{e}"));
        assert!((after[0] - (0.999 - 0.1)).abs() < 1e-6, "{after:?}");
        assert!((after[1] - (-2.0 * 0.999 - 0.1)).abs() < 1e-6, "{after:?}");
        assert_eq!(
            grad_norm(&params, &grads).ok(),
            Some((0.25f64 + 0.0625).sqrt())
        );
    }
}
