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

/// Head layout and how scores are formed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heads {
    /// Query heads.
    pub q: usize,
    /// Key/value heads.
    pub kv: usize,
    /// Width of a head.
    pub dim: usize,
    /// Dot products are multiplied by this.
    pub scale: f32,
    /// A query sees only the last `window` keys up to its own position (sliding window).
    pub window: Option<usize>,
}

impl Heads {
    /// Plain causal attention scaled by `1/sqrt(dim)`.
    pub fn new(q: usize, kv: usize, dim: usize) -> Heads {
        Heads {
            q,
            kv,
            dim,
            scale: 1.0 / (dim as f32).sqrt(),
            window: None,
        }
    }

    fn group(&self) -> usize {
        self.q / self.kv
    }

    /// The first key visible from a query that sees keys up to `end` (exclusive).
    fn first_key(&self, end: usize) -> usize {
        self.window.map_or(0, |w| end.saturating_sub(w))
    }
}

/// `values` folded by `f` in eight independent lanes (so the loop vectorises), then the lanes
/// folded together.
fn lanes(values: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = values.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(init, |a, &v| f(a, v));
    for chunk in chunks {
        for i in 0..8 {
            acc[i] = f(acc[i], chunk[i]);
        }
    }
    acc.iter().fold(tail, |a, &v| f(a, v))
}

/// Softmax of each causal row of dot products `scores` (`[q_len, k_len]`) after scaling, in
/// place; masked entries become 0. Returns each row's log-sum-exp of the scaled scores.
fn causal_softmax(scores: &mut [f32], q_len: usize, k_len: usize, heads: Heads) -> Vec<f32> {
    let offset = k_len - q_len;
    let mut lse = Vec::with_capacity(q_len);
    for (i, row) in scores.chunks_mut(k_len).enumerate() {
        let end = offset + i + 1;
        let start = heads.first_key(end);
        let (before, rest) = row.split_at_mut(start);
        let (seen, after) = rest.split_at_mut(end - start);
        seen.iter_mut().for_each(|s| *s *= heads.scale);
        let max = lanes(seen, f32::NEG_INFINITY, f32::max);
        seen.iter_mut().for_each(|s| *s = exp(*s - max));
        let sum = lanes(seen, 0.0, |a, b| a + b);
        let inv = 1.0 / sum;
        seen.iter_mut().for_each(|s| *s *= inv);
        before.iter_mut().for_each(|s| *s = 0.0);
        after.iter_mut().for_each(|s| *s = 0.0);
        lse.push(max + sum.ln());
    }
    lse
}

/// Query rows per block of the causal attention: a block of queries multiplies only the keys
/// up to its last row, so the products skip most of the masked upper triangle (for the ~550-token
/// PRM rows, 5 blocks compute 60 % of the full square's scores). Smaller blocks skip more but make
/// smaller, less efficient matrix products; 64 and 128 measured within 1 % of each other on the
/// PRM benchmark (`benchmarks/train/trl_compare.sh`).
const QUERY_BLOCK: usize = 128;

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
    forward_blocked(q, k, v, spans, heads, QUERY_BLOCK)
}

/// [`forward`] with query blocks of `block` rows.
fn forward_blocked(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    spans: &[Span],
    heads: Heads,
    block: usize,
) -> Result<(Tensor, Vec<Vec<f32>>)> {
    let (rows, width) = q.dims2()?;
    let tasks: Vec<(usize, usize)> = (0..spans.len())
        .flat_map(|s| (0..heads.q).map(move |h| (s, h)))
        .collect();
    let results: Vec<Result<(Vec<f32>, Vec<f32>)>> = tasks
        .par_iter()
        .map(|&(s, h)| {
            let span = spans[s];
            let g = h / heads.group();
            let dim = heads.dim;
            // Keys before the first query (a KV cache) are visible to every query.
            let offset = span.k_len - span.q_len;
            let mut head_out = Vec::with_capacity(span.q_len * dim);
            let mut lse = Vec::with_capacity(span.q_len);
            for a in (0..span.q_len).step_by(block) {
                let b = (a + block).min(span.q_len);
                let keys = offset + b;
                let qh = q
                    .narrow(0, span.q_start + a, b - a)?
                    .narrow(1, h * dim, dim)?;
                let kg = k.narrow(0, span.k_start, keys)?.narrow(1, g * dim, dim)?;
                let vg = v.narrow(0, span.k_start, keys)?.narrow(1, g * dim, dim)?;
                let scores = qh.matmul(&kg.t()?)?;
                modify(&scores, |data| {
                    lse.extend(causal_softmax(data, b - a, keys, heads));
                })?;
                head_out.extend_from_slice(view(&scores.matmul(&vg)?)?.slice());
            }
            Ok((head_out, lse))
        })
        .collect();
    let mut out = vec![0f32; rows * width];
    let mut lses = Vec::with_capacity(tasks.len());
    for (&(s, h), result) in tasks.iter().zip(results) {
        let (head_out, lse) = result?;
        let span = spans[s];
        for (i, row) in head_out.chunks(heads.dim).enumerate() {
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
    let tasks: Vec<(usize, usize)> = (0..caches.len())
        .flat_map(|i| (0..heads.q).map(move |h| (i, h)))
        .collect();
    let outs: Vec<Vec<f32>> = tasks
        .par_iter()
        .map(|&(i, h)| {
            let (keys, values) = caches[i];
            let first = heads.first_key(keys.len() / kw);
            let (keys, values) = (&keys[first * kw..], &values[first * kw..]);
            let g = h / heads.group();
            let qh = &q[i * width + h * heads.dim..][..heads.dim];
            let mut scores: Vec<f32> = keys
                .chunks_exact(kw)
                .map(|k| {
                    let kh = &k[g * heads.dim..][..heads.dim];
                    qh.iter().zip(kh).map(|(a, b)| a * b).sum::<f32>() * heads.scale
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
    backward_blocked(q, k, v, out, lse, d_out, spans, heads, QUERY_BLOCK)
}

/// The gradients of one (span, key/value group): each of the group's heads' query gradients,
/// then the key and value gradients summed over the group, all `[len, dim]` row-major.
type GroupGrads = (Vec<Vec<f32>>, Vec<f32>, Vec<f32>);

/// [`backward`] with query blocks of `block` rows: block `[a, b)` of a head's queries
/// recomputes its probabilities against keys `[0, b)` only and adds its share to those keys'
/// and values' gradients.
#[allow(clippy::too_many_arguments)]
fn backward_blocked(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    out: &Tensor,
    lse: &[Vec<f32>],
    d_out: &Tensor,
    spans: &[Span],
    heads: Heads,
    block: usize,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (rows, q_width) = q.dims2()?;
    let kv_width = heads.kv * heads.dim;
    let group = heads.group();
    let tasks: Vec<(usize, usize)> = (0..spans.len())
        .flat_map(|s| (0..heads.kv).map(move |g| (s, g)))
        .collect();
    let results: Vec<Result<GroupGrads>> = tasks
        .par_iter()
        .map(|&(s, g)| {
            let span = spans[s];
            let (start, len, dim) = (span.q_start, span.q_len, heads.dim);
            let mut dq = Vec::with_capacity(group);
            let mut dk = vec![0f32; len * dim];
            let mut dv = vec![0f32; len * dim];
            for h in g * group..(g + 1) * group {
                let row_lse = &lse[s * heads.q + h];
                let mut dq_h = Vec::with_capacity(len * dim);
                for a in (0..len).step_by(block) {
                    let b = (a + block).min(len);
                    let kg = k.narrow(0, start, b)?.narrow(1, g * dim, dim)?;
                    let vg = v.narrow(0, start, b)?.narrow(1, g * dim, dim)?;
                    let qh = q.narrow(0, start + a, b - a)?.narrow(1, h * dim, dim)?;
                    let rows_of = |t: &Tensor| -> Result<Tensor> {
                        t.narrow(0, start + a, b - a)?
                            .narrow(1, h * dim, dim)?
                            .contiguous()
                    };
                    let (oh, doh) = (rows_of(out)?, rows_of(d_out)?);
                    // P from the saved log-sum-exp; query a + i sees keys up to a + i (the
                    // window's last ones).
                    let probs = qh.matmul(&kg.t()?)?;
                    modify(&probs, |data| {
                        for (i, row) in data.chunks_mut(b).enumerate() {
                            let end = a + i + 1;
                            let start = heads.first_key(end);
                            let (before, rest) = row.split_at_mut(start);
                            let (seen, after) = rest.split_at_mut(end - start);
                            seen.iter_mut()
                                .for_each(|p| *p = exp(*p * heads.scale - row_lse[a + i]));
                            before.iter_mut().for_each(|p| *p = 0.0);
                            after.iter_mut().for_each(|p| *p = 0.0);
                        }
                    })?;
                    // dS = P ⊙ (dP − rowsum(dO ⊙ O)) · scale, written over dP.
                    let d_scores = doh.matmul(&vg.t()?)?;
                    {
                        let p = view(&probs)?;
                        let (o, d) = (view(&oh)?, view(&doh)?);
                        let (p, o, d) = (p.slice(), o.slice(), d.slice());
                        modify(&d_scores, |data| {
                            for (i, row) in data.chunks_mut(b).enumerate() {
                                let delta =
                                    dot(&d[i * dim..(i + 1) * dim], &o[i * dim..(i + 1) * dim]);
                                let p_row = &p[i * b..(i + 1) * b];
                                row.iter_mut()
                                    .zip(p_row)
                                    .for_each(|(ds, &p)| *ds = p * (*ds - delta) * heads.scale);
                            }
                        })?;
                    }
                    dq_h.extend_from_slice(view(&d_scores.matmul(&kg)?)?.slice());
                    let dk_part = d_scores.t()?.matmul(&qh)?;
                    let dv_part = probs.t()?.matmul(&doh)?;
                    add_into(&mut dk[..b * dim], view(&dk_part)?.slice());
                    add_into(&mut dv[..b * dim], view(&dv_part)?.slice());
                }
                dq.push(dq_h);
            }
            Ok((dq, dk, dv))
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
            for (i, row) in dq_h.chunks(dim).enumerate() {
                let at = (span.q_start + i) * q_width + h * dim;
                dq_all[at..at + dim].copy_from_slice(row);
            }
        }
        for (source, target) in [(&dk, &mut dk_all), (&dv, &mut dv_all)] {
            for (i, row) in source.chunks(dim).enumerate() {
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

/// `dst += src` on one thread (inside a task that already runs in parallel).
fn add_into(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_are_causal_and_sum_to_one() {
        let mut scores: Vec<f32> = (0..12).map(|i| i as f32).collect();
        // 3 queries over 4 keys: the first query sees keys 0 and 1.
        let heads = Heads {
            scale: 0.5,
            ..Heads::new(1, 1, 4)
        };
        let lse = causal_softmax(&mut scores, 3, 4, heads);
        assert_eq!(&scores[2..4], &[0.0, 0.0]);
        for row in scores.chunks(4) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        let expected = ((0.0f32).exp() + (0.5f32).exp()).ln();
        assert!((lse[0] - expected).abs() < 1e-6);
    }

    fn to_vec(t: &Tensor) -> Vec<f32> {
        t.flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() < 1e-5, "{what}[{i}]: {x} vs {y}");
        }
    }

    #[test]
    fn query_blocks_equal_the_whole_square_forward_and_backward() {
        query_blocks_equal_the_whole_square(Heads::new(4, 2, 3));
        // A 4-key sliding window (Mistral, Gemma 3) and another scale.
        query_blocks_equal_the_whole_square(Heads {
            scale: 0.3,
            window: Some(4),
            ..Heads::new(4, 2, 3)
        });
    }

    fn query_blocks_equal_the_whole_square(heads: Heads) {
        // Sequences of 7 and 5 rows, 4 query heads over 2 key/value heads; blocks of 3 rows
        // split both unevenly, a block of 64 holds each whole.
        let value = |i: usize, m: usize| ((i * m % 29) as f32 - 14.0) / 9.0;
        let rows = 12;
        let t = |m: usize, width: usize| {
            tensor(
                (0..rows * width).map(|i| value(i, m)).collect(),
                (rows, width),
            )
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let (q, k, v) = (t(31, 12), t(17, 6), t(23, 6));
        let d_out = t(13, 12);
        let spans = [Span::own(0, 7), Span::own(7, 5)];
        let run = |block: usize| {
            let (out, lse) =
                forward_blocked(&q, &k, &v, &spans, heads, block).unwrap_or_else(|e| panic!("{e}"));
            let (dq, dk, dv) =
                backward_blocked(&q, &k, &v, &out, &lse, &d_out, &spans, heads, block)
                    .unwrap_or_else(|e| panic!("{e}"));
            let lse: Vec<f32> = lse.concat();
            [to_vec(&out), lse, to_vec(&dq), to_vec(&dk), to_vec(&dv)]
        };
        let (blocked, whole) = (run(3), run(64));
        for (what, (a, b)) in ["out", "lse", "dq", "dk", "dv"]
            .iter()
            .zip(blocked.iter().zip(&whole))
        {
            close(a, b, what);
        }
        // Queries after a cache: 4 queries over 9 keys, the first 5 cached.
        let cached = [Span {
            q_start: 0,
            q_len: 4,
            k_start: 3,
            k_len: 9,
        }];
        let forward_with = |block: usize| {
            let (out, lse) = forward_blocked(&q, &k, &v, &cached, heads, block)
                .unwrap_or_else(|e| panic!("{e}"));
            (to_vec(&out), lse.concat())
        };
        let ((out3, lse3), (out64, lse64)) = (forward_with(3), forward_with(64));
        close(&out3, &out64, "cached out");
        close(&lse3, &lse64, "cached lse");
    }

    #[test]
    fn decoding_from_the_caches_equals_the_span_attention() {
        decoding_equals_the_span_attention(Heads::new(4, 2, 3));
        decoding_equals_the_span_attention(Heads {
            scale: 0.3,
            window: Some(4),
            ..Heads::new(4, 2, 3)
        });
    }

    #[test]
    fn a_window_hides_the_keys_before_it() {
        // 3 queries over 4 keys through a 2-key window: query 0 sees keys 0 and 1, query 2
        // keys 2 and 3.
        let mut scores: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let heads = Heads {
            window: Some(2),
            ..Heads::new(1, 1, 1)
        };
        causal_softmax(&mut scores, 3, 4, heads);
        for (row, seen) in scores.chunks(4).zip([0..2, 1..3, 2..4]) {
            for (j, &p) in row.iter().enumerate() {
                assert_eq!(p > 0.0, seen.contains(&j), "{row:?}");
            }
        }
    }

    fn decoding_equals_the_span_attention(heads: Heads) {
        // Two sequences (5 and 3 cached positions), 4 query heads over 2 key/value heads.
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
