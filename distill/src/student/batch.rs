//! Micro-batches: sequences packed end to end (no padding; each attends only to itself), and
//! the seeded order in which an epoch visits the examples.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::attention::Span;
use super::tokenize::Sequence;

/// Sequences laid end to end, with the rows that predict a learnt token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Packed {
    /// Every token of every sequence.
    pub ids: Vec<u32>,
    /// Each sequence's rows.
    pub spans: Vec<Span>,
    /// Each row's position within its sequence.
    pub positions: Vec<usize>,
    /// Rows whose next token is learnt.
    pub target_rows: Vec<usize>,
    /// The token each target row predicts.
    pub targets: Vec<u32>,
    /// The sequence (index into `spans`) of each target row.
    pub target_sequence: Vec<usize>,
}

impl Packed {
    /// Packs `sequences` in order.
    pub fn new<'a>(sequences: impl IntoIterator<Item = &'a Sequence>) -> Packed {
        let mut packed = Packed::default();
        for (s, sequence) in sequences.into_iter().enumerate() {
            let start = packed.ids.len();
            packed.spans.push(Span::own(start, sequence.ids.len()));
            packed.ids.extend_from_slice(&sequence.ids);
            packed.positions.extend(0..sequence.ids.len());
            for (i, (&id, &learn)) in sequence.ids.iter().zip(&sequence.learn).enumerate().skip(1) {
                if learn {
                    packed.target_rows.push(start + i - 1);
                    packed.targets.push(id);
                    packed.target_sequence.push(s);
                }
            }
        }
        packed
    }

    /// Tokens (rows) in the micro-batch.
    pub fn tokens(&self) -> usize {
        self.ids.len()
    }
}

/// The order in which epoch `epoch` visits `n` examples: a permutation seeded by `seed` and
/// the epoch, so every run with the same seed sees the same batches.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    order.shuffle(&mut rng);
    order
}

/// The examples of optimizer step `step` (counted from 0 over the whole run) split into
/// micro-batches of `batch`: an epoch is `ceil(n / (batch * accum))` steps, its last one
/// possibly short.
pub fn step_examples(
    n: usize,
    batch: usize,
    accum: usize,
    seed: u64,
    step: usize,
) -> Vec<Vec<usize>> {
    let per_step = batch * accum;
    let steps_per_epoch = n.div_ceil(per_step);
    let epoch = step / steps_per_epoch;
    let within = step % steps_per_epoch;
    let order = epoch_order(n, seed, epoch);
    let picked = &order[within * per_step..((within + 1) * per_step).min(n)];
    picked.chunks(batch).map(<[usize]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_marks_the_rows_before_learnt_tokens() {
        let a = Sequence {
            ids: vec![10, 11, 12],
            learn: vec![false, true, true],
        };
        let b = Sequence {
            ids: vec![20, 21],
            learn: vec![true, true],
        };
        let packed = Packed::new([&a, &b]);
        assert_eq!(packed.ids, vec![10, 11, 12, 20, 21]);
        assert_eq!(packed.positions, vec![0, 1, 2, 0, 1]);
        assert_eq!(packed.spans, vec![Span::own(0, 3), Span::own(3, 2)]);
        // Row 0 predicts 11, row 1 predicts 12, row 3 predicts 21 (20 has no predictor).
        assert_eq!(packed.target_rows, vec![0, 1, 3]);
        assert_eq!(packed.targets, vec![11, 12, 21]);
        assert_eq!(packed.target_sequence, vec![0, 0, 1]);
    }

    #[test]
    fn steps_cover_each_epoch_once_in_a_seeded_order() {
        let steps: Vec<Vec<Vec<usize>>> = (0..3).map(|s| step_examples(10, 2, 2, 7, s)).collect();
        let mut seen: Vec<usize> = steps.iter().flatten().flatten().copied().collect();
        assert_eq!(
            steps[2].len(),
            1,
            "the last step of an epoch holds the 2 left over"
        );
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(step_examples(10, 2, 2, 7, 0), steps[0]);
        assert_ne!(epoch_order(10, 7, 0), epoch_order(10, 7, 1));
    }
}
