//! The area under the ROC curve of scores against binary labels: the probability that a random
//! positive scores above a random negative, ties counting one half (the Mann–Whitney U
//! statistic over `positives × negatives`).

/// The ROC AUC of `scores` for `labels` (true = positive); None without both classes.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    let positives = pairs.iter().filter(|p| p.1).count();
    let negatives = pairs.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the positives' ranks (1-based, ties given their mean rank).
    let mut rank_sum = 0f64;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j + 1 < pairs.len() && pairs[j + 1].0 == pairs[i].0 {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mean_rank * pairs[i..=j].iter().filter(|p| p.1).count() as f64;
        i = j + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Positives 0.9, 0.4; negatives 0.5, 0.1: of the 4 pairs, 3 are ordered right → 0.75. With
    /// a tie (0.4 vs 0.4) that pair counts 1/2.
    #[test]
    fn auc_counts_ordered_pairs_and_half_ties() {
        let labels = [true, true, false, false];
        assert_eq!(roc_auc(&[0.9, 0.4, 0.5, 0.1], &labels), Some(0.75));
        assert_eq!(roc_auc(&[0.9, 0.4, 0.4, 0.1], &labels), Some(0.875));
        assert_eq!(roc_auc(&[0.1, 0.2, 0.3, 0.4], &labels), Some(0.0));
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
    }
}
