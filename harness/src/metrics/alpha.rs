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
        if coder_count == 0 || !values.len().is_multiple_of(coder_count) {
            return Err(crate::error::Error::InvalidInput(format!(
                "reliability data of {} values cannot be split into {} coder rows",
                values.len(),
                coder_count
            )));
        }
        let unit_count = values.len() / coder_count;
        let rows: Vec<&[f64]> = values.chunks_exact(unit_count.max(1)).collect();
        // Sized for every cell; cells are written before `present` counts them, and at most
        // one is written per cell visited, so the index stays below values.len().
        let mut flat = vec![0.0; values.len()];
        let mut present = 0;
        let mut offsets = Vec::with_capacity(unit_count + 1);
        offsets.push(0);
        // Unit by unit, reading every coder row in step: the rows are streamed side by side,
        // which hardware prefetchers follow, and the output is written once, in order. Each
        // cell is stored unconditionally and kept only if present, because a branch on
        // missingness mispredicts on real data and cost ~2× the copy itself.
        for unit in 0..unit_count {
            for row in &rows {
                let value = row[unit];
                flat[present] = value;
                present += usize::from(!value.is_nan());
            }
            offsets.push(present);
        }
        flat.truncate(present);
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
            Level::Interval => interval_alpha(self.units(), self.interval_centre()),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses rows of coders (`.` = missing) into the dense coders × units layout.
    fn dense(rows: &[&str]) -> (Vec<f64>, usize) {
        let values = rows
            .iter()
            .flat_map(|row| row.split_whitespace())
            .map(|cell| cell.parse().unwrap_or(f64::NAN))
            .collect();
        (values, rows.len())
    }

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

    const KRIPPENDORFF_2011: [&str; 4] = [
        "1 2 3 3 2 1 4 1 2 . . .",
        "1 2 3 3 2 2 4 1 2 5 . 3",
        ". 3 3 3 2 3 4 2 2 5 1 .",
        "1 2 3 3 2 4 4 1 2 5 1 .",
    ];

    const THREE_CODERS: [&str; 3] = [
        ". . . . . 3 4 1 2 1 1 3 3 . 3",
        "1 . 2 1 3 3 4 3 . . . . . . .",
        ". . 2 1 3 4 4 . 2 1 1 3 3 . 4",
    ];

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
