//! Rotary position embedding in transformers' "rotate half" layout: dimension `i` of a head is
//! paired with dimension `i + head_dim / 2`.

use rayon::prelude::*;

use super::tensor::ROW_BLOCK;

/// Cosine and sine tables, `[positions, head_dim / 2]`, grown on demand.
#[derive(Debug, Clone)]
pub struct Rope {
    inv_freq: Vec<f32>,
    half: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl Rope {
    /// Tables for the first `positions` positions, at inverse frequencies `inv_freq` (one per
    /// pair of head dimensions).
    pub fn new(inv_freq: Vec<f32>, positions: usize) -> Rope {
        let mut rope = Rope {
            half: inv_freq.len(),
            inv_freq,
            cos: Vec::new(),
            sin: Vec::new(),
        };
        rope.ensure(positions);
        rope
    }

    /// Number of positions the tables cover.
    pub fn positions(&self) -> usize {
        self.cos.len() / self.half.max(1)
    }

    /// Extends the tables to cover `positions` positions.
    pub fn ensure(&mut self, positions: usize) {
        let have = self.positions();
        for p in have..positions {
            for &f in &self.inv_freq {
                // transformers: f32 angle = position * inv_freq, then f32 cos/sin.
                let angle = p as f32 * f;
                self.cos.push(angle.cos());
                self.sin.push(angle.sin());
            }
        }
    }

    /// Rotates every head of every row of `x` (`[rows, width]`, heads of `2 * half` columns) by
    /// its row's position; `inverse` applies the transposed rotation (the backward pass).
    pub fn rotate(&self, x: &mut [f32], width: usize, positions: &[usize], inverse: bool) {
        let half = self.half;
        let sign = if inverse { -1.0 } else { 1.0 };
        x.par_chunks_mut(width * ROW_BLOCK)
            .zip(positions.par_chunks(ROW_BLOCK))
            .for_each(|(rows, positions)| {
                for (row, &p) in rows.chunks_mut(width).zip(positions) {
                    let cos = &self.cos[p * half..(p + 1) * half];
                    let sin = &self.sin[p * half..(p + 1) * half];
                    for head in row.chunks_mut(2 * half) {
                        let (a, b) = head.split_at_mut(half);
                        for i in 0..half {
                            let (x1, x2) = (a[i], b[i]);
                            let s = sign * sin[i];
                            a[i] = x1 * cos[i] - x2 * s;
                            b[i] = x2 * cos[i] + x1 * s;
                        }
                    }
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::student::testing::tiny_config;

    #[test]
    fn inverse_rotation_undoes_the_rotation_and_keeps_norms() {
        let cfg = tiny_config();
        let rope = Rope::new(cfg.inv_freq(), 8);
        let width = cfg.q_width();
        let original: Vec<f32> = (0..3 * width).map(|i| (i as f32 * 0.37).sin()).collect();
        let positions = [0, 5, 7];
        let mut x = original.clone();
        rope.rotate(&mut x, width, &positions, false);
        // Position 0 is the identity.
        assert_eq!(&x[..width], &original[..width]);
        assert_ne!(&x[width..], &original[width..]);
        let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>();
        assert!((norm(&x) - norm(&original)).abs() < 1e-4);
        rope.rotate(&mut x, width, &positions, true);
        for (a, b) in x.iter().zip(&original) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}
