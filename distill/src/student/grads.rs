//! Gradients of the trained tensors, accumulated over the micro-batches of one optimizer step.

use std::collections::{HashMap, HashSet};

use candle_core::{Result, Tensor, TensorId};

use candle_core::{CpuStorage, Storage};

use super::tensor::{add_assign, modify, view};

/// Whether `t` covers the whole of its storage (it is no view into a larger tensor).
fn owns_storage(t: &Tensor) -> bool {
    let (storage, layout) = t.storage_and_layout();
    let len = match &*storage {
        Storage::Cpu(CpuStorage::F32(data)) => data.len(),
        _ => return false,
    };
    layout.is_contiguous() && layout.start_offset() == 0 && len == t.elem_count()
}

/// The gradient of every trained tensor, keyed by the tensor's id. Tensors outside the trained
/// set get no gradient (the backward pass skips their weight products altogether).
#[derive(Debug, Default)]
pub struct Grads {
    trained: HashSet<TensorId>,
    grads: HashMap<TensorId, Tensor>,
}

impl Grads {
    /// Gradients for `trained` tensors only.
    pub fn new<'a>(trained: impl IntoIterator<Item = &'a Tensor>) -> Grads {
        Grads {
            trained: trained.into_iter().map(Tensor::id).collect(),
            grads: HashMap::new(),
        }
    }

    /// Whether `t` is trained (so its gradient should be computed).
    pub fn wants(&self, t: &Tensor) -> bool {
        self.trained.contains(&t.id())
    }

    /// Adds `g` (same shape as `t`, contiguous) to `t`'s gradient; ignored for untrained tensors.
    pub fn accumulate(&mut self, t: &Tensor, g: Tensor) -> Result<()> {
        if !self.wants(t) {
            return Ok(());
        }
        if g.dims() != t.dims() {
            candle_core::bail!(
                "gradient of shape {:?} for a tensor of shape {:?}",
                g.dims(),
                t.dims()
            );
        }
        match self.grads.get(&t.id()) {
            None => {
                // The sum is updated in place later: it must not share storage with anything.
                let g = if owns_storage(&g) { g } else { g.copy()? };
                self.grads.insert(t.id(), g);
            }
            Some(sum) => {
                let src = view(&g)?;
                modify(sum, |dst| add_assign(dst, src.slice()))?;
            }
        }
        Ok(())
    }

    /// Adds `values` (`[rows.len(), width]`) to rows `rows` of `t`'s gradient (an embedding
    /// matrix `[vocab, width]`), without a dense temporary; ignored for untrained tensors.
    pub fn scatter_rows(&mut self, t: &Tensor, rows: &[u32], values: &[f32]) -> Result<()> {
        if !self.wants(t) {
            return Ok(());
        }
        let (vocab, width) = t.dims2()?;
        if let Some(&bad) = rows.iter().find(|&&r| r as usize >= vocab) {
            candle_core::bail!("token id {bad} is outside the vocabulary of {vocab}");
        }
        let sum = match self.grads.entry(t.id()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(super::tensor::tensor(
                vec![0f32; vocab * width],
                (vocab, width),
            )?),
        };
        {
            modify(sum, |dst| {
                for (&r, row) in rows.iter().zip(values.chunks(width)) {
                    let at = r as usize * width;
                    dst[at..at + width]
                        .iter_mut()
                        .zip(row)
                        .for_each(|(d, v)| *d += v);
                }
            })?;
        }
        Ok(())
    }

    /// The gradient of `t`, if any was accumulated.
    pub fn get(&self, t: &Tensor) -> Option<&Tensor> {
        self.grads.get(&t.id())
    }

    /// Forgets every gradient (the trained set stays).
    pub fn clear(&mut self) {
        self.grads.clear();
    }
}
