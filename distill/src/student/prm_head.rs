//! The process reward model's token-classification head, as transformers'
//! `AutoModelForTokenClassification` with two labels: `logits = h Wᵀ + b` on the final normed
//! hidden state, label 1 = the step is correct; softmax cross-entropy at the labelled positions.
//! Initialised as transformers does (weights normal with σ 0.02, bias 0), seeded.

use candle_core::{Result, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::grads::Grads;
use super::tensor::{tensor, view};

/// The head's tensor names in `prm_head.safetensors` (transformers' names for the head).
pub const WEIGHT_NAME: &str = "score.weight";
/// The bias's name.
pub const BIAS_NAME: &str = "score.bias";
/// transformers' `initializer_range`.
const INIT_STD: f64 = 0.02;

/// The 2-logit head.
#[derive(Debug, Clone)]
pub struct PrmHead {
    /// `[2, hidden]`.
    pub weight: Tensor,
    /// `[2]`.
    pub bias: Tensor,
}

/// What the loss gave over a set of labelled rows.
#[derive(Debug)]
pub struct HeadLoss {
    /// Sum over rows of `−log p(label)`.
    pub loss_sum: f64,
    /// Rows whose larger logit is their label.
    pub correct: usize,
    /// `dL/dx` for the rows, `[rows, hidden]` (with the caller's scale applied).
    pub d_input: Tensor,
}

/// Seeded standard normal draws (Box–Muller).
pub(crate) fn normals(rng: &mut ChaCha8Rng, n: usize, std: f64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f64 = rng.random_range(f64::EPSILON..1.0);
            let u2: f64 = rng.random_range(0.0..1.0);
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos() * std) as f32
        })
        .collect()
}

impl PrmHead {
    /// A fresh head for `hidden`-wide states.
    pub fn init(hidden: usize, seed: u64) -> Result<PrmHead> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5052_4d48_6561_6400);
        Ok(PrmHead {
            weight: tensor(normals(&mut rng, 2 * hidden, INIT_STD), (2, hidden))?,
            bias: tensor(vec![0.0; 2], 2)?,
        })
    }

    /// The head from its tensors, checked against `hidden`.
    pub fn from_tensors(weight: Tensor, bias: Tensor, hidden: usize) -> Result<PrmHead> {
        if weight.dims() != [2, hidden] || bias.dims() != [2] {
            candle_core::bail!(
                "the head has shapes {:?} and {:?}, the model's hidden size is {hidden}",
                weight.dims(),
                bias.dims()
            );
        }
        Ok(PrmHead { weight, bias })
    }

    /// The tensors, by name.
    pub fn named(&self) -> Vec<(String, Tensor)> {
        vec![
            (WEIGHT_NAME.to_string(), self.weight.clone()),
            (BIAS_NAME.to_string(), self.bias.clone()),
        ]
    }

    /// The two logits of each row of `x` (`[rows, hidden]`).
    pub fn logits(&self, x: &Tensor) -> Result<Vec<[f32; 2]>> {
        let (rows, hidden) = x.dims2()?;
        let (xs, w, b) = (view(x)?, view(&self.weight)?, view(&self.bias)?);
        let (xs, w, b) = (xs.slice(), w.slice(), b.slice());
        Ok((0..rows)
            .map(|r| {
                let row = &xs[r * hidden..(r + 1) * hidden];
                [
                    super::tensor::dot(row, &w[..hidden]) + b[0],
                    super::tensor::dot(row, &w[hidden..]) + b[1],
                ]
            })
            .collect())
    }

    /// `P(correct)` of each row.
    pub fn probabilities(&self, x: &Tensor) -> Result<Vec<f64>> {
        Ok(self
            .logits(x)?
            .into_iter()
            .map(|[l0, l1]| softmax2(l0, l1).1)
            .collect())
    }

    /// Cross-entropy of `labels` (0 or 1) at the rows of `x`; the gradients of `scale · Σ loss`
    /// go to the head's tensors (when trained) and to the returned `d_input`.
    pub fn cross_entropy(
        &self,
        x: &Tensor,
        labels: &[u32],
        scale: f64,
        grads: &mut Grads,
    ) -> Result<HeadLoss> {
        let (rows, hidden) = x.dims2()?;
        if labels.len() != rows {
            candle_core::bail!("{} labels for {rows} rows", labels.len());
        }
        let logits = self.logits(x)?;
        let mut loss_sum = 0f64;
        let mut correct = 0;
        let mut d_w = vec![0f32; 2 * hidden];
        let mut d_b = [0f32; 2];
        let mut d_x = vec![0f32; rows * hidden];
        let (x_view, w_view) = (view(x)?, view(&self.weight)?);
        let (xs, w) = (x_view.slice(), w_view.slice());
        for (r, (&[l0, l1], &label)) in logits.iter().zip(labels).enumerate() {
            let (p0, p1) = softmax2(l0, l1);
            let picked = if label == 1 { p1 } else { p0 };
            loss_sum -= picked.max(f64::MIN_POSITIVE).ln();
            correct += usize::from((l1 > l0) == (label == 1));
            // d(−log p_label)/dlogit_k = p_k − [k = label].
            let d = [
                ((p0 - f64::from(u8::from(label == 0))) * scale) as f32,
                ((p1 - f64::from(u8::from(label == 1))) * scale) as f32,
            ];
            let row = &xs[r * hidden..(r + 1) * hidden];
            let out = &mut d_x[r * hidden..(r + 1) * hidden];
            for (k, &dk) in d.iter().enumerate() {
                d_b[k] += dk;
                let wk = &w[k * hidden..(k + 1) * hidden];
                for ((o, &wv), (g, &xv)) in out
                    .iter_mut()
                    .zip(wk)
                    .zip(d_w[k * hidden..(k + 1) * hidden].iter_mut().zip(row))
                {
                    *o += dk * wv;
                    *g += dk * xv;
                }
            }
        }
        drop((x_view, w_view));
        grads.accumulate(&self.weight, tensor(d_w, (2, hidden))?)?;
        grads.accumulate(&self.bias, tensor(d_b.to_vec(), 2)?)?;
        Ok(HeadLoss {
            loss_sum,
            correct,
            d_input: tensor(d_x, (rows, hidden))?,
        })
    }
}

/// `(p0, p1)` of two logits, stable.
fn softmax2(l0: f32, l1: f32) -> (f64, f64) {
    let (l0, l1) = (f64::from(l0), f64::from(l1));
    let m = l0.max(l1);
    let (e0, e1) = ((l0 - m).exp(), (l1 - m).exp());
    (e0 / (e0 + e1), e1 / (e0 + e1))
}
