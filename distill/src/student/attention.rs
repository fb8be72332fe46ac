//! Causal grouped-query attention over packed sequences, forward and backward.
//!
//! The rows of a micro-batch are several sequences laid end to end; each query attends to the
//! keys of its own sequence up to its own position (a block-diagonal causal mask, so packing
//! equals padding). Scores and probabilities live only inside one (sequence, head) task: the
//! forward pass keeps each row's log-sum-exp, the backward pass recomputes the probabilities
//! from it (as FlashAttention does), so memory stays linear in the sequence length.

use candle_core::{Result, Tensor};
use rayon::prelude::*;

use super::math::exp;
use super::tensor::{dot, modify, tensor, view};

/// Where one sequence's queries and keys are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First query row.
    pub q_start: usize,
    /// Query rows.
    pub q_len: usize,
    /// First key/value row.
    pub k_start: usize,
    /// Key/value rows; the last `q_len` keys are the queries' own positions.
    pub k_len: usize,
}

impl Span {
    /// A sequence attending to itself (training, or a prompt without cache).
    pub fn own(start: usize, len: usize) -> Span {
        Span {
            q_start: start,
            q_len: len,
            k_start: start,
            k_len: len,
        }
    }
}

/// Head layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heads {
    /// Query heads.
    pub q: usize,
    /// Key/value heads.
    pub kv: usize,
    /// Width of a head.
    pub dim: usize,
}

impl Heads {
    fn group(&self) -> usize {
        self.q / self.kv
    }

    fn scale(&self) -> f32 {
        1.0 / (self.dim as f32).sqrt()
    }
}

/// Softmax of each causal row of `scores` (`[q_len, k_len]`) after scaling, in place; masked
/// entries become 0. Returns each row's log-sum-exp of the scaled scores.
fn causal_softmax(scores: &mut [f32], q_len: usize, k_len: usize, scale: f32) -> Vec<f32> {
    let offset = k_len - q_len;
    let mut lse = Vec::with_capacity(q_len);
    for (i, row) in scores.chunks_mut(k_len).enumerate() {
        let visible = offset + i + 1;
        let (seen, masked) = row.split_at_mut(visible);
        let max = seen
            .iter()
            .fold(f32::NEG_INFINITY, |m, &s| m.max(s * scale));
        let mut sum = 0f32;
        for s in seen.iter_mut() {
            *s = exp(*s * scale - max);
            sum += *s;
        }
        let inv = 1.0 / sum;
        seen.iter_mut().for_each(|s| *s *= inv);
        masked.iter_mut().for_each(|s| *s = 0.0);
        lse.push(max + sum.ln());
    }
    lse
}

/// Attention output `[q rows, heads.q * dim]` and the log-sum-exp of every (span, head, row).
///
/// `q` holds the queries of every span's rows (`[rows, heads.q * dim]`), `k` and `v` the keys and
/// values (`[rows, heads.kv * dim]`); spans may index them differently (a KV cache).
pub fn forward(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    spans: &[Span],
    heads: Heads,
) -> Result<(Tensor, Vec<Vec<f32>>)> {
    let (rows, width) = q.dims2()?;
    let tasks: Vec<(usize, usize)> = (0..spans.len())
        .flat_map(|s| (0..heads.q).map(move |h| (s, h)))
        .collect();
    let results: Vec<Result<(Tensor, Vec<f32>)>> = tasks
        .par_iter()
        .map(|&(s, h)| {
            let span = spans[s];
            let g = h / heads.group();
            let qh = q
                .narrow(0, span.q_start, span.q_len)?
                .narrow(1, h * heads.dim, heads.dim)?;
            let kg = k
                .narrow(0, span.k_start, span.k_len)?
                .narrow(1, g * heads.dim, heads.dim)?;
            let vg = v
                .narrow(0, span.k_start, span.k_len)?
                .narrow(1, g * heads.dim, heads.dim)?;
            let scores = qh.matmul(&kg.t()?)?;
            let mut lse = Vec::new();
            modify(&scores, |data| {
                lse = causal_softmax(data, span.q_len, span.k_len, heads.scale());
            })?;
            Ok((scores.matmul(&vg)?, lse))
        })
        .collect();
    let mut out = vec![0f32; rows * width];
    let mut lses = Vec::with_capacity(tasks.len());
    for (&(s, h), result) in tasks.iter().zip(results) {
        let (head_out, lse) = result?;
        let span = spans[s];
        let head_out = view(&head_out)?;
        for (i, row) in head_out.slice().chunks(heads.dim).enumerate() {
            let at = (span.q_start + i) * width + h * heads.dim;
            out[at..at + heads.dim].copy_from_slice(row);
        }
        lses.push(lse);
    }
    Ok((tensor(out, (rows, width))?, lses))
}

/// Decoding: one query row per sequence, row `i` attending to every key and value of
/// `caches[i]` (`(keys, values)`, each `[len_i, kv·dim]` row-major, its own position last).
/// Plain loops over the cache slices: no copy of the caches into one tensor and no tensor op
/// per head, which cost more than the arithmetic for a single query.
pub fn decode(q: &[f32], caches: &[(&[f32], &[f32])], heads: Heads) -> Vec<f32> {
    let width = heads.q * heads.dim;
    let kw = heads.kv * heads.dim;
    let scale = heads.scale();
    let tasks: Vec<(usize, usize)> = (0..caches.len())
        .flat_map(|i| (0..heads.q).map(move |h| (i, h)))
        .collect();
    let outs: Vec<Vec<f32>> = tasks
        .par_iter()
        .map(|&(i, h)| {
            let (keys, values) = caches[i];
            let g = h / heads.group();
            let qh = &q[i * width + h * heads.dim..][..heads.dim];
            let mut scores: Vec<f32> = keys
                .chunks_exact(kw)
                .map(|k| {
                    let kh = &k[g * heads.dim..][..heads.dim];
                    qh.iter().zip(kh).map(|(a, b)| a * b).sum::<f32>() * scale
                })
                .collect();
            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut total = 0f32;
            for s in &mut scores {
                *s = (*s - max).exp();
                total += *s;
            }
            let mut out = vec![0f32; heads.dim];
            for (p, v) in scores.iter().zip(values.chunks_exact(kw)) {
                let vh = &v[g * heads.dim..][..heads.dim];
                let w = p / total;
                out.iter_mut().zip(vh).for_each(|(o, x)| *o += w * x);
            }
            out
        })
        .collect();
    let mut out = vec![0f32; caches.len() * width];
    for (&(i, h), head) in tasks.iter().zip(outs) {
        out[i * width + h * heads.dim..][..heads.dim].copy_from_slice(&head);
    }
    out
}

/// Gradients of the queries, keys and values given the output gradient `d_out`; `out` and
/// `lse` are what [`forward`] returned for the same inputs. Spans must attend to themselves
/// (training).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    out: &Tensor,
    lse: &[Vec<f32>],
    d_out: &Tensor,
    spans: &[Span],
    heads: Heads,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (rows, q_width) = q.dims2()?;
    let kv_width = heads.kv * heads.dim;
    let group = heads.group();
    let tasks: Vec<(usize, usize)> = (0..spans.len())
        .flat_map(|s| (0..heads.kv).map(move |g| (s, g)))
        .collect();
    // Per task: the query gradients of the group's heads, then the key and value gradients.
    let results: Vec<Result<(Vec<Tensor>, Tensor, Tensor)>> = tasks
        .par_iter()
        .map(|&(s, g)| {
            let span = spans[s];
            let (start, len, dim) = (span.q_start, span.q_len, heads.dim);
            let kg = k.narrow(0, start, len)?.narrow(1, g * dim, dim)?;
            let vg = v.narrow(0, start, len)?.narrow(1, g * dim, dim)?;
            let mut dq = Vec::with_capacity(group);
            let mut dk: Option<Tensor> = None;
            let mut dv: Option<Tensor> = None;
            for h in g * group..(g + 1) * group {
                let qh = q.narrow(0, start, len)?.narrow(1, h * dim, dim)?;
                let oh = out
                    .narrow(0, start, len)?
                    .narrow(1, h * dim, dim)?
                    .contiguous()?;
                let doh = d_out
                    .narrow(0, start, len)?
                    .narrow(1, h * dim, dim)?
                    .contiguous()?;
                let row_lse = &lse[s * heads.q + h];
                // P from the saved log-sum-exp.
                let probs = qh.matmul(&kg.t()?)?;
                let scale = heads.scale();
                modify(&probs, |data| {
                    for (i, row) in data.chunks_mut(len).enumerate() {
                        let (seen, masked) = row.split_at_mut(i + 1);
                        seen.iter_mut()
                            .for_each(|p| *p = exp(*p * scale - row_lse[i]));
                        masked.iter_mut().for_each(|p| *p = 0.0);
                    }
                })?;
                // dS = P ⊙ (dP − rowsum(dO ⊙ O)) · scale, written over dP.
                let d_scores = doh.matmul(&vg.t()?)?;
                {
                    let p = view(&probs)?;
                    let (o, d) = (view(&oh)?, view(&doh)?);
                    let (p, o, d) = (p.slice(), o.slice(), d.slice());
                    modify(&d_scores, |data| {
                        for (i, row) in data.chunks_mut(len).enumerate() {
                            let delta = dot(&d[i * dim..(i + 1) * dim], &o[i * dim..(i + 1) * dim]);
                            let p_row = &p[i * len..(i + 1) * len];
                            row.iter_mut()
                                .zip(p_row)
                                .for_each(|(ds, &p)| *ds = p * (*ds - delta) * scale);
                        }
                    })?;
                }
                dq.push(d_scores.matmul(&kg)?);
                let dk_h = d_scores.t()?.matmul(&qh)?;
                let dv_h = probs.t()?.matmul(&doh)?;
                dk = Some(match dk {
                    None => dk_h,
                    Some(sum) => (sum + dk_h)?,
                });
                dv = Some(match dv {
                    None => dv_h,
                    Some(sum) => (sum + dv_h)?,
                });
            }
            match (dk, dv) {
                (Some(dk), Some(dv)) => Ok((dq, dk, dv)),
                _ => candle_core::bail!("attention group without heads"),
            }
        })
        .collect();
    let mut dq_all = vec![0f32; rows * q_width];
    let mut dk_all = vec![0f32; rows * kv_width];
    let mut dv_all = vec![0f32; rows * kv_width];
    for (&(s, g), result) in tasks.iter().zip(results) {
        let (dq, dk, dv) = result?;
        let span = spans[s];
        let dim = heads.dim;
        for (j, dq_h) in dq.iter().enumerate() {
            let h = g * group + j;
            let dq_h = view(dq_h)?;
            for (i, row) in dq_h.slice().chunks(dim).enumerate() {
                let at = (span.q_start + i) * q_width + h * dim;
                dq_all[at..at + dim].copy_from_slice(row);
            }
        }
        for (source, target) in [(&dk, &mut dk_all), (&dv, &mut dv_all)] {
            let source = view(source)?;
            for (i, row) in source.slice().chunks(dim).enumerate() {
                let at = (span.q_start + i) * kv_width + g * dim;
                target[at..at + dim].copy_from_slice(row);
            }
        }
    }
    Ok((
        tensor(dq_all, (rows, q_width))?,
        tensor(dk_all, (rows, kv_width))?,
        tensor(dv_all, (rows, kv_width))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_are_causal_and_sum_to_one() {
        let mut scores: Vec<f32> = (0..12).map(|i| i as f32).collect();
        // 3 queries over 4 keys: the first query sees keys 0 and 1.
        let lse = causal_softmax(&mut scores, 3, 4, 0.5);
        assert_eq!(&scores[2..4], &[0.0, 0.0]);
        for row in scores.chunks(4) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        let expected = ((0.0f32).exp() + (0.5f32).exp()).ln();
        assert!((lse[0] - expected).abs() < 1e-6);
    }

    #[test]
    fn decoding_from_the_caches_equals_the_span_attention() {
        // Two sequences (5 and 3 cached positions), 4 query heads over 2 key/value heads.
        let heads = Heads {
            q: 4,
            kv: 2,
            dim: 3,
        };
        let value = |i: usize| ((i * 37 % 23) as f32 - 11.0) / 7.0;
        let kw = heads.kv * heads.dim;
        let keys: Vec<f32> = (0..8 * kw).map(|i| value(i + 5)).collect();
        let values: Vec<f32> = (0..8 * kw).map(|i| value(3 * i + 1)).collect();
        let q: Vec<f32> = (0..2 * heads.q * heads.dim).map(value).collect();
        let caches = [
            (&keys[..5 * kw], &values[..5 * kw]),
            (&keys[5 * kw..], &values[5 * kw..]),
        ];
        let decoded = decode(&q, &caches, heads);
        let t = |data: &[f32], rows: usize| {
            tensor(data.to_vec(), (rows, data.len() / rows)).unwrap_or_else(|e| panic!("{e}"))
        };
        let spans = [
            Span {
                q_start: 0,
                q_len: 1,
                k_start: 0,
                k_len: 5,
            },
            Span {
                q_start: 1,
                q_len: 1,
                k_start: 5,
                k_len: 3,
            },
        ];
        let (expected, _) = forward(&t(&q, 2), &t(&keys, 8), &t(&values, 8), &spans, heads)
            .unwrap_or_else(|e| panic!("{e}"));
        let expected = expected
            .flatten_all()
            .and_then(|e| e.to_vec1::<f32>())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded.len(), expected.len());
        for (a, b) in decoded.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-5, "{decoded:?} vs {expected:?}");
        }
    }
}
