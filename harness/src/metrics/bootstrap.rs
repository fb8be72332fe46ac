//! Percentile bootstrap confidence intervals over a [`CorpusMetric`], with a deterministic
//! resample stream so that the same seed always gives the same interval, bit for bit.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::corpus::CorpusMetric;

/// How to bootstrap a metric: how many resamples, from which seed, at which confidence.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BootstrapConfig {
    /// Number of resamples drawn (each the size of the corpus, with replacement).
    pub resamples: usize,
    /// Seed of the resample stream; the same seed gives the same resamples.
    pub seed: u64,
    /// Two-sided confidence level of the interval, a fraction in (0, 1), e.g. 0.95.
    pub confidence: f64,
}

impl Default for BootstrapConfig {
    /// 1000 resamples, seed 0, 95% confidence.
    fn default() -> Self {
        Self {
            resamples: 1000,
            seed: 0,
            confidence: 0.95,
        }
    }
}

/// A point value with its optional CI.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Estimate {
    /// The metric on the full corpus, on the metric's own scale (e.g. a fraction in [0, 1]).
    pub value: f64,
    /// Percentile bootstrap interval `[low, high]` on the same scale; null when not computed or
    /// when too few resamples were defined.
    pub ci95: Option<(f64, f64)>,
}

/// Deterministic resample index generator shared with paired tests: the same seed gives the
/// same resamples.
///
/// It draws from ChaCha8, whose output stream is fixed by its specification, and maps words to
/// indices itself rather than through `rand`'s range sampling, whose algorithm may change between
/// releases: a stored seed therefore reproduces its intervals on any version.
#[derive(Debug, Clone)]
pub struct Resampler {
    rng: ChaCha8Rng,
    sample_count: usize,
}

impl Resampler {
    /// A generator of resamples of `sample_count` indices in `0..sample_count`, seeded with `seed`.
    pub fn new(sample_count: usize, seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            sample_count,
        }
    }

    /// Number of indices in each resample (and the exclusive upper bound of every index).
    pub fn sample_count(&self) -> usize {
        self.sample_count
    }

    /// Replaces the contents of `buf` with `sample_count` uniform draws with replacement.
    pub fn next_into(&mut self, buf: &mut Vec<usize>) {
        buf.clear();
        buf.reserve(self.sample_count);
        let bound = self.sample_count as u64;
        for _ in 0..self.sample_count {
            // The draw is below `bound`, itself a usize, so the conversion never truncates.
            buf.push(self.uniform_below(bound) as usize);
        }
    }

    /// A uniform draw in `0..bound` (bound > 0) by Lemire's multiply-and-reject method, which
    /// is unbiased and needs a division only on the rare rejection path.
    fn uniform_below(&mut self, bound: u64) -> u64 {
        let mut product = u128::from(self.rng.next_u64()) * u128::from(bound);
        let mut low = product as u64;
        if low < bound {
            let threshold = bound.wrapping_neg() % bound;
            while low < threshold {
                product = u128::from(self.rng.next_u64()) * u128::from(bound);
                low = product as u64;
            }
        }
        (product >> 64) as u64
    }
}

/// The `q`-quantile (q in [0, 1], clamped) of ascending `sorted` values by linear interpolation
/// between the closest ranks, as numpy's default method; NaN when `sorted` is empty or `q` is NaN.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    // position lies in [0, len - 1], so both ranks index into the slice.
    let lower = position.floor() as usize;
    let upper = (lower + 1).min(sorted.len() - 1);
    let fraction = position - lower as f64;
    sorted[lower] + fraction * (sorted[upper] - sorted[lower])
}

/// Percentile bootstrap CI over samples; resamples where the metric is undefined are skipped;
/// None when fewer than half the resamples are defined or resamples == 0 or sample_count == 0.
///
/// Also None when `config.confidence` is not strictly between 0 and 1. The interval is on the
/// metric's own scale.
pub fn bootstrap_ci(metric: &dyn CorpusMetric, config: &BootstrapConfig) -> Option<(f64, f64)> {
    let sample_count = metric.sample_count();
    if sample_count == 0 || config.resamples == 0 || !valid_confidence(config.confidence) {
        return None;
    }
    let mut resampler = Resampler::new(sample_count, config.seed);
    let mut indices = Vec::with_capacity(sample_count);
    let mut values = Vec::with_capacity(config.resamples);
    for _ in 0..config.resamples {
        resampler.next_into(&mut indices);
        if let Some(value) = metric.value_on(&indices).filter(|value| value.is_finite()) {
            values.push(value);
        }
    }
    percentile_interval(&mut values, config)
}

/// The metric's value on all samples with, when `config` is given, its bootstrap CI.
///
/// Fails with [`crate::error::Error::Undefined`] (naming the metric `name`) when the metric has
/// no value on the full corpus.
pub fn estimate(
    metric: &dyn CorpusMetric,
    name: &str,
    config: Option<&BootstrapConfig>,
) -> crate::error::Result<Estimate> {
    let value = metric
        .value()
        .ok_or_else(|| crate::error::Error::Undefined {
            metric: name.to_string(),
            reason: format!(
                "it has no value on these {} samples (e.g. nothing to count, or too few units)",
                metric.sample_count()
            ),
        })?;
    Ok(Estimate {
        value,
        ci95: config.and_then(|config| bootstrap_ci(metric, config)),
    })
}

/// True when `confidence` is a usable two-sided level, strictly between 0 and 1.
pub(crate) fn valid_confidence(confidence: f64) -> bool {
    confidence > 0.0 && confidence < 1.0
}

/// The central `config.confidence` percentile interval of the defined resample `values`
/// (sorted in place); None when fewer than half of `config.resamples` are defined.
pub(crate) fn percentile_interval(
    values: &mut [f64],
    config: &BootstrapConfig,
) -> Option<(f64, f64)> {
    if values.is_empty() || values.len() * 2 < config.resamples {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - config.confidence) / 2.0;
    Some((percentile(values, tail), percentile(values, 1.0 - tail)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean of the selected samples; undefined on an empty selection.
    struct Mean(Vec<f64>);

    impl CorpusMetric for Mean {
        fn sample_count(&self) -> usize {
            self.0.len()
        }
        fn value_on(&self, indices: &[usize]) -> Option<f64> {
            if indices.is_empty() {
                return None;
            }
            let sum: Option<f64> = indices.iter().map(|&i| self.0.get(i).copied()).sum();
            Some(sum? / indices.len() as f64)
        }
    }

    /// Over `samples` samples; defined (as 1) only when sample 0 is drawn at least `times` times.
    struct NeedsFirst {
        samples: usize,
        times: usize,
    }

    impl CorpusMetric for NeedsFirst {
        fn sample_count(&self) -> usize {
            self.samples
        }
        fn value_on(&self, indices: &[usize]) -> Option<f64> {
            let drawn = indices.iter().filter(|&&index| index == 0).count();
            (drawn >= self.times).then_some(1.0)
        }
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&sorted, 0.0), 1.0);
        assert_eq!(percentile(&sorted, 1.0), 4.0);
        assert_eq!(percentile(&sorted, 0.5), 2.5);
        // numpy.percentile([1, 2, 3, 4], 25) == 1.75; 2.5% of [1..=10] == 1.225.
        assert_eq!(percentile(&sorted, 0.25), 1.75);
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!((percentile(&ten, 0.025) - 1.225).abs() < 1e-12);
        assert!((percentile(&ten, 0.975) - 9.775).abs() < 1e-12);
        assert_eq!(percentile(&[7.0], 0.3), 7.0);
        assert!(percentile(&[], 0.5).is_nan());
        assert!(percentile(&sorted, f64::NAN).is_nan());
        assert_eq!(percentile(&sorted, 2.0), 4.0);
    }

    #[test]
    fn resampler_is_deterministic_and_in_range() {
        let mut first = Resampler::new(50, 7);
        let mut second = Resampler::new(50, 7);
        let mut other = Resampler::new(50, 8);
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        first.next_into(&mut a);
        second.next_into(&mut b);
        other.next_into(&mut c);
        assert_eq!(a.len(), 50);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|&index| index < 50));
        first.next_into(&mut a);
        assert_ne!(a, b, "the stream moves on between resamples");
        let mut empty = Resampler::new(0, 1);
        empty.next_into(&mut a);
        assert!(a.is_empty());
    }

    #[test]
    fn resampler_draws_are_roughly_uniform() {
        let mut resampler = Resampler::new(4, 3);
        let mut counts = [0usize; 4];
        let mut buf = Vec::new();
        for _ in 0..10_000 {
            resampler.next_into(&mut buf);
            for &index in &buf {
                counts[index] += 1;
            }
        }
        // 40,000 draws: each count is 10,000 ± ~87 (one standard deviation).
        assert!(
            counts.iter().all(|&count| count.abs_diff(10_000) < 500),
            "{counts:?}"
        );
    }

    #[test]
    fn ci_is_deterministic_and_brackets_the_mean() {
        let metric = Mean((0..200).map(|i| f64::from(i % 10)).collect());
        let config = BootstrapConfig::default();
        let first = bootstrap_ci(&metric, &config);
        let second = bootstrap_ci(&metric, &config);
        assert_eq!(first, second);
        let (low, high) = first.unwrap_or((f64::NAN, f64::NAN));
        assert!(low < 4.5 && 4.5 < high, "{low} {high}");
        // Standard error of the mean is ~0.203, so the 95% interval is about ±0.40.
        assert!((high - low - 0.8).abs() < 0.15, "{low} {high}");
        let other = bootstrap_ci(&metric, &BootstrapConfig { seed: 1, ..config });
        assert_ne!(first, other);
    }

    #[test]
    fn ci_of_a_constant_is_that_constant() {
        let metric = Mean(vec![0.25; 30]);
        assert_eq!(
            bootstrap_ci(&metric, &BootstrapConfig::default()),
            Some((0.25, 0.25))
        );
    }

    #[test]
    fn ci_is_none_on_degenerate_inputs() {
        let config = BootstrapConfig::default();
        assert_eq!(bootstrap_ci(&Mean(Vec::new()), &config), None);
        let metric = Mean(vec![1.0, 2.0]);
        let no_resamples = BootstrapConfig {
            resamples: 0,
            ..config
        };
        assert_eq!(bootstrap_ci(&metric, &no_resamples), None);
        let bad_level = BootstrapConfig {
            confidence: 1.0,
            ..config
        };
        assert_eq!(bootstrap_ci(&metric, &bad_level), None);
        // Sample 0 is in a resample of 10 with probability 1 - 0.9^10 ≈ 0.65: defined often enough.
        let once = NeedsFirst {
            samples: 10,
            times: 1,
        };
        assert_eq!(bootstrap_ci(&once, &config), Some((1.0, 1.0)));
        // It is drawn twice or more with probability 1 - 0.9^10 - 10·0.1·0.9^9 ≈ 0.26: too rare.
        let twice = NeedsFirst {
            samples: 10,
            times: 2,
        };
        assert_eq!(bootstrap_ci(&twice, &config), None);
    }

    #[test]
    fn estimate_reports_value_ci_and_undefined() -> crate::error::Result<()> {
        let metric = Mean(vec![1.0, 3.0]);
        let plain = estimate(&metric, "mean", None)?;
        assert_eq!(
            plain,
            Estimate {
                value: 2.0,
                ci95: None
            }
        );
        let with_ci = estimate(&metric, "mean", Some(&BootstrapConfig::default()))?;
        assert_eq!(with_ci.value, 2.0);
        assert_eq!(with_ci.ci95, Some((1.0, 3.0)));
        match estimate(&Mean(Vec::new()), "mean", None) {
            Err(crate::error::Error::Undefined { metric, .. }) => assert_eq!(metric, "mean"),
            other => panic!("expected Undefined, got {other:?}"),
        }
        Ok(())
    }

    #[test]
    fn estimate_serializes_interval_as_array_or_null() -> serde_json::Result<()> {
        let with_ci = Estimate {
            value: 0.5,
            ci95: Some((0.25, 0.75)),
        };
        assert_eq!(
            serde_json::to_string(&with_ci)?,
            r#"{"value":0.5,"ci95":[0.25,0.75]}"#
        );
        let without = Estimate {
            value: 0.5,
            ci95: None,
        };
        assert_eq!(
            serde_json::to_string(&without)?,
            r#"{"value":0.5,"ci95":null}"#
        );
        Ok(())
    }
}
