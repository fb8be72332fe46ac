//! The shared abstraction every resampling procedure works against: a metric over a corpus of
//! samples that can be re-evaluated on any multiset of them.

/// A corpus-level metric that can be evaluated on any multiset of its samples (bootstrap resamples).
///
/// A sample is whatever unit the metric is defined over: a test item for accuracy or F1, a
/// coded unit for Krippendorff's alpha, an (x, y) pair for a rank correlation.
pub trait CorpusMetric: Sync {
    /// Number of samples (units) the metric is defined over.
    fn sample_count(&self) -> usize;

    /// Value on the samples at `indices` (indices may repeat); None when undefined on that
    /// multiset or when an index is not below [`CorpusMetric::sample_count`].
    fn value_on(&self, indices: &[usize]) -> Option<f64>;

    /// Value on all samples (default: `value_on(0..n)`).
    fn value(&self) -> Option<f64> {
        let indices: Vec<usize> = (0..self.sample_count()).collect();
        self.value_on(&indices)
    }
}

/// A reference to a metric is a metric (so owned and borrowed metrics mix in one list).
impl<T: CorpusMetric + ?Sized> CorpusMetric for &T {
    fn sample_count(&self) -> usize {
        (**self).sample_count()
    }

    fn value_on(&self, indices: &[usize]) -> Option<f64> {
        (**self).value_on(indices)
    }

    fn value(&self) -> Option<f64> {
        (**self).value()
    }
}

#[cfg(test)]
mod tests {
    use super::CorpusMetric;

    /// Sum of the selected samples' values; undefined on an empty selection.
    struct Sum(Vec<f64>);

    impl CorpusMetric for Sum {
        fn sample_count(&self) -> usize {
            self.0.len()
        }
        fn value_on(&self, indices: &[usize]) -> Option<f64> {
            if indices.is_empty() {
                return None;
            }
            indices.iter().map(|&i| self.0.get(i).copied()).sum()
        }
    }

    #[test]
    fn default_value_uses_every_sample_once() {
        let metric = Sum(vec![1.0, 2.0, 4.0]);
        assert_eq!(metric.value(), Some(7.0));
        assert_eq!(metric.value_on(&[2, 2, 0]), Some(9.0));
        assert_eq!(metric.value_on(&[3]), None);
        assert_eq!(Sum(Vec::new()).value(), None);
    }
}
