//! The ABSA scores of [`AbsaF1`] one at a time, as [`CorpusMetric`]s that a bootstrap can
//! resample.

use super::absa_f1::{AbsaF1, Granularity};
use super::absa_scores::macro_f1;
use super::corpus::CorpusMetric;

/// Which ABSA score a [`AbsaMetricView`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbsaMetric {
    /// Micro F1 of aspects.
    AspectMicroF1,
    /// Micro precision of aspects.
    AspectMicroPrecision,
    /// Micro recall of aspects.
    AspectMicroRecall,
    /// Macro F1 of aspects over the occurring categories.
    AspectMacroF1,
    /// Micro F1 of (aspect, polarity) pairs.
    AspectPolarityMicroF1,
    /// Micro precision of (aspect, polarity) pairs.
    AspectPolarityMicroPrecision,
    /// Micro recall of (aspect, polarity) pairs.
    AspectPolarityMicroRecall,
    /// Macro F1 of (aspect, polarity) pairs over the occurring categories.
    AspectPolarityMacroF1,
}

impl AbsaMetric {
    /// Every ABSA score, aspect level first.
    pub const ALL: [AbsaMetric; 8] = [
        AbsaMetric::AspectMicroF1,
        AbsaMetric::AspectMicroPrecision,
        AbsaMetric::AspectMicroRecall,
        AbsaMetric::AspectMacroF1,
        AbsaMetric::AspectPolarityMicroF1,
        AbsaMetric::AspectPolarityMicroPrecision,
        AbsaMetric::AspectPolarityMicroRecall,
        AbsaMetric::AspectPolarityMacroF1,
    ];

    /// The score's snake_case name as used in reports, e.g. `"aspect_micro_f1"`.
    pub fn name(self) -> &'static str {
        match self {
            AbsaMetric::AspectMicroF1 => "aspect_micro_f1",
            AbsaMetric::AspectMicroPrecision => "aspect_micro_precision",
            AbsaMetric::AspectMicroRecall => "aspect_micro_recall",
            AbsaMetric::AspectMacroF1 => "aspect_macro_f1",
            AbsaMetric::AspectPolarityMicroF1 => "aspect_polarity_micro_f1",
            AbsaMetric::AspectPolarityMicroPrecision => "aspect_polarity_micro_precision",
            AbsaMetric::AspectPolarityMicroRecall => "aspect_polarity_micro_recall",
            AbsaMetric::AspectPolarityMacroF1 => "aspect_polarity_macro_f1",
        }
    }

    /// The level this score is computed at.
    pub(super) fn granularity(self) -> Granularity {
        match self {
            AbsaMetric::AspectMicroF1
            | AbsaMetric::AspectMicroPrecision
            | AbsaMetric::AspectMicroRecall
            | AbsaMetric::AspectMacroF1 => Granularity::Aspect,
            _ => Granularity::AspectPolarity,
        }
    }
}

/// One ABSA score of an [`AbsaF1`] as a [`CorpusMetric`]: a fraction in [0, 1], None on a
/// multiset with nothing predicted and nothing gold (micro) or no occurring category (macro).
#[derive(Debug, Clone, Copy)]
pub struct AbsaMetricView<'a> {
    scores: &'a AbsaF1,
    metric: AbsaMetric,
}

impl<'a> AbsaMetricView<'a> {
    /// The score `metric` of `scores`.
    pub(super) fn new(scores: &'a AbsaF1, metric: AbsaMetric) -> Self {
        Self { scores, metric }
    }

    /// Which score this view computes.
    pub fn metric(&self) -> AbsaMetric {
        self.metric
    }
}

impl CorpusMetric for AbsaMetricView<'_> {
    fn sample_count(&self) -> usize {
        self.scores.sample_count()
    }

    fn value_on(&self, indices: &[usize]) -> Option<f64> {
        let granularity = self.metric.granularity();
        match self.metric {
            AbsaMetric::AspectMacroF1 | AbsaMetric::AspectPolarityMacroF1 => {
                macro_f1(&self.scores.categories_on(granularity, indices)?)
            }
            AbsaMetric::AspectMicroF1 | AbsaMetric::AspectPolarityMicroF1 => {
                self.scores.total_on(granularity, indices)?.f1()
            }
            AbsaMetric::AspectMicroPrecision | AbsaMetric::AspectPolarityMicroPrecision => {
                let totals = self.scores.total_on(granularity, indices)?;
                totals.occurs().then(|| totals.precision())
            }
            AbsaMetric::AspectMicroRecall | AbsaMetric::AspectPolarityMicroRecall => {
                let totals = self.scores.total_on(granularity, indices)?;
                totals.occurs().then(|| totals.recall())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::absa_f1::tests::example;
    use crate::metrics::bootstrap::{bootstrap_ci, BootstrapConfig};

    #[test]
    fn views_match_the_score_table() -> crate::error::Result<()> {
        let scores = example()?;
        let expected = [
            (AbsaMetric::AspectMicroF1, 0.8),
            (AbsaMetric::AspectMicroPrecision, 4.0 / 6.0),
            (AbsaMetric::AspectMicroRecall, 1.0),
            (AbsaMetric::AspectMacroF1, 0.75),
            (AbsaMetric::AspectPolarityMicroF1, 0.5),
            (AbsaMetric::AspectPolarityMicroPrecision, 3.0 / 7.0),
            (AbsaMetric::AspectPolarityMicroRecall, 0.6),
            (AbsaMetric::AspectPolarityMacroF1, 0.6),
        ];
        for (metric, value) in expected {
            let view = scores.metric(metric);
            assert_eq!(view.value(), Some(value), "{}", metric.name());
            assert_eq!(view.metric(), metric);
            assert_eq!(view.sample_count(), 4);
            assert_eq!(view.value_on(&[]), None, "{}", metric.name());
            assert_eq!(view.value_on(&[0, 4]), None, "{}", metric.name());
        }
        // Sample 3 alone has predictions but no gold: precision is 0, recall 0, both defined.
        assert_eq!(
            scores.metric(AbsaMetric::AspectMicroRecall).value_on(&[2]),
            Some(0.0)
        );
        assert_eq!(
            scores
                .metric(AbsaMetric::AspectMicroPrecision)
                .value_on(&[2]),
            Some(0.0)
        );
        Ok(())
    }

    #[test]
    fn names_are_distinct_snake_case() {
        let names: Vec<&str> = AbsaMetric::ALL.iter().map(|metric| metric.name()).collect();
        assert_eq!(names[0], "aspect_micro_f1");
        assert_eq!(names[7], "aspect_polarity_macro_f1");
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 8);
    }

    #[test]
    fn bootstrap_over_a_view_is_deterministic() -> crate::error::Result<()> {
        let scores = example()?;
        let view = scores.metric(AbsaMetric::AspectPolarityMacroF1);
        let config = BootstrapConfig::default();
        let first = bootstrap_ci(&view, &config);
        assert_eq!(first, bootstrap_ci(&view, &config));
        let (low, high) = first.unwrap_or((f64::NAN, f64::NAN));
        assert!(
            (0.0..=0.6).contains(&low) && (0.6..=1.0).contains(&high),
            "{low} {high}"
        );
        Ok(())
    }
}
