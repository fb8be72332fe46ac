//! Krippendorff's alpha as a [`CorpusMetric`] over units, with per-unit sufficient statistics
//! precomputed so that each bootstrap resample costs one pass over its unit indices.

use super::alpha::ReliabilityData;
use super::alpha_coded::{coded_alpha, fixed_unit_disagreements};
use super::alpha_interval::{interval_alpha_of, IntervalUnit};
use super::alpha_level::Level;
use super::corpus::CorpusMetric;

/// Alpha at one level over the units of a [`ReliabilityData`]; a resample is a multiset of
/// units (including non-pairable ones, which contribute nothing).
///
/// Interval data keeps each unit's count, centred sum, centred sum of squares and observed
/// disagreement; the other levels read the data's per-unit code tables, so a resample costs
/// O(units) plus, for ratio data, O(distinct values²).
#[derive(Debug, Clone)]
pub struct AlphaMetric<'a> {
    data: &'a ReliabilityData,
    level: Level,
    /// Per-unit interval statistics (empty for the other levels).
    interval_units: Vec<IntervalUnit>,
    /// Per-unit observed disagreement for nominal and ratio data, which no resample changes.
    unit_observed: Option<Vec<f64>>,
}

impl<'a> AlphaMetric<'a> {
    /// Alpha at `level` over `data`'s units, precomputing what resamples need.
    pub(super) fn new(data: &'a ReliabilityData, level: Level) -> Self {
        match level {
            Level::Interval => {
                let centre = data.interval_centre();
                let interval_units = data
                    .units()
                    .map(|unit| IntervalUnit::new(unit, centre))
                    .collect();
                Self {
                    data,
                    level,
                    interval_units,
                    unit_observed: None,
                }
            }
            Level::Nominal | Level::Ordinal | Level::Ratio => Self {
                data,
                level,
                interval_units: Vec::new(),
                unit_observed: fixed_unit_disagreements(data.coded(), level),
            },
        }
    }

    /// The level of measurement this metric computes alpha at.
    pub fn level(&self) -> Level {
        self.level
    }
}

impl CorpusMetric for AlphaMetric<'_> {
    fn sample_count(&self) -> usize {
        self.data.unit_count()
    }

    fn value_on(&self, indices: &[usize]) -> Option<f64> {
        match self.level {
            Level::Interval => interval_alpha_of(&self.interval_units, indices).ok(),
            Level::Nominal | Level::Ordinal | Level::Ratio => {
                let coded = self.data.coded();
                // Multiplicities let the coded computation stream through units in order.
                let mut weights = vec![0u32; coded.unit_count()];
                for &index in indices {
                    let weight = weights.get_mut(index)?;
                    *weight = weight.saturating_add(1);
                }
                let unit_observed = self.unit_observed.as_deref();
                coded_alpha(coded, self.level, Some(&weights), unit_observed).ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::bootstrap::{bootstrap_ci, BootstrapConfig};

    /// Krippendorff (2011)'s 4 coders × 12 units, by unit.
    fn example() -> ReliabilityData {
        let nan = f64::NAN;
        let rows = [
            [1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 4.0, 1.0, 2.0, nan, nan, nan],
            [1.0, 2.0, 3.0, 3.0, 2.0, 2.0, 4.0, 1.0, 2.0, 5.0, nan, 3.0],
            [nan, 3.0, 3.0, 3.0, 2.0, 3.0, 4.0, 2.0, 2.0, 5.0, 1.0, nan],
            [1.0, 2.0, 3.0, 3.0, 2.0, 4.0, 4.0, 1.0, 2.0, 5.0, 1.0, nan],
        ];
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        ReliabilityData::from_coder_rows(&flat, 4).unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn full_value_matches_alpha_at_every_level() -> crate::error::Result<()> {
        let data = example();
        for level in [
            Level::Nominal,
            Level::Ordinal,
            Level::Interval,
            Level::Ratio,
        ] {
            let metric = data.metric(level);
            assert_eq!(metric.level(), level);
            assert_eq!(metric.sample_count(), 12);
            let value = metric.value().unwrap_or(f64::NAN);
            assert!(
                (value - data.alpha(level)?).abs() < 1e-12,
                "{level:?}: {value}"
            );
        }
        Ok(())
    }

    #[test]
    fn resamples_count_repeated_units_and_skip_single_values() {
        let data = example();
        // Units 1 and 2 have values (2,2,3,2) and (3,3,3,3); unit 11 has a single value.
        let twice = data.metric(Level::Nominal).value_on(&[1, 2, 1, 2, 11]);
        let once = data.metric(Level::Nominal).value_on(&[1, 2]);
        // n = 8: D = (4² − 3² − 1²)/3 = 2; E = 8² − (3² + 5²) = 30 → 1 − 7·2/30 = 8/15.
        assert!(
            (once.unwrap_or(f64::NAN) - 8.0 / 15.0).abs() < 1e-12,
            "{once:?}"
        );
        // n = 16: D = 4; E = 16² − (6² + 10²) = 120 → 1 − 15·4/120 = 0.5.
        assert!((twice.unwrap_or(f64::NAN) - 0.5).abs() < 1e-12, "{twice:?}");
        for level in [
            Level::Nominal,
            Level::Ordinal,
            Level::Interval,
            Level::Ratio,
        ] {
            let metric = data.metric(level);
            assert_eq!(metric.value_on(&[11]), None, "{level:?}: no pairable unit");
            assert_eq!(metric.value_on(&[3, 3]), None, "{level:?}: one value");
            assert_eq!(metric.value_on(&[0, 12]), None, "{level:?}: out of range");
        }
    }

    #[test]
    fn bootstrap_contains_the_estimate_and_is_deterministic() {
        let data = example();
        let config = BootstrapConfig::default();
        for level in [
            Level::Nominal,
            Level::Ordinal,
            Level::Interval,
            Level::Ratio,
        ] {
            let metric = data.metric(level);
            let ci = bootstrap_ci(&metric, &config);
            assert_eq!(ci, bootstrap_ci(&metric, &config), "{level:?}");
            let (low, high) = ci.unwrap_or((f64::NAN, f64::NAN));
            let value = metric.value().unwrap_or(f64::NAN);
            assert!(
                low <= value && value <= high,
                "{level:?}: {low} {value} {high}"
            );
            assert!(high <= 1.0, "{level:?}: {high}");
        }
    }

    #[test]
    fn interval_resamples_agree_with_recomputation() {
        let data = example();
        let metric = data.metric(Level::Interval);
        let indices = [0, 1, 1, 5, 9, 9, 9, 10, 6];
        let units: Vec<Vec<f64>> = indices
            .iter()
            .map(|&u| data.unit_values(u).to_vec())
            .collect();
        let rebuilt = ReliabilityData::from_units(units, 4).alpha(Level::Interval);
        let resampled = metric.value_on(&indices).unwrap_or(f64::NAN);
        assert!(
            (resampled - rebuilt.unwrap_or(f64::NAN)).abs() < 1e-12,
            "{resampled}"
        );
    }
}
