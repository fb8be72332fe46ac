//! Spearman's rank correlation, for comparing a metric's ranking of systems or items with a
//! reference ranking.

use super::corpus::CorpusMetric;

/// Spearman's rho in [-1, 1]: Pearson's correlation of the average ranks (ties share the mean
/// of their ranks). None when fewer than 2 pairs, lengths differ, a side is constant, or a
/// value is not finite.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    if !x.iter().chain(y).all(|value| value.is_finite()) {
        return None;
    }
    pearson(&average_ranks(x), &average_ranks(y))
}

/// 1-based ranks of `values`, ties given the mean of the ranks they span.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_unstable_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold equal values: ranks start+1 ..= end, whose mean is this.
        let rank = (start + end + 1) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = rank;
        }
        start = end;
    }
    ranks
}

/// Pearson's correlation of two equally long series; None when either has zero variance.
fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let count = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / count;
    let mean_y = y.iter().sum::<f64>() / count;
    let (mut cross, mut square_x, mut square_y) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mean_x, b - mean_y);
        cross += dx * dy;
        square_x += dx * dx;
        square_y += dy * dy;
    }
    if square_x == 0.0 || square_y == 0.0 {
        return None;
    }
    // Rounding can push |r| a hair past 1; the correlation itself cannot be.
    Some((cross / (square_x * square_y).sqrt()).clamp(-1.0, 1.0))
}

/// Spearman's rho as a corpus metric over (x, y) pairs, for bootstrapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Spearman {
    x: Vec<f64>,
    y: Vec<f64>,
}

impl Spearman {
    /// Pairs `(x[i], y[i])`; fails with [`crate::error::Error::InvalidInput`] if lengths differ.
    pub fn new(x: Vec<f64>, y: Vec<f64>) -> crate::error::Result<Self> {
        if x.len() != y.len() {
            return Err(crate::error::Error::InvalidInput(format!(
                "spearman needs paired series of equal length, got {} and {}",
                x.len(),
                y.len()
            )));
        }
        Ok(Self { x, y })
    }
}

impl CorpusMetric for Spearman {
    fn sample_count(&self) -> usize {
        self.x.len()
    }

    fn value_on(&self, indices: &[usize]) -> Option<f64> {
        let mut x = Vec::with_capacity(indices.len());
        let mut y = Vec::with_capacity(indices.len());
        for &index in indices {
            x.push(*self.x.get(index)?);
            y.push(*self.y.get(index)?);
        }
        spearman(&x, &y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: Option<f64>, expected: f64) {
        match actual {
            Some(value) => assert!((value - expected).abs() < 1e-12, "{value} != {expected}"),
            None => panic!("expected {expected}, got None"),
        }
    }

    #[test]
    fn spearman_with_ties_matches_scipy() {
        // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == 0.8207826816681233.
        assert_close(
            spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]),
            0.8207826816681233,
        );
    }

    #[test]
    fn spearman_textbook_without_ties() {
        // IQ vs hours of TV (Wikipedia's worked example): sum d² = 194, n = 10,
        // rho = 1 - 6·194 / (10·99) = -29/165.
        let iq = [
            106.0, 86.0, 100.0, 101.0, 99.0, 103.0, 97.0, 113.0, 112.0, 110.0,
        ];
        let tv = [7.0, 0.0, 27.0, 50.0, 28.0, 29.0, 20.0, 12.0, 6.0, 17.0];
        assert_close(spearman(&iq, &tv), -29.0 / 165.0);
        assert_close(spearman(&[1.0, 2.0, 3.0], &[30.0, 20.0, 10.0]), -1.0);
    }

    #[test]
    fn spearman_is_none_when_undefined() {
        assert_eq!(spearman(&[1.0], &[2.0]), None);
        assert_eq!(spearman(&[1.0, 2.0], &[2.0]), None);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[4.0, 4.0, 4.0]), None);
        assert_eq!(spearman(&[1.0, f64::NAN], &[1.0, 2.0]), None);
        assert_eq!(spearman(&[], &[]), None);
    }

    #[test]
    fn spearman_metric_resamples_pairs() -> crate::error::Result<()> {
        let metric = Spearman::new(vec![1.0, 2.0, 3.0, 4.0, 5.0], vec![5.0, 6.0, 7.0, 8.0, 7.0])?;
        assert_close(metric.value(), 0.8207826816681233);
        assert_close(metric.value_on(&[0, 1, 2]), 1.0);
        assert_eq!(metric.value_on(&[0, 0]), None);
        assert_eq!(metric.value_on(&[0, 9]), None);
        assert!(matches!(
            Spearman::new(vec![1.0], Vec::new()),
            Err(crate::error::Error::InvalidInput(_))
        ));
        Ok(())
    }
}
