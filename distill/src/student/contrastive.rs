//! AgentArk's contrastive term for the PRM (`prm/finetune2.py`): the final hidden states at the
//! labelled positions go through a projector (`Linear(h, h) → ReLU → Linear(h, h)`), are
//! L2-normalised, and an InfoNCE loss pulls same-label positions together: for each position
//! `i` with at least one other position of its label, the mean over those positives `j` of
//! `−log softmax_{k≠i}(s_i·)_j`, `s_ij = clamp(z_i·z_j / τ, ±85)`; the loss is the mean over
//! such `i` (0 when there is none).
//!
//! The projector is created by the trainer, outside the model, so transformers' `Trainer`
//! never gives it to the optimizer: in AgentArk it stays at its random initialisation and only
//! the backbone learns through it. We do the same (PyTorch's `nn.Linear` initialisation,
//! seeded): the gradient flows through the projector to the hidden states, never into it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// AgentArk's temperature.
pub const TEMPERATURE: f64 = 0.1;
/// AgentArk's weight of the term (`loss = ce + 0.5 · contrastive`).
pub const DEFAULT_WEIGHT: f64 = 0.5;
/// `F.normalize`'s epsilon.
const NORM_EPS: f64 = 1e-12;
/// AgentArk's clamp of the scaled similarities.
const CLAMP: f64 = 85.0;

/// The fixed projector.
#[derive(Debug, Clone)]
pub struct Projector {
    hidden: usize,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

/// The projector's forward values a backward pass needs.
#[derive(Debug)]
pub struct Projected {
    /// The first layer's pre-activations, `[rows, hidden]`.
    pre: Vec<f32>,
    /// The output, `[rows, hidden]`.
    pub out: Vec<f32>,
}

/// `y = x Wᵀ + b` for `rows` rows of width `n` into `m` outputs.
fn affine(x: &[f32], w: &[f32], b: &[f32], n: usize, m: usize) -> Vec<f32> {
    let mut y = vec![0f32; x.len() / n * m];
    y.par_chunks_mut(m)
        .zip(x.par_chunks(n))
        .for_each(|(out, row)| {
            for (j, o) in out.iter_mut().enumerate() {
                *o = super::tensor::dot(row, &w[j * n..(j + 1) * n]) + b[j];
            }
        });
    y
}

/// `dx = dy W` (the input gradient of [`affine`]).
fn affine_back(dy: &[f32], w: &[f32], n: usize, m: usize) -> Vec<f32> {
    let mut dx = vec![0f32; dy.len() / m * n];
    dx.par_chunks_mut(n)
        .zip(dy.par_chunks(m))
        .for_each(|(out, d)| {
            for (j, &dj) in d.iter().enumerate() {
                if dj != 0.0 {
                    for (o, &wv) in out.iter_mut().zip(&w[j * n..(j + 1) * n]) {
                        *o += dj * wv;
                    }
                }
            }
        });
    dx
}

impl Projector {
    /// PyTorch's `nn.Linear` initialisation (weights and biases uniform in `±1/√fan_in`).
    pub fn new(hidden: usize, seed: u64) -> Projector {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x434f_4e54_5241_5354);
        let bound = 1.0 / (hidden as f32).sqrt();
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
        let (w1, b1) = (draw(hidden * hidden), draw(hidden));
        let (w2, b2) = (draw(hidden * hidden), draw(hidden));
        Projector {
            hidden,
            w1,
            b1,
            w2,
            b2,
        }
    }

    /// Projects rows `x` (`[rows, hidden]`).
    pub fn forward(&self, x: &[f32]) -> Projected {
        let h = self.hidden;
        let pre = affine(x, &self.w1, &self.b1, h, h);
        let act: Vec<f32> = pre.iter().map(|&v| v.max(0.0)).collect();
        let out = affine(&act, &self.w2, &self.b2, h, h);
        Projected { pre, out }
    }

    /// `dL/dx` from `dL/dy`.
    pub fn backward(&self, projected: &Projected, d_out: &[f32]) -> Vec<f32> {
        let h = self.hidden;
        let mut d_act = affine_back(d_out, &self.w2, h, h);
        for (d, &p) in d_act.iter_mut().zip(&projected.pre) {
            if p <= 0.0 {
                *d = 0.0;
            }
        }
        affine_back(&d_act, &self.w1, h, h)
    }
}

/// The InfoNCE loss of embeddings `y` (`[rows, dim]`, normalised here) with `labels`, and its
/// gradient with respect to `y`.
pub fn info_nce(y: &[f32], dim: usize, labels: &[u32], temperature: f64) -> (f64, Vec<f32>) {
    let n = labels.len();
    let mut d_y = vec![0f32; y.len()];
    let norms: Vec<f64> = y
        .chunks(dim)
        .map(|r| {
            r.iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                .sqrt()
                .max(NORM_EPS)
        })
        .collect();
    let z: Vec<f64> = y
        .chunks(dim)
        .zip(&norms)
        .flat_map(|(r, &norm)| r.iter().map(move |&v| f64::from(v) / norm))
        .collect();
    let row = |i: usize| &z[i * dim..(i + 1) * dim];
    let mut s = vec![0f64; n * n];
    let mut clamped = vec![false; n * n];
    for i in 0..n {
        for j in 0..n {
            let v = row(i).iter().zip(row(j)).map(|(a, b)| a * b).sum::<f64>() / temperature;
            s[i * n + j] = v.clamp(-CLAMP, CLAMP);
            clamped[i * n + j] = v.abs() > CLAMP;
        }
    }
    let anchors: Vec<usize> = (0..n)
        .filter(|&i| (0..n).any(|j| j != i && labels[j] == labels[i]))
        .collect();
    if anchors.is_empty() {
        return (0.0, d_y);
    }
    let a = anchors.len() as f64;
    let mut loss = 0f64;
    // g[i][j] = dL/ds_ij.
    let mut g = vec![0f64; n * n];
    for &i in &anchors {
        let others = (0..n).filter(|&k| k != i);
        let max = others
            .clone()
            .map(|k| s[i * n + k])
            .fold(f64::MIN, f64::max);
        let sum: f64 = others.map(|k| (s[i * n + k] - max).exp()).sum();
        let lse = max + sum.ln();
        let positives: Vec<usize> = (0..n)
            .filter(|&j| j != i && labels[j] == labels[i])
            .collect();
        let p = positives.len() as f64;
        loss -= positives.iter().map(|&j| s[i * n + j] - lse).sum::<f64>() / p / a;
        for k in (0..n).filter(|&k| k != i) {
            g[i * n + k] += (s[i * n + k] - lse).exp() / a;
        }
        for &j in &positives {
            g[i * n + j] -= 1.0 / p / a;
        }
    }
    // dL/dz_i = (1/τ) Σ_j (g_ij + g_ji) z_j over unclamped pairs, then through the norm.
    for i in 0..n {
        let mut dz = vec![0f64; dim];
        for j in 0..n {
            let mut c = 0.0;
            if !clamped[i * n + j] {
                c += g[i * n + j];
            }
            if !clamped[j * n + i] {
                c += g[j * n + i];
            }
            if c != 0.0 {
                for (d, &zj) in dz.iter_mut().zip(row(j)) {
                    *d += c / temperature * zj;
                }
            }
        }
        let zi = row(i);
        let along: f64 = zi.iter().zip(&dz).map(|(a, b)| a * b).sum();
        let scale = if norms[i] > NORM_EPS { along } else { 0.0 };
        for ((out, &d), &zv) in d_y[i * dim..(i + 1) * dim].iter_mut().zip(&dz).zip(zi) {
            *out = ((d - zv * scale) / norms[i]) as f32;
        }
    }
    (loss, d_y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two anchors of label 0 and one of label 1 in 2-D: label 1 has no positive, so only the
    /// two label-0 rows count. Rows 0 and 1 are orthogonal unit vectors, row 2 their negative
    /// sum normalised; with τ = 1: s01 = 0, s02 = s12 = −1/√2. For i = 0, the softmax over
    /// {1, 2} of (0, −0.7071) gives p(1) = 1/(1 + e^−0.7071) = 0.66976; loss = −ln 0.66976 =
    /// 0.40083 for both anchors, mean 0.40083.
    #[test]
    fn info_nce_matches_a_hand_computed_value() {
        let y = [1.0, 0.0, 0.0, 2.0, -3.0, -3.0];
        let (loss, _) = info_nce(&y, 2, &[0, 0, 1], 1.0);
        assert!((loss - 0.400_83).abs() < 1e-4, "{loss}");
        let (none, grad) = info_nce(&y, 2, &[0, 1, 2], 1.0);
        assert_eq!(none, 0.0);
        assert!(grad.iter().all(|&g| g == 0.0));
    }

    #[test]
    fn info_nce_gradient_matches_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let dim = 5;
        let labels = [0, 1, 0, 1, 1, 0];
        let y: Vec<f32> = (0..labels.len() * dim)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let (_, grad) = info_nce(&y, dim, &labels, TEMPERATURE);
        let eps = 1e-3f32;
        for k in 0..y.len() {
            let (mut up, mut down) = (y.clone(), y.clone());
            up[k] += eps;
            down[k] -= eps;
            let numeric = (info_nce(&up, dim, &labels, TEMPERATURE).0
                - info_nce(&down, dim, &labels, TEMPERATURE).0)
                / (2.0 * f64::from(eps));
            assert!(
                (numeric - f64::from(grad[k])).abs() < 2e-3 * (1.0 + numeric.abs()),
                "element {k}: numeric {numeric}, analytic {}",
                grad[k]
            );
        }
    }

    #[test]
    fn projector_gradient_matches_finite_differences() {
        let hidden = 6;
        let projector = Projector::new(hidden, 3);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let x: Vec<f32> = (0..2 * hidden)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let probe: Vec<f32> = (0..2 * hidden)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        // L = Σ probe · projector(x).
        let loss = |x: &[f32]| -> f64 {
            let out = projector.forward(x).out;
            out.iter().zip(&probe).map(|(a, b)| f64::from(a * b)).sum()
        };
        let grad = projector.backward(&projector.forward(&x), &probe);
        let eps = 1e-3f32;
        for k in 0..x.len() {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[k] += eps;
            down[k] -= eps;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * f64::from(eps));
            assert!(
                (numeric - f64::from(grad[k])).abs() < 1e-3,
                "element {k}: numeric {numeric}, analytic {}",
                grad[k]
            );
        }
    }
}
