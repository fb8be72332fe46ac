//! Counts and score tables of aspect-based sentiment analysis (ABSA): per-sample true-positive,
//! predicted and gold counts, and the micro and macro precision, recall and F1 made from them.

use std::collections::BTreeSet;

/// Counts for one sample and one category (or all of a sample's items): compact so that a
/// bootstrap resample over thousands of samples stays in cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Tally {
    /// Predicted items that are also gold.
    pub(super) true_positives: u32,
    /// Predicted items (distinct within the sample).
    pub(super) predicted: u32,
    /// Gold items (distinct within the sample).
    pub(super) gold: u32,
}

/// Tallies summed over a multiset of samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct TallySum {
    pub(super) true_positives: usize,
    pub(super) predicted: usize,
    pub(super) gold: usize,
}

impl TallySum {
    /// Adds one sample's tally.
    pub(super) fn add(&mut self, tally: &Tally) {
        self.true_positives += tally.true_positives as usize;
        self.predicted += tally.predicted as usize;
        self.gold += tally.gold as usize;
    }

    /// True when something was predicted or is gold, i.e. the counts define an F1.
    pub(super) fn occurs(&self) -> bool {
        self.predicted + self.gold > 0
    }

    /// TP / predicted, 0 when nothing was predicted.
    pub(super) fn precision(&self) -> f64 {
        ratio(self.true_positives, self.predicted)
    }

    /// TP / gold, 0 when nothing is gold.
    pub(super) fn recall(&self) -> f64 {
        ratio(self.true_positives, self.gold)
    }

    /// 2·TP / (predicted + gold); None when both are 0.
    pub(super) fn f1(&self) -> Option<f64> {
        self.occurs()
            .then(|| 2.0 * self.true_positives as f64 / (self.predicted + self.gold) as f64)
    }
}

/// Counts one sample's predicted and gold item sets into its total and its per-category `row`;
/// returns the total and the number of predicted items outside the label set.
pub(super) fn count_items<T: Ord>(
    predicted: &BTreeSet<T>,
    gold: &BTreeSet<T>,
    category_of: impl Fn(&T) -> Option<usize>,
    row: &mut [Tally],
) -> (Tally, usize) {
    let mut total = Tally::default();
    let mut outside_label_set = 0;
    for item in predicted {
        bump(&mut total.predicted);
        let Some(category) = category_of(item) else {
            outside_label_set += 1;
            continue;
        };
        bump(&mut row[category].predicted);
        if gold.contains(item) {
            bump(&mut total.true_positives);
            bump(&mut row[category].true_positives);
        }
    }
    for item in gold {
        bump(&mut total.gold);
        if let Some(category) = category_of(item) {
            bump(&mut row[category].gold);
        }
    }
    (total, outside_label_set)
}

/// Adds one to a count; saturates rather than wraps (a sample would need 4 billion items).
fn bump(count: &mut u32) {
    *count = count.saturating_add(1);
}

/// `part / whole`, 0 when `whole` is 0.
fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Mean F1 over the categories that occur in gold or prediction; None when none occurs.
pub(super) fn macro_f1(per_category: &[TallySum]) -> Option<f64> {
    let scores: Vec<f64> = per_category.iter().filter_map(TallySum::f1).collect();
    (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64)
}

/// All ABSA scores on a set of samples, at the aspect and the (aspect, polarity) level.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AbsaScores {
    /// Scores of aspect detection (is the aspect mentioned at all).
    pub aspect: LevelScores,
    /// Scores of (aspect, polarity) pairs: the aspect and its sentiment must both be right.
    pub aspect_polarity: LevelScores,
    /// One row per label-set category, in label-set order (including categories that do not occur).
    pub per_category: Vec<CategoryScores>,
}

/// Micro and macro scores of one level; precision, recall and F1 are fractions in [0, 1].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LevelScores {
    /// Predicted items that are gold, summed over samples.
    pub true_positives: usize,
    /// Predicted items, summed over samples (including aspects outside the label set).
    pub predicted: usize,
    /// Gold items, summed over samples.
    pub gold: usize,
    /// TP / predicted; 0 when nothing was predicted.
    pub micro_precision: f64,
    /// TP / gold; 0 when nothing is gold.
    pub micro_recall: f64,
    /// 2·TP / (predicted + gold); None when both are 0.
    pub micro_f1: Option<f64>,
    /// Mean per-category F1 over the categories that occur in gold or prediction; None if none does.
    pub macro_f1: Option<f64>,
}

impl LevelScores {
    /// Scores from the level's totals and its per-category sums.
    pub(super) fn from_tallies(totals: &TallySum, per_category: &[TallySum]) -> Self {
        Self {
            true_positives: totals.true_positives,
            predicted: totals.predicted,
            gold: totals.gold,
            micro_precision: totals.precision(),
            micro_recall: totals.recall(),
            micro_f1: totals.f1(),
            macro_f1: macro_f1(per_category),
        }
    }
}

/// Scores of one label-set category at both levels.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CategoryScores {
    /// The category's name, normalised (trimmed, ASCII-uppercased).
    pub category: String,
    /// Aspect-level counts and scores of this category.
    pub aspect: CategoryCounts,
    /// Counts and scores of (aspect, polarity) pairs whose aspect is this category.
    pub aspect_polarity: CategoryCounts,
}

/// Counts and scores of one category at one level; scores are fractions in [0, 1].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CategoryCounts {
    /// Predicted items of the category that are gold.
    pub true_positives: usize,
    /// Predicted items of the category.
    pub predicted: usize,
    /// Gold items of the category.
    pub gold: usize,
    /// TP / predicted; 0 when nothing was predicted.
    pub precision: f64,
    /// TP / gold; 0 when nothing is gold.
    pub recall: f64,
    /// 2·TP / (predicted + gold); None when the category does not occur.
    pub f1: Option<f64>,
}

impl From<&TallySum> for CategoryCounts {
    fn from(sum: &TallySum) -> Self {
        Self {
            true_positives: sum.true_positives,
            predicted: sum.predicted,
            gold: sum.gold,
            precision: sum.precision(),
            recall: sum.recall(),
            f1: sum.f1(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(true_positives: usize, predicted: usize, gold: usize) -> TallySum {
        TallySum {
            true_positives,
            predicted,
            gold,
        }
    }

    #[test]
    fn tally_scores_known_answers() {
        let mut total = TallySum::default();
        total.add(&Tally {
            true_positives: 1,
            predicted: 2,
            gold: 3,
        });
        total.add(&Tally {
            true_positives: 2,
            predicted: 2,
            gold: 2,
        });
        assert_eq!(total, sum(3, 4, 5));
        assert_eq!(total.precision(), 0.75);
        assert_eq!(total.recall(), 0.6);
        assert_eq!(total.f1(), Some(6.0 / 9.0));
        assert_eq!(sum(0, 0, 0).f1(), None);
        assert_eq!(sum(0, 0, 4).precision(), 0.0);
        assert_eq!(sum(0, 3, 0).recall(), 0.0);
        assert_eq!(sum(0, 3, 0).f1(), Some(0.0));
    }

    #[test]
    fn macro_skips_categories_that_do_not_occur() {
        assert_eq!(
            macro_f1(&[sum(1, 1, 1), sum(0, 0, 0), sum(0, 1, 0)]),
            Some(0.5)
        );
        assert_eq!(macro_f1(&[sum(0, 0, 0)]), None);
        assert_eq!(macro_f1(&[]), None);
    }

    #[test]
    fn category_counts_from_sum() {
        let counts = CategoryCounts::from(&sum(1, 2, 4));
        assert_eq!(counts.precision, 0.5);
        assert_eq!(counts.recall, 0.25);
        assert_eq!(counts.f1, Some(2.0 / 6.0));
    }
}
