//! Alpha of a dense coders × units matrix without building [`ReliabilityData`]: interval alpha
//! in one streaming pass that reads each cell once and writes nothing per cell.
//!
//! Each unit's count, mean and sum of squared deviations are taken in blocks of adjacent units
//! (the coder rows are read side by side, a block at a time, so the loop vectorises), and the
//! units are pooled with Chan et al.'s pairwise update, which needs no centre chosen in advance:
//! Σ over ordered pairs of all pairable values of (x_i − x_j)² = 2n·Σ(x − x̄)².

use super::alpha::{coder_rows, part_bounds, ReliabilityData};
use super::alpha_disagreement::{finish_interval, Undefined};
use super::alpha_level::Level;

/// Units summarised together, one per SIMD lane pair.
const BLOCK: usize = 8;

/// Krippendorff's alpha at `level` of a dense matrix of coders × units in row-major order
/// (`values[coder * unit_count + unit]`), NaN = missing: the same value as
/// `ReliabilityData::from_coder_rows(values, coder_count)?.alpha(level)`, but interval alpha
/// streams the matrix once instead of copying it (other levels build the data).
///
/// Fails with [`crate::error::Error::InvalidInput`] when `coder_count` is 0 or does not divide
/// the number of values, and as [`ReliabilityData::alpha`] does when alpha has no value.
pub fn alpha_of_coder_rows(
    values: &[f64],
    coder_count: usize,
    level: Level,
) -> crate::error::Result<f64> {
    if level != Level::Interval {
        return ReliabilityData::from_coder_rows(values, coder_count)?.alpha(level);
    }
    let rows = coder_rows(values, coder_count)?;
    let unit_count = values.len() / coder_count;
    let bounds = part_bounds(unit_count, values.len());
    let pooled = std::thread::scope(|scope| {
        let rows = &rows;
        let others: Vec<_> = bounds[1..]
            .windows(2)
            .map(|part| scope.spawn(move || pool_units(rows, part[0], part[1])))
            .collect();
        let mut pooled = pool_units(rows, bounds[0], bounds[1]);
        for other in others {
            let part = other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            pooled.merge(&part);
        }
        pooled
    });
    pooled.alpha().map_err(Undefined::into_error)
}

/// Pairable units pooled: their values' count, mean and sum of squared deviations from that
/// mean, the summed observed disagreement and the range.
#[derive(Debug, Clone, Copy)]
struct Pooled {
    count: f64,
    mean: f64,
    squares: f64,
    observed: f64,
    min: f64,
    max: f64,
}

impl Default for Pooled {
    fn default() -> Self {
        Self {
            count: 0.0,
            mean: 0.0,
            squares: 0.0,
            observed: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Pooled {
    /// Adds values with this count, mean and sum of squared deviations (Chan et al.).
    fn add_moments(&mut self, count: f64, mean: f64, squares: f64) {
        let total = self.count + count;
        let share = count / total;
        let delta = mean - self.mean;
        self.mean += delta * share;
        self.squares += squares + delta * delta * self.count * share;
        self.count = total;
    }

    /// Adds other pooled units.
    fn merge(&mut self, other: &Pooled) {
        if other.count > 0.0 {
            self.add_moments(other.count, other.mean, other.squares);
        }
        self.observed += other.observed;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Alpha of the pooled units.
    fn alpha(&self) -> Result<f64, Undefined> {
        let expected = 2.0 * self.count * self.squares;
        finish_interval(self.count, self.observed, expected, self.min, self.max)
    }
}

/// Pools units `start..end` of the coder rows: whole blocks of [`BLOCK`] units, then the rest
/// one by one.
fn pool_units(rows: &[&[f64]], start: usize, end: usize) -> Pooled {
    let mut pooled = Pooled::default();
    let mut unit = start;
    while unit + BLOCK <= end {
        pool_block::<BLOCK>(rows, unit, &mut pooled);
        unit += BLOCK;
    }
    for unit in unit..end {
        pool_block::<1>(rows, unit, &mut pooled);
    }
    pooled
}

/// Pools the `W` units from `start`: counts, sums and ranges in one pass over the coder rows,
/// squared deviations from each unit's mean in a second pass over the same (cached) cells.
/// Missing cells are masked, not branched on, so that the lanes stay in step.
fn pool_block<const W: usize>(rows: &[&[f64]], start: usize, pooled: &mut Pooled) {
    let (mut count, mut sum) = ([0.0f64; W], [0.0f64; W]);
    let (mut min, mut max) = ([f64::INFINITY; W], [f64::NEG_INFINITY; W]);
    for row in rows {
        let cells = &row[start..start + W];
        for lane in 0..W {
            let value = cells[lane];
            let present = !value.is_nan();
            count[lane] += if present { 1.0 } else { 0.0 };
            sum[lane] += if present { value } else { 0.0 };
            // f64::min and max ignore a NaN operand: a missing cell leaves the range as it is.
            min[lane] = min[lane].min(value);
            max[lane] = max[lane].max(value);
        }
    }
    let mut mean = [0.0f64; W];
    for lane in 0..W {
        mean[lane] = sum[lane] / count[lane].max(1.0);
    }
    let mut squares = [0.0f64; W];
    for row in rows {
        let cells = &row[start..start + W];
        for lane in 0..W {
            let deviation = cells[lane] - mean[lane];
            squares[lane] += if cells[lane].is_nan() {
                0.0
            } else {
                deviation * deviation
            };
        }
    }
    for lane in 0..W {
        if count[lane] >= 2.0 {
            pooled.observed += 2.0 * count[lane] * squares[lane] / (count[lane] - 1.0);
            pooled.add_moments(count[lane], mean[lane], squares[lane]);
            pooled.min = pooled.min.min(min[lane]);
            pooled.max = pooled.max.max(max[lane]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::alpha::PARALLEL_MIN_CELLS;
    use super::super::alpha_test_data::{dense, random_cells, KRIPPENDORFF_2011, THREE_CODERS};
    use super::*;

    /// Dense alpha and the alpha of `ReliabilityData` built from the same matrix.
    fn both(
        values: &[f64],
        coders: usize,
    ) -> (crate::error::Result<f64>, crate::error::Result<f64>) {
        let streamed = alpha_of_coder_rows(values, coders, Level::Interval);
        let built = ReliabilityData::from_coder_rows(values, coders)
            .and_then(|data| data.alpha(Level::Interval));
        (streamed, built)
    }

    #[test]
    fn known_answers_stream_like_built_data() -> crate::error::Result<()> {
        // Krippendorff (2011), 4 × 12 (interval 0.849), and 3 × 15 (interval 0.810845): 12 and
        // 15 units cover a whole block plus a tail of single units.
        let cases: [(&[&str], f64, f64); 2] = [
            (&KRIPPENDORFF_2011, 0.849, 5e-4),
            (&THREE_CODERS, 0.810845, 5e-7),
        ];
        for (rows, expected, tolerance) in cases {
            let (values, coders) = dense(rows);
            let (streamed, built) = both(&values, coders);
            let (streamed, built) = (streamed?, built?);
            assert!((streamed - expected).abs() < tolerance, "{streamed}");
            assert!((streamed - built).abs() < 1e-12, "{streamed} vs {built}");
            // Shifted far from 0, alpha is unchanged: the pooling cancels nothing.
            let shifted: Vec<f64> = values.iter().map(|value| value + 1e9).collect();
            let shifted = alpha_of_coder_rows(&shifted, coders, Level::Interval)?;
            assert!((shifted - expected).abs() < tolerance, "{shifted}");
        }
        Ok(())
    }

    #[test]
    fn large_matrix_matches_built_data_in_two_halves() -> crate::error::Result<()> {
        // 5 coders × 250,003 units ≥ PARALLEL_MIN_CELLS: two halves, each with a ragged tail.
        let (coders, units) = (5, 250_003);
        let values = random_cells(coders * units, 99, |draw| match draw % 10 {
            0..=2 => f64::NAN,
            value => value as f64 * 0.37 - 1.0,
        });
        assert!(values.len() >= PARALLEL_MIN_CELLS);
        let (streamed, built) = both(&values, coders);
        let (streamed, built) = (streamed?, built?);
        assert!((streamed - built).abs() < 1e-12, "{streamed} vs {built}");
        Ok(())
    }

    #[test]
    fn other_levels_and_bad_input_behave_like_built_data() -> crate::error::Result<()> {
        let (values, coders) = dense(&["1 2 3 3 . 1", "1 2 3 4 2 ."]);
        for level in [Level::Nominal, Level::Ordinal, Level::Ratio] {
            let built = ReliabilityData::from_coder_rows(&values, coders)?.alpha(level)?;
            assert_eq!(alpha_of_coder_rows(&values, coders, level)?, built);
        }
        for (values, coders) in [
            (vec![1.0, f64::NAN, f64::NAN, 2.0], 2), // no unit with 2 values
            (vec![0.5, 0.5, 0.5, 0.5, 0.5, f64::NAN], 2), // one distinct value
            (vec![f64::INFINITY, 1.0, 2.0, 3.0], 2), // infinite value
        ] {
            let (streamed, built) = both(&values, coders);
            match (streamed, built) {
                (Err(streamed), Err(built)) => assert_eq!(streamed.to_string(), built.to_string()),
                other => panic!("{values:?}: expected two errors, got {other:?}"),
            }
        }
        for coders in [0, 4] {
            assert!(matches!(
                alpha_of_coder_rows(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], coders, Level::Interval),
                Err(crate::error::Error::InvalidInput(_))
            ));
        }
        Ok(())
    }
}
