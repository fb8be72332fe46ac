//! LoRA adapters: `W x + (alpha / rank) · B A dropout(x)`, with `A` `[rank, in]` initialised as
//! PEFT does (Kaiming-uniform, bound `1 / sqrt(in)`) and `B` `[out, rank]` at zero, so training
//! starts from the base model exactly.

use candle_core::{Result, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::tensor::{modify, tensor, view};

/// The projections LoRA can adapt, by their Hugging Face module names.
pub const LORA_MODULES: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// LoRA hyper-parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    /// Rank of the update.
    pub rank: usize,
    /// Scale numerator: the update is multiplied by `alpha / rank`.
    pub alpha: f64,
    /// Probability of zeroing an input element of the adapter path while training (0 to 1).
    pub dropout: f64,
    /// The adapted modules (names of [`LORA_MODULES`]).
    pub targets: Vec<String>,
}

impl Default for LoraConfig {
    /// D&R's adapter (rank 16, alpha 32) on every projection of the decoder blocks (PEFT's
    /// `all-linear`), dropout 0.05.
    fn default() -> LoraConfig {
        LoraConfig {
            rank: 16,
            alpha: 32.0,
            dropout: 0.05,
            targets: LORA_MODULES.iter().map(|m| m.to_string()).collect(),
        }
    }
}

impl LoraConfig {
    /// Whether module `name` (e.g. `q_proj`) is adapted.
    pub fn targets(&self, name: &str) -> bool {
        self.targets.iter().any(|t| t == name)
    }
}

/// One adapter.
#[derive(Debug, Clone)]
pub struct Lora {
    /// Down projection, `[rank, in]`.
    pub a: Tensor,
    /// Up projection, `[out, rank]`.
    pub b: Tensor,
    /// `alpha / rank`.
    pub scale: f32,
    /// Input dropout probability while training.
    pub dropout: f32,
}

impl Lora {
    /// A fresh adapter for a projection `[out, in]`; `seed` draws `A`.
    pub fn new(input: usize, output: usize, config: &LoraConfig, seed: u64) -> Result<Lora> {
        let bound = 1.0 / (input as f32).sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let a: Vec<f32> = (0..config.rank * input)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        Ok(Lora {
            a: tensor(a, (config.rank, input))?,
            b: tensor(vec![0f32; output * config.rank], (output, config.rank))?,
            scale: (config.alpha / config.rank as f64) as f32,
            dropout: config.dropout as f32,
        })
    }

    /// `scale · B A`, `[out, in]`: what merging adds to the base weight.
    pub fn delta(&self) -> Result<Tensor> {
        self.b.matmul(&self.a)?.affine(f64::from(self.scale), 0.0)
    }
}

/// Applies inverted dropout to `x` (`[rows, width]`): each element is kept with probability
/// `1 - p` and scaled by `1 / (1 - p)`. Returns the dropped input and the keep mask.
pub fn dropout(x: &Tensor, p: f32, seed: u64) -> Result<(Tensor, Vec<bool>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keep: Vec<bool> = (0..x.elem_count())
        .map(|_| rng.random::<f32>() >= p)
        .collect();
    let scale = 1.0 / (1.0 - p);
    let xs = view(x)?;
    let dropped: Vec<f32> = xs
        .slice()
        .iter()
        .zip(&keep)
        .map(|(v, &k)| if k { v * scale } else { 0.0 })
        .collect();
    drop(xs);
    Ok((tensor(dropped, x.dims())?, keep))
}

/// Multiplies `t` in place by the dropout mask and its `1 / (1 - p)` scale.
pub fn apply_mask(t: &Tensor, keep: &[bool], p: f32) -> Result<()> {
    let scale = 1.0 / (1.0 - p);
    modify(t, |data| {
        data.iter_mut()
            .zip(keep)
            .for_each(|(v, &k)| *v = if k { *v * scale } else { 0.0 })
    })
}
