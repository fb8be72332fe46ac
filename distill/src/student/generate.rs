//! Greedy decoding with the student itself (to check a saved checkpoint against `r2l serve`).

use candle_core::Result;

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
    let mut cache = KvCache::new();
    let mut out = Vec::with_capacity(max_new);
    if prompt.is_empty() || max_new == 0 {
        return Ok(out);
    }
    let logits = model.forward(prompt, &mut cache)?;
    let mut next = argmax(&logits.get(prompt.len() - 1)?)?;
    loop {
        out.push(next);
        if stop.contains(&next) || out.len() >= max_new {
            return Ok(out);
        }
        let logits = model.forward(&[next], &mut cache)?;
        next = argmax(&logits.get(0)?)?;
    }
}
