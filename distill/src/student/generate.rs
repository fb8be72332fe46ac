//! Decoding with the student itself: greedy (to check a saved checkpoint against `r2l serve`)
//! and seeded sampling with temperature and nucleus (the RL trainer's rollouts), both with the
//! KV cache.

use candle_core::{Result, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::head::argmax;
use super::model::{KvCache, Llama};

/// Greedy continuation of `prompt`: at most `max_new` tokens, stopping after the first token in
/// `stop` (which is included in the result).
pub fn generate_greedy(
    model: &Llama,
    prompt: &[u32],
    max_new: usize,
    stop: &[u32],
) -> Result<Vec<u32>> {
    generate(model, prompt, max_new, stop, argmax)
}

/// The continuation of `prompt` whose every token `pick` chooses from the logits of the last
/// position, with the KV cache.
fn generate(
    model: &Llama,
    prompt: &[u32],
    max_new: usize,
    stop: &[u32],
    mut pick: impl FnMut(&Tensor) -> Result<u32>,
) -> Result<Vec<u32>> {
    let mut cache = KvCache::new();
    let mut out = Vec::with_capacity(max_new);
    if prompt.is_empty() || max_new == 0 {
        return Ok(out);
    }
    let logits = model.forward(prompt, &mut cache)?;
    let mut next = pick(&logits.get(prompt.len() - 1)?)?;
    loop {
        out.push(next);
        if stop.contains(&next) || out.len() >= max_new {
            return Ok(out);
        }
        let logits = model.forward(&[next], &mut cache)?;
        next = pick(&logits.get(0)?)?;
    }
}

/// How a sampled continuation draws its tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Softmax temperature (> 0).
    pub temperature: f64,
    /// Nucleus: the smallest set of most likely tokens whose probabilities reach this (1 = all).
    pub top_p: f64,
}

/// A sampled continuation of `prompt` (at most `max_new` tokens, stopping after the first token
/// in `stop`, which is included), drawn with `rng`: the same seed gives the same tokens.
pub fn generate_sampled(
    model: &Llama,
    prompt: &[u32],
    max_new: usize,
    stop: &[u32],
    sampling: Sampling,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<u32>> {
    generate(model, prompt, max_new, stop, |logits| {
        Ok(sample(&logits.to_vec1::<f32>()?, sampling, rng))
    })
}

/// `rngs.len()` sampled continuations of one prompt (a GRPO group), decoded together: the
/// prompt is prefilled once, each answer continues a copy of its cache, and every step runs the
/// answers still going as one batch of rows (each weight read once per step, not once per
/// answer). Answer `i` draws with `rngs[i]`: the tokens `generate_sampled` gives with that
/// generator, up to the rounding of a batched matrix product.
pub fn generate_sampled_group(
    model: &Llama,
    prompt: &[u32],
    max_new: usize,
    stop: &[u32],
    sampling: Sampling,
    rngs: &mut [ChaCha8Rng],
) -> Result<Vec<Vec<u32>>> {
    let mut answers = vec![Vec::with_capacity(max_new); rngs.len()];
    if prompt.is_empty() || max_new == 0 || rngs.is_empty() {
        return Ok(answers);
    }
    let mut prefix = KvCache::new();
    let logits = model.forward(prompt, &mut prefix)?;
    let last = logits.get(prompt.len() - 1)?.to_vec1::<f32>()?;
    let mut caches = vec![prefix; rngs.len()];
    let mut next: Vec<(usize, u32)> = rngs
        .iter_mut()
        .enumerate()
        .map(|(i, rng)| (i, sample(&last, sampling, rng)))
        .collect();
    loop {
        let mut going = Vec::with_capacity(next.len());
        for (i, token) in next {
            answers[i].push(token);
            if !stop.contains(&token) && answers[i].len() < max_new {
                going.push((i, token));
            }
        }
        if going.is_empty() {
            return Ok(answers);
        }
        let ids: Vec<u32> = going.iter().map(|&(_, token)| token).collect();
        let mut rows: Vec<&mut KvCache> = caches
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| going.iter().any(|(g, _)| g == i))
            .map(|(_, cache)| cache)
            .collect();
        let logits = model.forward_many(&ids, &mut rows, &vec![1; ids.len()])?;
        let logits = logits.to_vec2::<f32>()?;
        next = going
            .iter()
            .zip(&logits)
            .map(|(&(i, _), row)| (i, sample(row, sampling, &mut rngs[i])))
            .collect();
    }
}

/// Draws a token from `logits` by temperature and nucleus.
fn sample(logits: &[f32], sampling: Sampling, rng: &mut ChaCha8Rng) -> u32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let t = sampling.temperature;
    if sampling.top_p >= 1.0 {
        // The whole vocabulary: no need to sort it (a sort per token costs as much as a
        // small model's forward pass).
        let weights: Vec<f64> = logits
            .iter()
            .map(|&l| (f64::from(l - max) / t).exp())
            .collect();
        let draw = rng.random_range(0.0..1.0) * weights.iter().sum::<f64>();
        let mut acc = 0.0;
        let mut last = 0;
        for (id, &w) in weights.iter().enumerate() {
            if w > 0.0 {
                acc += w;
                last = id;
                if acc > draw {
                    return id as u32;
                }
            }
        }
        return last as u32;
    }
    let mut probs: Vec<(u32, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, (f64::from(l - max) / t).exp()))
        .collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut kept = 0;
    let mut mass = 0.0;
    for (_, p) in &probs {
        kept += 1;
        mass += p / total;
        if mass >= sampling.top_p {
            break;
        }
    }
    let draw = rng.random_range(0.0..mass) * total;
    let mut acc = 0.0;
    for &(id, p) in &probs[..kept] {
        acc += p;
        if acc > draw {
            return id;
        }
    }
    probs[kept - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn nucleus_sampling_keeps_the_top_mass_and_temperature_sharpens() {
        let logits = [0.0f32, 2.0, 1.0, -3.0];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // p ∝ (1, e², e, e⁻³) = (0.090, 0.665, 0.245, 0.0045): top_p 0.7 keeps tokens 1 and 2.
        let nucleus = Sampling {
            temperature: 1.0,
            top_p: 0.7,
        };
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            counts[sample(&logits, nucleus, &mut rng) as usize] += 1;
        }
        assert_eq!((counts[0], counts[3]), (0, 0), "{counts:?}");
        // Within the nucleus: 0.665 / 0.910 = 0.731 for token 1.
        let share = counts[1] as f64 / 4000.0;
        assert!((share - 0.731).abs() < 0.03, "{counts:?}");
        // The whole vocabulary (top_p 1, drawn without sorting): p(token 1) = 0.665.
        let whole = Sampling {
            temperature: 1.0,
            top_p: 1.0,
        };
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            counts[sample(&logits, whole, &mut rng) as usize] += 1;
        }
        assert!(
            (counts[1] as f64 / 4000.0 - 0.665).abs() < 0.03,
            "{counts:?}"
        );
        assert!(
            (counts[2] as f64 / 4000.0 - 0.245).abs() < 0.03,
            "{counts:?}"
        );
        let cold = Sampling {
            temperature: 0.05,
            top_p: 1.0,
        };
        assert!((0..100).all(|_| sample(&logits, cold, &mut rng) == 1));
    }
}
