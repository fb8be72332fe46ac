//! Accuracy: the fraction of samples answered correctly.

use super::corpus::CorpusMetric;

/// Accuracy over per-sample correctness flags, as a fraction in [0, 1].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accuracy {
    correct: Vec<bool>,
}

impl Accuracy {
    /// Accuracy over samples whose correctness is `correct[i]`.
    pub fn new(correct: Vec<bool>) -> Self {
        Self { correct }
    }

    /// The per-sample correctness flags, in sample order.
    pub fn correct(&self) -> &[bool] {
        &self.correct
    }
}

impl CorpusMetric for Accuracy {
    fn sample_count(&self) -> usize {
        self.correct.len()
    }

    /// Fraction of the selected samples that are correct; None for an empty selection.
    fn value_on(&self, indices: &[usize]) -> Option<f64> {
        if indices.is_empty() {
            return None;
        }
        let mut hits = 0usize;
        for &index in indices {
            hits += usize::from(*self.correct.get(index)?);
        }
        Some(hits as f64 / indices.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_is_mean_of_correct() {
        let accuracy = Accuracy::new(vec![true, false, true, true]);
        assert_eq!(accuracy.value(), Some(0.75));
        assert_eq!(accuracy.value_on(&[1, 1, 0]), Some(1.0 / 3.0));
        assert_eq!(accuracy.value_on(&[]), None);
        assert_eq!(accuracy.value_on(&[4]), None);
        assert_eq!(Accuracy::new(Vec::new()).value(), None);
        assert_eq!(accuracy.correct(), &[true, false, true, true]);
    }
}
