//! Raw `f32` access to CPU tensors, in-place updates, and the deterministic parallel loops the
//! trainer's kernels are written with.
//!
//! candle's tensors stay the storage and candle's matmul (gemm) does the heavy products; the
//! element-wise work around them (norms, rotary embedding, attention softmax, the loss) is fused
//! here into single passes over row blocks, spread over rayon's threads. Every reduction is
//! split into fixed blocks whose partial results are combined in order, so a result does not
//! depend on how the work was scheduled.

use std::cell::RefCell;
use std::sync::RwLockReadGuard;

use candle_core::{bail, CpuStorage, Device, InplaceOp1, Layout, Result, Shape, Storage, Tensor};
use rayon::prelude::*;

/// Rows per block in row-parallel loops and block reductions (fixed: results must not depend
/// on the thread count).
pub(crate) const ROW_BLOCK: usize = 16;

/// A read lock on a contiguous `f32` CPU tensor.
pub(crate) struct View<'a> {
    guard: RwLockReadGuard<'a, Storage>,
    start: usize,
    end: usize,
}

impl View<'_> {
    /// The tensor's elements in row-major order.
    pub(crate) fn slice(&self) -> &[f32] {
        match &*self.guard {
            Storage::Cpu(CpuStorage::F32(data)) => &data[self.start..self.end],
            // `view` checked the storage kind.
            _ => &[],
        }
    }
}

/// Read access to `t`, which must be a contiguous `f32` tensor on the CPU.
pub(crate) fn view(t: &Tensor) -> Result<View<'_>> {
    let (guard, layout) = t.storage_and_layout();
    let Some((start, end)) = layout.contiguous_offsets() else {
        bail!(
            "expected a contiguous tensor, got strides {:?}",
            layout.stride()
        )
    };
    if !matches!(&*guard, Storage::Cpu(CpuStorage::F32(_))) {
        bail!("expected an f32 tensor on the CPU, got {:?}", t.dtype())
    }
    Ok(View { guard, start, end })
}

/// A tensor owning `data`.
pub(crate) fn tensor(data: Vec<f32>, shape: impl Into<Shape>) -> Result<Tensor> {
    Tensor::from_vec(data, shape, &Device::Cpu)
}

/// An in-place update of a tensor's elements.
struct Modify<F>(RefCell<Option<F>>);

impl<F: FnOnce(&mut [f32])> InplaceOp1 for Modify<F> {
    fn name(&self) -> &'static str {
        "modify"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            bail!("in-place update of a non-contiguous tensor")
        };
        let CpuStorage::F32(data) = storage else {
            bail!("in-place update of a tensor that is not f32")
        };
        if let Some(f) = self.0.borrow_mut().take() {
            f(&mut data[start..end]);
        }
        Ok(())
    }
}

/// Runs `f` on the elements of `t` in place. Every tensor sharing `t`'s storage sees the change,
/// so this is only used on tensors the trainer owns (parameters, gradients, its own buffers).
pub(crate) fn modify(t: &Tensor, f: impl FnOnce(&mut [f32])) -> Result<()> {
    t.inplace_op1(&Modify(RefCell::new(Some(f))))
}

/// Row batches at most this tall take [`matmul_nt`]'s few-rows kernel.
const FEW_ROWS: usize = 16;
/// Weight rows per parallel task of the few-rows kernel.
const WEIGHT_ROWS_PER_TASK: usize = 64;

/// `x W^T` for a row batch `x` `[n, in]` and a weight `w` `[out, in]`.
///
/// A few rows (decoding: one per sequence) take a kernel that streams every weight row once and
/// dots it with all of them. gemm packs the whole weight before multiplying, which for a handful
/// of rows costs more than the product: it was 46 % of a GRPO rollout's profile (135M student,
/// 8 answers decoded together); this kernel took the rollout from 47 to 80 tokens/s on 2 cores.
pub(crate) fn matmul_nt(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let (n, k) = x.dims2()?;
    let (out, wk) = w.dims2()?;
    let plain = |t: &Tensor| t.is_contiguous() && t.dtype() == candle_core::DType::F32;
    if n > FEW_ROWS || k != wk || !plain(x) || !plain(w) || !x.device().is_cpu() {
        return x.matmul(&w.t()?);
    }
    let (xs, ws) = (view(x)?, view(w)?);
    let (xs, ws) = (xs.slice(), ws.slice());
    // [out, n], then transposed: each task owns a block of weight rows.
    let mut yt = vec![0f32; out * n];
    yt.par_chunks_mut(WEIGHT_ROWS_PER_TASK * n)
        .enumerate()
        .for_each(|(block, chunk)| {
            let first = block * WEIGHT_ROWS_PER_TASK;
            for (j, column) in chunk.chunks_mut(n).enumerate() {
                let row = &ws[(first + j) * k..][..k];
                for (m, y) in column.iter_mut().enumerate() {
                    *y = dot(&xs[m * k..][..k], row);
                }
            }
        });
    let mut y = vec![0f32; n * out];
    for (j, column) in yt.chunks(n).enumerate() {
        for (m, &v) in column.iter().enumerate() {
            y[m * out + j] = v;
        }
    }
    tensor(y, (n, out))
}

/// `A^T B` for `a` `[n, p]` and `b` `[n, q]`: `[p, q]`.
pub(crate) fn matmul_tn(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.t()?.matmul(b)
}

/// `dst += src`, element-wise, in parallel.
pub(crate) fn add_assign(dst: &mut [f32], src: &[f32]) {
    dst.par_chunks_mut(1 << 14)
        .zip(src.par_chunks(1 << 14))
        .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, s)| *d += s));
}

/// Column sums of a row-major `[rows, width]` matrix, in `f32`, summed in fixed row blocks.
pub(crate) fn column_sums(data: &[f32], width: usize) -> Vec<f32> {
    let partials: Vec<Vec<f32>> = data
        .par_chunks(width * ROW_BLOCK * 4)
        .map(|block| {
            let mut sums = vec![0f32; width];
            for row in block.chunks(width) {
                sums.iter_mut().zip(row).for_each(|(s, x)| *s += x);
            }
            sums
        })
        .collect();
    combine(partials, width)
}

/// The element-wise sum of equally long partial vectors, in their order.
pub(crate) fn combine(partials: Vec<Vec<f32>>, width: usize) -> Vec<f32> {
    let mut total = vec![0f32; width];
    for partial in partials {
        total.iter_mut().zip(&partial).for_each(|(t, p)| *t += p);
    }
    total
}

/// Sum of squares of `data` in `f64`, summed in fixed blocks (for gradient norms).
pub(crate) fn sum_of_squares(data: &[f32]) -> f64 {
    let partials: Vec<f64> = data
        .par_chunks(1 << 16)
        .map(|block| {
            // Eight lanes in f32 within a short block, then f64 across blocks.
            let mut lanes = [0f32; 8];
            let mut total = 0f64;
            for chunk in block.chunks(1024) {
                let mut parts = chunk.chunks_exact(8);
                for eight in &mut parts {
                    for (lane, x) in lanes.iter_mut().zip(eight) {
                        *lane += x * x;
                    }
                }
                let tail: f32 = parts.remainder().iter().map(|x| x * x).sum();
                total += lanes.iter().map(|&l| f64::from(l)).sum::<f64>() + f64::from(tail);
                lanes = [0f32; 8];
            }
            total
        })
        .collect();
    partials.iter().sum()
}

/// `a · b` in `f32` with eight independent lanes (so the loop vectorises).
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_and_in_place_updates() {
        let t = tensor(vec![1., 2., 3., 4.], (2, 2)).unwrap_or_else(|e| panic!("{e}"));
        modify(&t, |d| d.iter_mut().for_each(|x| *x *= 2.)).unwrap_or_else(|e| panic!("{e}"));
        let v = view(&t).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.slice(), &[2., 4., 6., 8.]);
        drop(v);
        assert!(view(&t.t().unwrap_or_else(|e| panic!("{e}"))).is_err());
        let w = tensor(vec![1., 0., 0., 1., 1., 1.], (3, 2)).unwrap_or_else(|e| panic!("{e}"));
        let y = matmul_nt(&t, &w).and_then(|y| y.to_vec2::<f32>());
        assert_eq!(y.ok(), Some(vec![vec![2., 4., 6.], vec![6., 8., 14.]]));
    }

    #[test]
    fn the_few_rows_product_equals_gemms() {
        let value = |i: usize| ((i * 7919 % 101) as f32 - 50.0) / 25.0;
        // 37 columns (a 16-wide remainder), 130 weight rows (a partial last task).
        let (k, out) = (37, 130);
        let w =
            tensor((0..out * k).map(value).collect(), (out, k)).unwrap_or_else(|e| panic!("{e}"));
        for n in [1, 3, FEW_ROWS, FEW_ROWS + 1] {
            let x = tensor((0..n * k).map(|i| value(i + 3)).collect(), (n, k))
                .unwrap_or_else(|e| panic!("{e}"));
            let got = matmul_nt(&x, &w).and_then(|y| y.to_vec2::<f32>());
            let want = x
                .matmul(&w.t().unwrap_or_else(|e| panic!("{e}")))
                .and_then(|y| y.to_vec2::<f32>());
            let (got, want) = (
                got.unwrap_or_else(|e| panic!("{e}")),
                want.unwrap_or_else(|e| panic!("{e}")),
            );
            for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "n {n}: {g} vs {w}"
                );
            }
        }
    }

    #[test]
    fn reductions_are_exact_on_small_integers() {
        let data: Vec<f32> = (0..300).map(|i| (i % 7) as f32).collect();
        let sums = column_sums(&data, 3);
        let expected: Vec<f32> = (0..3)
            .map(|c| data.iter().skip(c).step_by(3).sum())
            .collect();
        assert_eq!(sums, expected);
        let squares: f64 = data.iter().map(|&x| f64::from(x * x)).sum();
        assert_eq!(sum_of_squares(&data), squares);
        assert_eq!(dot(&data[..19], &data[1..20]), {
            let s: f32 = data[..19]
                .iter()
                .zip(&data[1..20])
                .map(|(a, b)| a * b)
                .sum();
            s
        });
    }
}
