//! Interval alpha in closed form: Σ over ordered pairs of (x_i − x_j)² = 2n·Σ(x − c)² −
//! 2(Σ(x − c))² for any centre c, so per-unit counts, sums and sums of squares suffice, both for
//! a single pass over millions of units and for resampling units.

use super::alpha_disagreement::{finish_interval, Undefined};

/// Interval alpha over every unit, each unit's statistics taken around `centre`: a value near
/// the mean of the data, so that the pooled sums cancel little however far the data sit from 0.
///
/// The units come in `parts` (runs of units); the first is summed on this thread, every other
/// on a thread of its own, and the part sums are added in order.
pub(super) fn interval_alpha<'a, P>(parts: Vec<P>, centre: f64) -> Result<f64, Undefined>
where
    P: Iterator<Item = &'a [f64]> + Send,
{
    let sum_part = move |units: P| {
        let mut sums = IntervalSums::default();
        for unit in units {
            sums.add(&IntervalUnit::new(unit, centre));
        }
        sums
    };
    let mut parts = parts.into_iter();
    let first = parts.next();
    let total = std::thread::scope(|scope| {
        let others: Vec<_> = parts
            .map(|units| scope.spawn(move || sum_part(units)))
            .collect();
        let mut total = first.map(sum_part).unwrap_or_default();
        for other in others {
            let sums = other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            total.merge(&sums);
        }
        total
    });
    total.alpha()
}

/// Mean of `values` (0 when empty), summed in independent lanes so that the loop vectorises
/// instead of waiting on one accumulator.
pub(super) fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut lanes = [0.0f64; 8];
    let chunks = values.chunks_exact(lanes.len());
    let tail: f64 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane += value;
        }
    }
    (lanes.iter().sum::<f64>() + tail) / values.len() as f64
}

/// Count, mean, sum of squared deviations and range of one pairable unit's values.
struct UnitMoments {
    count: f64,
    mean: f64,
    squares: f64,
    min: f64,
    max: f64,
}

impl UnitMoments {
    /// The unit's moments; None when it has fewer than 2 values.
    fn of(values: &[f64]) -> Option<Self> {
        if values.len() < 2 {
            return None;
        }
        let count = values.len() as f64;
        let (mut sum, mut min, mut max) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
        for &value in values {
            sum += value;
            min = min.min(value);
            max = max.max(value);
        }
        let mean = sum / count;
        let squares = values
            .iter()
            .map(|&value| (value - mean) * (value - mean))
            .sum();
        Some(Self {
            count,
            mean,
            squares,
            min,
            max,
        })
    }

    /// Σ over the unit's ordered pairs of (x_i − x_j)², divided by (m − 1).
    fn observed(&self) -> f64 {
        2.0 * self.count * self.squares / (self.count - 1.0)
    }
}

/// One unit's interval statistics around a fixed centre, summable over any multiset of units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct IntervalUnit {
    /// Number of values (0 for a unit with fewer than 2 values, which contributes nothing).
    count: f64,
    /// Σ (x − centre).
    sum: f64,
    /// Σ (x − centre)².
    sum_of_squares: f64,
    /// The unit's observed disagreement D_u.
    observed: f64,
    min: f64,
    max: f64,
}

impl IntervalUnit {
    /// Statistics of `values` centred on `centre` (the mean of the data, so that the sums of a
    /// resample stay small and cancel little).
    pub(super) fn new(values: &[f64], centre: f64) -> Self {
        match UnitMoments::of(values) {
            Some(moments) => {
                let shift = moments.mean - centre;
                Self {
                    count: moments.count,
                    sum: moments.count * shift,
                    sum_of_squares: moments.squares + moments.count * shift * shift,
                    observed: moments.observed(),
                    min: moments.min,
                    max: moments.max,
                }
            }
            None => Self {
                count: 0.0,
                sum: 0.0,
                sum_of_squares: 0.0,
                observed: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
        }
    }
}

/// Interval alpha of the multiset of units at `indices`.
pub(super) fn interval_alpha_of(
    units: &[IntervalUnit],
    indices: &[usize],
) -> Result<f64, Undefined> {
    let mut sums = IntervalSums::default();
    for &index in indices {
        sums.add(units.get(index).ok_or(Undefined::UnitOutOfRange)?);
    }
    sums.alpha()
}

/// [`IntervalUnit`]s summed over a multiset of units.
#[derive(Debug, Clone, Copy)]
struct IntervalSums {
    count: f64,
    sum: f64,
    sum_of_squares: f64,
    observed: f64,
    min: f64,
    max: f64,
}

impl Default for IntervalSums {
    fn default() -> Self {
        Self {
            count: 0.0,
            sum: 0.0,
            sum_of_squares: 0.0,
            observed: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl IntervalSums {
    /// Adds one unit (all units must share one centre).
    fn add(&mut self, unit: &IntervalUnit) {
        self.count += unit.count;
        self.sum += unit.sum;
        self.sum_of_squares += unit.sum_of_squares;
        self.observed += unit.observed;
        self.min = self.min.min(unit.min);
        self.max = self.max.max(unit.max);
    }

    /// Adds the sums of other units (around the same centre).
    fn merge(&mut self, other: &IntervalSums) {
        self.count += other.count;
        self.sum += other.sum;
        self.sum_of_squares += other.sum_of_squares;
        self.observed += other.observed;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Alpha of the summed units.
    fn alpha(&self) -> Result<f64, Undefined> {
        // Σ over ordered pairs of (x_i − x_j)² = 2n·Σ(x − c)² − 2(Σ(x − c))² for any centre c.
        let expected = 2.0 * self.count * self.sum_of_squares - 2.0 * self.sum * self.sum;
        finish_interval(self.count, self.observed, expected, self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_mean_matches_plain_mean() {
        let values: Vec<f64> = (1..=17).map(f64::from).collect();
        assert_eq!(mean(&values), 9.0);
        assert_eq!(mean(&values[..3]), 2.0);
        assert_eq!(mean(&[]), 0.0);
    }

    #[test]
    fn unit_statistics_known_answers() {
        // Values 1, 2, 6 around centre 2: Σ(x − 2) = 3, Σ(x − 2)² = 1 + 0 + 16 = 17,
        // D_u = Σ over ordered pairs (1 + 25 + 16)·2 / 2 = 42.
        let unit = IntervalUnit::new(&[1.0, 2.0, 6.0], 2.0);
        assert_eq!(
            (unit.count, unit.sum, unit.sum_of_squares),
            (3.0, 3.0, 17.0)
        );
        assert_eq!((unit.observed, unit.min, unit.max), (42.0, 1.0, 6.0));
        let lone = IntervalUnit::new(&[5.0], 2.0);
        assert_eq!((lone.count, lone.observed), (0.0, 0.0));
        assert_eq!(
            interval_alpha_of(&[unit, lone], &[1]),
            Err(Undefined::NoPairableUnit)
        );
        assert_eq!(
            interval_alpha_of(&[unit], &[1]),
            Err(Undefined::UnitOutOfRange)
        );
    }
}
