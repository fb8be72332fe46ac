//! Krippendorff's alpha: agreement among coders who assign values to units, corrected for the
//! agreement expected by chance, at the nominal, ordinal, interval or ratio level.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::alpha_coded::coded_alpha;
use super::alpha_coding::CodedUnits;
use super::alpha_interval::{interval_alpha, mean};
use super::alpha_level::Level;
use super::alpha_metric::AlphaMetric;

/// Reliability data: units × coders with missing values, stored per unit.
///
/// Values live in one flat array with per-unit offsets, so millions of units cost no
/// per-unit allocation. Units with fewer than 2 values take no part in alpha but remain
/// units, so that resampling indexes the same units the data was built from.
#[derive(Debug, Clone)]
pub struct ReliabilityData {
    /// Every present value, unit by unit.
    values: Vec<f64>,
    /// `offsets[u]..offsets[u + 1]` is unit `u`'s slice of `values`.
    offsets: Vec<usize>,
    coder_count: usize,
    pairable_unit_count: usize,
    pairable_value_count: usize,
    /// The data recoded for nominal, ordinal and ratio alpha, built on first use.
    coded: OnceLock<CodedUnits>,
}

impl ReliabilityData {
    /// From a dense matrix of coders × units in row-major order
    /// (`values[coder * unit_count + unit]`), NaN = missing.
    ///
    /// Fails with [`crate::error::Error::InvalidInput`] when `coder_count` is 0 or does not
    /// divide the number of values.
    pub fn from_coder_rows(values: &[f64], coder_count: usize) -> crate::error::Result<Self> {
        let rows = coder_rows(values, coder_count)?;
        let unit_count = values.len() / coder_count;
        let bounds = part_bounds(unit_count, values.len());
        // Every cell has a slot; part p fills the slots of its own units, from the start of
        // its region, and the regions are closed up afterwards.
        let mut flat = vec![0.0; values.len()];
        let mut offsets = vec![0; unit_count + 1];
        let presents: Vec<usize> = std::thread::scope(|scope| {
            let (mut flat_rest, mut ends_rest) = (flat.as_mut_slice(), &mut offsets[1..]);
            let mut parts = Vec::new();
            for part in bounds.windows(2) {
                let units = part[0]..part[1];
                let (flat_part, rest) =
                    std::mem::take(&mut flat_rest).split_at_mut(units.len() * coder_count);
                flat_rest = rest;
                let (ends_part, rest) = std::mem::take(&mut ends_rest).split_at_mut(units.len());
                ends_rest = rest;
                let rows = &rows;
                parts.push(scope.spawn(move || gather_units(rows, units, flat_part, ends_part)));
            }
            parts
                .into_iter()
                .map(|part| {
                    part.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        let mut end = 0;
        for (part, present) in bounds.windows(2).zip(presents) {
            let start = part[0] * coder_count;
            flat.copy_within(start..start + present, end);
            for offset in &mut offsets[part[0] + 1..=part[1]] {
                *offset += end;
            }
            end += present;
        }
        flat.truncate(end);
        flat.shrink_to_fit();
        Ok(Self::from_flat(flat, offsets, coder_count))
    }

    /// From per-unit lists of values (missing values already removed); units with < 2 values
    /// are kept as non-pairable units (they still count as samples for bootstrap indexing).
    ///
    /// NaN values that remain are dropped as missing.
    pub fn from_units(units: Vec<Vec<f64>>, coder_count: usize) -> Self {
        let mut flat = Vec::with_capacity(units.iter().map(Vec::len).sum());
        let mut offsets = Vec::with_capacity(units.len() + 1);
        offsets.push(0);
        for unit in &units {
            flat.extend(unit.iter().copied().filter(|value| !value.is_nan()));
            offsets.push(flat.len());
        }
        Self::from_flat(flat, offsets, coder_count)
    }

    /// For nominal string labels: rows = units, cells = Option<&str>; maps strings to codes.
    ///
    /// Each row holds one cell per coder (None = missing). Labels are coded in alphabetical
    /// order, so only nominal alpha is meaningful on the result; the coder count is the
    /// longest row's length.
    pub fn from_labels(units: &[Vec<Option<String>>]) -> Self {
        let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
        for label in units.iter().flatten().flatten() {
            codes.insert(label.as_str(), 0);
        }
        for (code, slot) in codes.values_mut().enumerate() {
            *slot = code;
        }
        let coded: Vec<Vec<f64>> = units
            .iter()
            .map(|row| {
                row.iter()
                    .flatten()
                    .filter_map(|label| codes.get(label.as_str()).map(|&code| code as f64))
                    .collect()
            })
            .collect();
        let coder_count = units.iter().map(Vec::len).max().unwrap_or(0);
        Self::from_units(coded, coder_count)
    }

    /// Builds the data from flat values and unit offsets, counting pairable units and values.
    fn from_flat(values: Vec<f64>, offsets: Vec<usize>, coder_count: usize) -> Self {
        let (mut pairable_unit_count, mut pairable_value_count) = (0, 0);
        for bounds in offsets.windows(2) {
            let size = bounds[1] - bounds[0];
            if size >= 2 {
                pairable_unit_count += 1;
                pairable_value_count += size;
            }
        }
        Self {
            values,
            offsets,
            coder_count,
            pairable_unit_count,
            pairable_value_count,
            coded: OnceLock::new(),
        }
    }

    /// Number of units, including those with fewer than 2 values.
    pub fn unit_count(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Number of units with at least 2 values (the units alpha is computed from).
    pub fn pairable_unit_count(&self) -> usize {
        self.pairable_unit_count
    }

    /// Number of values in pairable units: the n of alpha's formula.
    pub fn pairable_value_count(&self) -> usize {
        self.pairable_value_count
    }

    /// Number of coders the data was given with.
    pub fn coder_count(&self) -> usize {
        self.coder_count
    }

    /// The present values of unit `unit` (empty when out of range).
    pub fn unit_values(&self, unit: usize) -> &[f64] {
        match (self.offsets.get(unit), self.offsets.get(unit + 1)) {
            (Some(&start), Some(&end)) => &self.values[start..end],
            _ => &[],
        }
    }

    /// Iterator over every unit's values, in unit order.
    pub(super) fn units(&self) -> impl Iterator<Item = &[f64]> + Clone + '_ {
        self.offsets
            .windows(2)
            .map(|bounds| &self.values[bounds[0]..bounds[1]])
    }

    /// Iterator over the values of units `start..end`, in unit order.
    fn units_between(&self, start: usize, end: usize) -> impl Iterator<Item = &[f64]> + Send {
        self.offsets[start..=end]
            .windows(2)
            .map(|bounds| &self.values[bounds[0]..bounds[1]])
    }

    /// The centre interval statistics are taken around: the mean of all values (pairable or
    /// not; any value near the bulk of the data keeps the sums from cancelling).
    pub(super) fn interval_centre(&self) -> f64 {
        mean(&self.values)
    }

    /// The data coded for nominal, ordinal and ratio alpha (built once, then shared).
    pub(super) fn coded(&self) -> &CodedUnits {
        self.coded
            .get_or_init(|| CodedUnits::new(&self.values, &self.offsets))
    }

    /// Krippendorff's alpha at `level`: 1 is perfect agreement, 0 chance agreement, below 0
    /// systematic disagreement.
    ///
    /// Fails with [`crate::error::Error::Undefined`] when no unit has 2 values, when only one
    /// distinct value occurs among pairable values, and for interval or ratio alpha on infinite
    /// values or ratio alpha on negative values.
    pub fn alpha(&self, level: Level) -> crate::error::Result<f64> {
        let alpha = match level {
            Level::Interval => {
                let parts = part_bounds(self.unit_count(), self.values.len())
                    .windows(2)
                    .map(|part| self.units_between(part[0], part[1]))
                    .collect();
                interval_alpha(parts, self.interval_centre())
            }
            _ => coded_alpha(self.coded(), level, None, None),
        };
        alpha.map_err(|undefined| undefined.into_error())
    }

    /// Alpha at `level` as a [`super::CorpusMetric`] over units (all units, including
    /// non-pairable ones), for bootstrapping.
    pub fn metric(&self, level: Level) -> AlphaMetric<'_> {
        AlphaMetric::new(self, level)
    }
}

/// The coder rows of a dense coders × units matrix in row-major order; fails with
/// [`crate::error::Error::InvalidInput`] when `coder_count` is 0 or does not divide the number of
/// values.
pub(super) fn coder_rows(values: &[f64], coder_count: usize) -> crate::error::Result<Vec<&[f64]>> {
    if coder_count == 0 || !values.len().is_multiple_of(coder_count) {
        return Err(crate::error::Error::InvalidInput(format!(
            "reliability data of {} values cannot be split into {} coder rows",
            values.len(),
            coder_count
        )));
    }
    let unit_count = values.len() / coder_count;
    Ok(values.chunks_exact(unit_count.max(1)).collect())
}

/// From this many cells on, building the data and summing interval alpha run in two halves of
/// the units on two threads.
pub(super) const PARALLEL_MIN_CELLS: usize = 1 << 20;

/// Unit boundaries of the parts that work on `unit_count` units of `cell_count` cells is split
/// into: two halves for large data, else one part. A fixed split (not one per core) keeps the
/// floating-point summation order, and so the result, the same on every machine.
pub(super) fn part_bounds(unit_count: usize, cell_count: usize) -> Vec<usize> {
    if cell_count >= PARALLEL_MIN_CELLS && unit_count >= 2 {
        vec![0, unit_count / 2, unit_count]
    } else {
        vec![0, unit_count]
    }
}

/// Copies the present values of `units` into `flat`, unit by unit from its start, and writes
/// each unit's end (relative to `flat`) into `ends`; returns how many values it kept.
///
/// The coder rows are read in step, side by side, which hardware prefetchers follow, and the
/// output is written once, in order. Each cell is stored unconditionally and kept only if
/// present, because a branch on missingness mispredicts on real data and cost ~2× the copy
/// itself; at most one cell is written per cell visited, so the index stays in `flat`.
fn gather_units(
    rows: &[&[f64]],
    units: std::ops::Range<usize>,
    flat: &mut [f64],
    ends: &mut [usize],
) -> usize {
    let mut present = 0;
    for (unit, end) in units.zip(ends.iter_mut()) {
        for row in rows {
            let value = row[unit];
            flat[present] = value;
            present += usize::from(!value.is_nan());
        }
        *end = present;
    }
    present
}

#[cfg(test)]
mod tests {
    use super::super::alpha_test_data::{dense, random_cells, KRIPPENDORFF_2011, THREE_CODERS};
    use super::*;

    fn data(rows: &[&str]) -> crate::error::Result<ReliabilityData> {
        let (values, coders) = dense(rows);
        ReliabilityData::from_coder_rows(&values, coders)
    }

    fn assert_alpha(data: &ReliabilityData, level: Level, expected: f64, tolerance: f64) {
        match data.alpha(level) {
            Ok(alpha) => assert!((alpha - expected).abs() < tolerance, "{level:?}: {alpha}"),
            Err(error) => panic!("{level:?}: {error}"),
        }
    }

    #[test]
    fn krippendorff_2011_example_at_every_level() -> crate::error::Result<()> {
        let data = data(&KRIPPENDORFF_2011)?;
        assert_eq!((data.unit_count(), data.coder_count()), (12, 4));
        assert_eq!(
            (data.pairable_unit_count(), data.pairable_value_count()),
            (11, 40)
        );
        assert_alpha(&data, Level::Nominal, 0.743, 5e-4);
        assert_alpha(&data, Level::Ordinal, 0.815, 5e-4);
        assert_alpha(&data, Level::Interval, 0.849, 5e-4);
        assert_alpha(&data, Level::Ratio, 0.797, 5e-4);
        Ok(())
    }

    #[test]
    fn three_coders_fifteen_units() -> crate::error::Result<()> {
        let data = data(&THREE_CODERS)?;
        assert_alpha(&data, Level::Nominal, 0.691358, 5e-7);
        assert_alpha(&data, Level::Interval, 0.810845, 5e-7);
        Ok(())
    }

    #[test]
    fn string_labels_nominal() {
        let rows = [
            ["pos", "pos", "pos"],
            ["neg", "neg", "neg"],
            ["neu", "neu", "pos"],
            [".", "pos", "pos"],
        ];
        let units: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|&cell| (cell != ".").then(|| cell.to_string()))
                    .collect()
            })
            .collect();
        let data = ReliabilityData::from_labels(&units);
        assert_eq!(
            (
                data.unit_count(),
                data.coder_count(),
                data.pairable_value_count()
            ),
            (4, 3, 11)
        );
        // n = 11, E = 11² − (6² + 3² + 2²) = 72, D = (3² − 2² − 1²)/2 = 2: 1 − 10·2/72.
        assert_alpha(&data, Level::Nominal, 0.722222, 5e-7);
        assert_alpha(&data, Level::Nominal, 1.0 - 20.0 / 72.0, 1e-15);
    }

    #[test]
    fn undefined_cases_say_why() {
        let single = ReliabilityData::from_units(vec![vec![1.0], vec![], vec![2.0]], 2);
        let constant = ReliabilityData::from_units(vec![vec![0.1; 3], vec![0.1; 2], vec![7.0]], 3);
        for level in [
            Level::Nominal,
            Level::Ordinal,
            Level::Interval,
            Level::Ratio,
        ] {
            match single.alpha(level) {
                Err(crate::error::Error::Undefined { metric, reason }) => {
                    assert_eq!(metric, "krippendorff_alpha");
                    assert!(
                        reason.contains("no unit has values from at least 2 coders"),
                        "{reason}"
                    );
                }
                other => panic!("{level:?}: expected Undefined, got {other:?}"),
            }
            match constant.alpha(level) {
                Err(crate::error::Error::Undefined { reason, .. }) => {
                    assert!(
                        reason.contains("only one distinct value"),
                        "{level:?}: {reason}"
                    );
                }
                other => panic!("{level:?}: expected Undefined, got {other:?}"),
            }
        }
        let empty = ReliabilityData::from_units(Vec::new(), 0);
        assert!(empty.alpha(Level::Interval).is_err());
        let negative = ReliabilityData::from_units(vec![vec![-1.0, 2.0], vec![3.0, 3.0]], 2);
        assert!(negative.alpha(Level::Ratio).is_err());
        let infinite =
            ReliabilityData::from_units(vec![vec![f64::INFINITY, 2.0], vec![3.0, 3.0]], 2);
        assert!(infinite.alpha(Level::Interval).is_err());
        assert!(infinite.alpha(Level::Nominal).is_ok());
    }

    #[test]
    fn constructors_agree_and_validate() -> crate::error::Result<()> {
        let (values, coders) = dense(&KRIPPENDORFF_2011);
        let from_rows = ReliabilityData::from_coder_rows(&values, coders)?;
        let units: Vec<Vec<f64>> = (0..12)
            .map(|unit| {
                (0..coders)
                    .map(|coder| values[coder * 12 + unit])
                    .filter(|v| !v.is_nan())
                    .collect()
            })
            .collect();
        let from_units = ReliabilityData::from_units(units, coders);
        for level in [
            Level::Nominal,
            Level::Ordinal,
            Level::Interval,
            Level::Ratio,
        ] {
            assert_eq!(
                from_rows.alpha(level)?,
                from_units.alpha(level)?,
                "{level:?}"
            );
        }
        assert_eq!(from_rows.unit_values(11), &[3.0]);
        assert!(from_rows.unit_values(12).is_empty());
        assert!(matches!(
            ReliabilityData::from_coder_rows(&values, 5),
            Err(crate::error::Error::InvalidInput(_))
        ));
        assert!(ReliabilityData::from_coder_rows(&values, 0).is_err());
        assert_eq!(ReliabilityData::from_coder_rows(&[], 3)?.unit_count(), 0);
        Ok(())
    }

    #[test]
    fn large_data_is_built_and_summed_in_two_halves() -> crate::error::Result<()> {
        // 4 coders × 300,000 units = 1.2M cells, over PARALLEL_MIN_CELLS: both halves run.
        let (coders, units) = (4, 300_000);
        let values = random_cells(coders * units, 12_345, |draw| match draw % 7 {
            0 => f64::NAN,
            value => value as f64,
        });
        assert!(values.len() >= PARALLEL_MIN_CELLS);
        let data = ReliabilityData::from_coder_rows(&values, coders)?;
        assert_eq!(data.unit_count(), units);
        for unit in 0..units {
            let expected: Vec<f64> = (0..coders)
                .map(|coder| values[coder * units + unit])
                .filter(|value| !value.is_nan())
                .collect();
            assert_eq!(data.unit_values(unit), expected.as_slice(), "unit {unit}");
        }
        let present = values.iter().filter(|value| !value.is_nan()).count();
        assert_eq!(data.values.len(), present);
        let one_part = interval_alpha(vec![data.units()], data.interval_centre())
            .map_err(|undefined| undefined.into_error())?;
        let two_parts = data.alpha(Level::Interval)?;
        assert!(
            (one_part - two_parts).abs() < 1e-12,
            "{one_part} vs {two_parts}"
        );
        Ok(())
    }

    #[test]
    fn closed_forms_match_pairwise_definitions() -> crate::error::Result<()> {
        // Interval alpha by pooled moments and by pairwise distances over codes agree.
        for rows in [&KRIPPENDORFF_2011[..], &THREE_CODERS[..]] {
            let data = data(rows)?;
            let pooled = data.alpha(Level::Interval)?;
            let pairwise = coded_alpha(data.coded(), Level::Interval, None, None);
            let pairwise = pairwise.map_err(|undefined| undefined.into_error())?;
            assert!((pooled - pairwise).abs() < 1e-12, "{pooled} {pairwise}");
        }
        // Shifting interval data by a large constant leaves alpha unchanged.
        let (values, coders) = dense(&THREE_CODERS);
        let shifted: Vec<f64> = values.iter().map(|value| value + 1e9).collect();
        let shifted = ReliabilityData::from_coder_rows(&shifted, coders)?.alpha(Level::Interval)?;
        assert!((shifted - 0.810845).abs() < 5e-7, "{shifted}");
        Ok(())
    }
}
