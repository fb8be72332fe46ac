//! Significance of the difference between two runs scored on the same samples: McNemar's test
//! on per-sample correctness and a paired bootstrap on any corpus metric.

use statrs::distribution::{Binomial, ChiSquared, ContinuousCDF, DiscreteCDF};

use super::bootstrap::{percentile_interval, valid_confidence, BootstrapConfig, Resampler};
use super::corpus::CorpusMetric;

/// Below this many discordant samples McNemar's test uses the exact binomial distribution; at or
/// above it the chi-squared approximation is accurate enough (the usual rule of thumb).
const EXACT_DISCORDANT_LIMIT: usize = 25;

/// Outcome of McNemar's test comparing a base and a candidate run on the same samples.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct McNemar {
    /// Samples the base run got right and the candidate got wrong.
    pub base_only_correct: usize,
    /// Samples the candidate run got right and the base got wrong.
    pub candidate_only_correct: usize,
    /// Two-sided p-value in [0, 1] for "both runs are equally accurate".
    pub p_value: f64,
    /// Which distribution gave the p-value.
    pub method: McNemarMethod,
}

/// How McNemar's p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum McNemarMethod {
    /// Exact two-sided binomial test on the discordant samples (fewer than 25 of them).
    ExactBinomial,
    /// Chi-squared with 1 degree of freedom and Edwards' continuity correction.
    ChiSquaredCorrected,
}

/// McNemar's test on per-sample correctness: exact two-sided binomial
/// (p = min(1, 2·P[X ≤ min(b,c)]), X~Bin(b+c, 0.5)) when b+c < 25, else chi-squared with
/// continuity correction ((|b−c|−1)²/(b+c), 1 d.o.f.). p = 1 when b+c = 0.
///
/// b counts samples only the base got right, c those only the candidate got right. When b = c
/// the corrected statistic is taken as 0 (p = 1), as R's `mcnemar.test` does, rather than the
/// overshoot (0 − 1)². Fails with [`crate::error::Error::InvalidInput`] if lengths differ.
pub fn mcnemar(base: &[bool], candidate: &[bool]) -> crate::error::Result<McNemar> {
    if base.len() != candidate.len() {
        return Err(crate::error::Error::InvalidInput(format!(
            "McNemar's test needs two runs over the same samples, got {} and {} samples",
            base.len(),
            candidate.len()
        )));
    }
    let base_only_correct = base
        .iter()
        .zip(candidate)
        .filter(|&(&b, &c)| b && !c)
        .count();
    let candidate_only_correct = base
        .iter()
        .zip(candidate)
        .filter(|&(&b, &c)| !b && c)
        .count();
    let discordant = base_only_correct + candidate_only_correct;
    let (p_value, method) = if discordant < EXACT_DISCORDANT_LIMIT {
        let smaller = base_only_correct.min(candidate_only_correct);
        (
            exact_binomial_p(smaller, discordant)?,
            McNemarMethod::ExactBinomial,
        )
    } else {
        let excess = base_only_correct
            .abs_diff(candidate_only_correct)
            .saturating_sub(1) as f64;
        let statistic = excess * excess / discordant as f64;
        (
            chi_squared_p(statistic)?,
            McNemarMethod::ChiSquaredCorrected,
        )
    };
    Ok(McNemar {
        base_only_correct,
        candidate_only_correct,
        p_value,
        method,
    })
}

/// Two-sided exact p-value min(1, 2·P[X ≤ smaller]) for X ~ Bin(discordant, 1/2).
fn exact_binomial_p(smaller: usize, discordant: usize) -> crate::error::Result<f64> {
    if discordant == 0 {
        return Ok(1.0);
    }
    let binomial = Binomial::new(0.5, discordant as u64).map_err(|error| {
        crate::error::Error::InvalidInput(format!("binomial for McNemar's test: {error}"))
    })?;
    Ok((2.0 * binomial.cdf(smaller as u64)).min(1.0))
}

/// Upper-tail p-value of a chi-squared statistic with 1 degree of freedom.
fn chi_squared_p(statistic: f64) -> crate::error::Result<f64> {
    let chi_squared = ChiSquared::new(1.0).map_err(|error| {
        crate::error::Error::InvalidInput(format!("chi-squared for McNemar's test: {error}"))
    })?;
    Ok(chi_squared.sf(statistic).clamp(0.0, 1.0))
}

/// Outcome of a paired bootstrap comparing a base and a candidate metric on the same samples.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PairedBootstrap {
    /// The base metric on all samples (the metric's own scale).
    pub base: f64,
    /// The candidate metric on all samples.
    pub candidate: f64,
    /// `candidate − base` on all samples.
    pub delta: f64,
    /// Percentile interval `[low, high]` of the resampled deltas at the configured confidence;
    /// null when fewer than half the resamples were defined.
    pub ci95: Option<(f64, f64)>,
    /// Two-sided bootstrap p-value in [0, 1] for "no difference" (1 when no resample was defined).
    pub p_value: f64,
    /// Resamples on which both metrics were defined: the denominator of the p-value.
    pub resamples: usize,
}

/// Paired bootstrap: the same resampled indices evaluate both metrics; delta = candidate − base;
/// percentile CI of the delta; two-sided p = min(1, 2·min(P*(delta ≤ 0), P*(delta ≥ 0))) over
/// defined resamples.
///
/// Fails with [`crate::error::Error::InvalidInput`] when the metrics have different sample counts
/// or `config.confidence` is not in (0, 1), and with [`crate::error::Error::Undefined`] when
/// either metric has no value on all samples.
pub fn paired_bootstrap(
    base: &dyn CorpusMetric,
    candidate: &dyn CorpusMetric,
    config: &BootstrapConfig,
) -> crate::error::Result<PairedBootstrap> {
    let sample_count = base.sample_count();
    if candidate.sample_count() != sample_count {
        return Err(crate::error::Error::InvalidInput(format!(
            "a paired bootstrap needs both runs over the same samples, got {} and {} samples",
            sample_count,
            candidate.sample_count()
        )));
    }
    if !valid_confidence(config.confidence) {
        return Err(crate::error::Error::InvalidInput(format!(
            "bootstrap confidence must be strictly between 0 and 1, got {}",
            config.confidence
        )));
    }
    let base_value = full_value(base, "base", sample_count)?;
    let candidate_value = full_value(candidate, "candidate", sample_count)?;

    let mut resampler = Resampler::new(sample_count, config.seed);
    let mut indices = Vec::with_capacity(sample_count);
    let mut deltas = Vec::with_capacity(config.resamples);
    for _ in 0..config.resamples {
        resampler.next_into(&mut indices);
        let pair = base.value_on(&indices).zip(candidate.value_on(&indices));
        if let Some((base_resampled, candidate_resampled)) = pair {
            let delta = candidate_resampled - base_resampled;
            if delta.is_finite() {
                deltas.push(delta);
            }
        }
    }
    let p_value = two_sided_p(&deltas);
    Ok(PairedBootstrap {
        base: base_value,
        candidate: candidate_value,
        delta: candidate_value - base_value,
        resamples: deltas.len(),
        ci95: percentile_interval(&mut deltas, config),
        p_value,
    })
}

/// The metric's value on all samples, or an Undefined error naming which run it belongs to.
fn full_value(
    metric: &dyn CorpusMetric,
    run: &str,
    sample_count: usize,
) -> crate::error::Result<f64> {
    metric
        .value()
        .ok_or_else(|| crate::error::Error::Undefined {
            metric: format!("{run} metric"),
            reason: format!("it has no value on these {sample_count} samples"),
        })
}

/// min(1, 2·min(share of deltas ≤ 0, share ≥ 0)); 1 when there are no deltas.
fn two_sided_p(deltas: &[f64]) -> f64 {
    if deltas.is_empty() {
        return 1.0;
    }
    let at_most_zero = deltas.iter().filter(|&&delta| delta <= 0.0).count();
    let at_least_zero = deltas.iter().filter(|&&delta| delta >= 0.0).count();
    let tail = at_most_zero.min(at_least_zero) as f64 / deltas.len() as f64;
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::accuracy::Accuracy;

    /// Runs with `both` samples right in both, then `base_only` right only in base, then
    /// `candidate_only` right only in candidate, then `neither` wrong in both.
    fn runs(
        both: usize,
        base_only: usize,
        candidate_only: usize,
        neither: usize,
    ) -> (Vec<bool>, Vec<bool>) {
        let mut base = Vec::new();
        let mut candidate = Vec::new();
        for (count, b, c) in [
            (both, true, true),
            (base_only, true, false),
            (candidate_only, false, true),
            (neither, false, false),
        ] {
            base.extend(std::iter::repeat_n(b, count));
            candidate.extend(std::iter::repeat_n(c, count));
        }
        (base, candidate)
    }

    #[test]
    fn mcnemar_exact_known_answers() -> crate::error::Result<()> {
        let (base, candidate) = runs(5, 0, 10, 3);
        let result = mcnemar(&base, &candidate)?;
        assert_eq!(result.base_only_correct, 0);
        assert_eq!(result.candidate_only_correct, 10);
        assert_eq!(result.method, McNemarMethod::ExactBinomial);
        assert!(
            (result.p_value - 0.001953125).abs() < 1e-12,
            "{}",
            result.p_value
        );
        // b = 2, c = 8: 2·P[Bin(10, ½) ≤ 2] = 2·56/1024 = 0.109375.
        let (base, candidate) = runs(0, 2, 8, 0);
        assert!((mcnemar(&base, &candidate)?.p_value - 0.109375).abs() < 1e-12);
        // b = c: 2·P[X ≤ 3] for Bin(6, ½) = 2·42/64 > 1, so p = 1.
        let (base, candidate) = runs(0, 3, 3, 0);
        assert_eq!(mcnemar(&base, &candidate)?.p_value, 1.0);
        let (base, candidate) = runs(4, 0, 0, 2);
        let none = mcnemar(&base, &candidate)?;
        assert_eq!(
            (none.p_value, none.method),
            (1.0, McNemarMethod::ExactBinomial)
        );
        Ok(())
    }

    #[test]
    fn mcnemar_chi_squared_known_answers() -> crate::error::Result<()> {
        // (|30 − 10| − 1)² / 40 = 9.025; P[χ²₁ > 9.025] = erfc(√4.5125) = 0.0026631...
        let (base, candidate) = runs(50, 30, 10, 7);
        let result = mcnemar(&base, &candidate)?;
        assert_eq!(result.method, McNemarMethod::ChiSquaredCorrected);
        assert!(
            (result.p_value - 0.002663119).abs() < 1e-8,
            "{}",
            result.p_value
        );
        // (|10 − 20| − 1)² / 30 = 2.7; P[χ²₁ > 2.7] = erfc(√1.35) = 0.1003482...
        let (base, candidate) = runs(0, 10, 20, 0);
        let result = mcnemar(&base, &candidate)?;
        assert!(
            (result.p_value - 0.100348).abs() < 1e-6,
            "{}",
            result.p_value
        );
        let (base, candidate) = runs(0, 15, 15, 0);
        assert_eq!(mcnemar(&base, &candidate)?.p_value, 1.0);
        Ok(())
    }

    #[test]
    fn mcnemar_rejects_unpaired_runs() {
        assert!(matches!(
            mcnemar(&[true], &[]),
            Err(crate::error::Error::InvalidInput(_))
        ));
    }

    #[test]
    fn mcnemar_serializes_method_in_snake_case() -> serde_json::Result<()> {
        let value = serde_json::to_value(McNemarMethod::ChiSquaredCorrected)?;
        assert_eq!(value, serde_json::json!("chi_squared_corrected"));
        Ok(())
    }

    #[test]
    fn paired_bootstrap_of_identical_runs_has_no_difference() -> crate::error::Result<()> {
        let (base, _) = runs(30, 10, 0, 10);
        let metric = Accuracy::new(base);
        let result = paired_bootstrap(&metric, &metric.clone(), &BootstrapConfig::default())?;
        assert_eq!(result.delta, 0.0);
        assert_eq!(result.p_value, 1.0);
        assert_eq!(result.ci95, Some((0.0, 0.0)));
        assert_eq!(result.resamples, 1000);
        Ok(())
    }

    #[test]
    fn paired_bootstrap_detects_a_clearly_better_candidate() -> crate::error::Result<()> {
        let (base, candidate) = runs(40, 2, 30, 28);
        let config = BootstrapConfig::default();
        let result = paired_bootstrap(
            &Accuracy::new(base.clone()),
            &Accuracy::new(candidate.clone()),
            &config,
        )?;
        assert_eq!(result.base, 0.42);
        assert_eq!(result.candidate, 0.70);
        assert!((result.delta - 0.28).abs() < 1e-12);
        assert!(result.p_value < 0.01, "{}", result.p_value);
        let (low, high) = result.ci95.unwrap_or((f64::NAN, f64::NAN));
        assert!(0.0 < low && low < 0.28 && 0.28 < high, "{low} {high}");
        let again = paired_bootstrap(&Accuracy::new(base), &Accuracy::new(candidate), &config)?;
        assert_eq!(result, again);
        Ok(())
    }

    #[test]
    fn paired_bootstrap_rejects_bad_inputs() {
        let config = BootstrapConfig::default();
        let short = Accuracy::new(vec![true]);
        let long = Accuracy::new(vec![true, false]);
        assert!(matches!(
            paired_bootstrap(&short, &long, &config),
            Err(crate::error::Error::InvalidInput(_))
        ));
        let empty = Accuracy::new(Vec::new());
        assert!(matches!(
            paired_bootstrap(&empty, &empty, &config),
            Err(crate::error::Error::Undefined { .. })
        ));
        let bad_level = BootstrapConfig {
            confidence: 0.0,
            ..config
        };
        assert!(matches!(
            paired_bootstrap(&long, &long, &bad_level),
            Err(crate::error::Error::InvalidInput(_))
        ));
    }

    #[test]
    fn two_sided_p_counts_both_tails() {
        assert_eq!(two_sided_p(&[]), 1.0);
        assert_eq!(two_sided_p(&[1.0, 2.0, 3.0, -1.0]), 0.5);
        assert_eq!(two_sided_p(&[1.0, 2.0, 3.0, 4.0]), 0.0);
        assert_eq!(two_sided_p(&[0.0, 1.0, 1.0, 1.0]), 0.5);
    }
}
