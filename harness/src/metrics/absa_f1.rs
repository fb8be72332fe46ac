//! Aspect-based sentiment analysis (ABSA) F1 with the semantics of VLSP's SAEvaluate: per sample,
//! gold and predicted aspects and (aspect, polarity) pairs are sets, scored micro over all
//! samples and macro over the label set's categories.

use std::collections::{BTreeSet, HashMap};

use super::absa_metric::{AbsaMetric, AbsaMetricView};
use super::absa_scores::{count_items, AbsaScores, CategoryScores, LevelScores, Tally, TallySum};

pub use crate::data::AspectPair;

/// The two levels ABSA is scored at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Granularity {
    /// Aspects alone.
    Aspect,
    /// (aspect, polarity) pairs.
    AspectPolarity,
}

/// ABSA scores of a predictions file against gold, with per-sample counts precomputed so that
/// any resample is scored by summing small arrays.
///
/// Aspects are compared trimmed and ASCII-uppercased, polarities trimmed and lowercased. A
/// predicted aspect outside the label set is a false positive in the micro scores and counts in
/// [`AbsaF1::invalid_labels`], but makes no macro category; a gold aspect outside the label set
/// counts as missed in the micro scores (it can never be matched).
#[derive(Debug, Clone, PartialEq)]
pub struct AbsaF1 {
    /// Normalised label-set categories, in label-set order without repeats.
    categories: Vec<String>,
    /// Per sample: aspect counts over all its aspects, including those outside the label set.
    aspect_totals: Vec<Tally>,
    /// Per sample: pair counts over all its pairs, including those outside the label set.
    pair_totals: Vec<Tally>,
    /// Per sample and category (`sample * categories.len() + category`): aspect counts.
    aspect_by_category: Vec<Tally>,
    /// Per sample and category: counts of pairs whose aspect is that category.
    pair_by_category: Vec<Tally>,
    /// Distinct predicted aspects outside the label set, summed over samples.
    invalid_labels: usize,
}

impl AbsaF1 {
    /// Scores `predicted[i]` against `gold[i]` over the categories of `label_set`; fails with
    /// [`crate::error::Error::InvalidInput`] when `gold` and `predicted` differ in length.
    pub fn new(
        label_set: &[String],
        gold: &[Vec<AspectPair>],
        predicted: &[Vec<AspectPair>],
    ) -> crate::error::Result<Self> {
        if gold.len() != predicted.len() {
            return Err(crate::error::Error::InvalidInput(format!(
                "ABSA scoring needs one prediction per gold sample, got {} gold and {} predicted",
                gold.len(),
                predicted.len()
            )));
        }
        let mut categories: Vec<String> = Vec::with_capacity(label_set.len());
        let mut category_index: HashMap<String, usize> = HashMap::new();
        for label in label_set {
            let category = normalize_aspect(label);
            if !category_index.contains_key(&category) {
                category_index.insert(category.clone(), categories.len());
                categories.push(category);
            }
        }
        let mut scores = Self {
            aspect_totals: Vec::with_capacity(gold.len()),
            pair_totals: Vec::with_capacity(gold.len()),
            aspect_by_category: vec![Tally::default(); gold.len() * categories.len()],
            pair_by_category: vec![Tally::default(); gold.len() * categories.len()],
            categories,
            invalid_labels: 0,
        };
        for (sample, (gold_items, predicted_items)) in gold.iter().zip(predicted).enumerate() {
            scores.add_sample(sample, &category_index, gold_items, predicted_items);
        }
        Ok(scores)
    }

    /// Counts one sample into the per-sample totals and the per-category rows.
    fn add_sample(
        &mut self,
        sample: usize,
        category_index: &HashMap<String, usize>,
        gold: &[AspectPair],
        predicted: &[AspectPair],
    ) {
        let gold_pairs = normalized_pairs(gold);
        let predicted_pairs = normalized_pairs(predicted);
        let gold_aspects: BTreeSet<&str> = gold_pairs.iter().map(|p| p.aspect.as_str()).collect();
        let predicted_aspects: BTreeSet<&str> =
            predicted_pairs.iter().map(|p| p.aspect.as_str()).collect();

        let width = self.categories.len();
        let row = sample * width..(sample + 1) * width;
        let category_of = |aspect: &str| category_index.get(aspect).copied();
        let (aspect_total, invalid) = count_items(
            &predicted_aspects,
            &gold_aspects,
            |aspect| category_of(aspect),
            &mut self.aspect_by_category[row.clone()],
        );
        self.invalid_labels += invalid;
        self.aspect_totals.push(aspect_total);
        let (pair_total, _) = count_items(
            &predicted_pairs,
            &gold_pairs,
            |pair| category_of(&pair.aspect),
            &mut self.pair_by_category[row],
        );
        self.pair_totals.push(pair_total);
    }

    /// Number of samples scored.
    pub fn sample_count(&self) -> usize {
        self.aspect_totals.len()
    }

    /// The label set's categories, normalised (trimmed, ASCII-uppercased), in label-set order.
    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    /// Distinct predicted aspects outside the label set, counted per sample and summed.
    pub fn invalid_labels(&self) -> usize {
        self.invalid_labels
    }

    /// All scores on the samples at `indices` (repeats count again; indices not below the
    /// sample count are ignored).
    pub fn scores_on(&self, indices: &[usize]) -> AbsaScores {
        let in_range: Vec<usize> = indices
            .iter()
            .copied()
            .filter(|&index| index < self.sample_count())
            .collect();
        // Every index is now in range, so the sums are always Some.
        let sums = |granularity| {
            let totals = self.total_on(granularity, &in_range).unwrap_or_default();
            let categories = self
                .categories_on(granularity, &in_range)
                .unwrap_or_default();
            (totals, categories)
        };
        let (aspect_totals, aspect_categories) = sums(Granularity::Aspect);
        let (pair_totals, pair_categories) = sums(Granularity::AspectPolarity);
        let per_category = self
            .categories
            .iter()
            .zip(aspect_categories.iter().zip(&pair_categories))
            .map(|(category, (aspect, pair))| CategoryScores {
                category: category.clone(),
                aspect: aspect.into(),
                aspect_polarity: pair.into(),
            })
            .collect();
        AbsaScores {
            aspect: LevelScores::from_tallies(&aspect_totals, &aspect_categories),
            aspect_polarity: LevelScores::from_tallies(&pair_totals, &pair_categories),
            per_category,
        }
    }

    /// All scores on every sample.
    pub fn scores(&self) -> AbsaScores {
        let indices: Vec<usize> = (0..self.sample_count()).collect();
        self.scores_on(&indices)
    }

    /// One of the scores as a [`super::CorpusMetric`] over samples, for bootstrapping.
    pub fn metric(&self, name: AbsaMetric) -> AbsaMetricView<'_> {
        AbsaMetricView::new(self, name)
    }

    /// The per-sample totals and per-category rows of one level.
    fn level(&self, granularity: Granularity) -> (&[Tally], &[Tally]) {
        match granularity {
            Granularity::Aspect => (&self.aspect_totals, &self.aspect_by_category),
            Granularity::AspectPolarity => (&self.pair_totals, &self.pair_by_category),
        }
    }

    /// Totals of one level over `indices`; None if any index is out of range.
    pub(super) fn total_on(&self, granularity: Granularity, indices: &[usize]) -> Option<TallySum> {
        let (totals, _) = self.level(granularity);
        let mut sum = TallySum::default();
        for &index in indices {
            sum.add(totals.get(index)?);
        }
        Some(sum)
    }

    /// Per-category sums of one level over `indices`; None if any index is out of range.
    pub(super) fn categories_on(
        &self,
        granularity: Granularity,
        indices: &[usize],
    ) -> Option<Vec<TallySum>> {
        let (_, rows) = self.level(granularity);
        let width = self.categories.len();
        let mut sums = vec![TallySum::default(); width];
        for &index in indices {
            if index >= self.sample_count() {
                return None;
            }
            let row = &rows[index * width..(index + 1) * width];
            for (sum, tally) in sums.iter_mut().zip(row) {
                sum.add(tally);
            }
        }
        Some(sums)
    }
}

/// The aspect as compared: trimmed and ASCII-uppercased.
fn normalize_aspect(aspect: &str) -> String {
    aspect.trim().to_ascii_uppercase()
}

/// A sample's items as a set of normalised (aspect, polarity) pairs; repeats collapse.
fn normalized_pairs(items: &[AspectPair]) -> BTreeSet<AspectPair> {
    items
        .iter()
        .map(|pair| {
            AspectPair::new(
                normalize_aspect(&pair.aspect),
                pair.polarity.trim().to_lowercase(),
            )
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<AspectPair> {
        items.iter().map(|&(a, p)| AspectPair::new(a, p)).collect()
    }

    /// Four samples (DESIGN never occurs):
    /// 1. duplicates and a wrong polarity; 2. an invalid aspect WIFI with two polarities;
    /// 3. PRICE only in prediction; 4. two gold polarities for CAMERA, polarity in capitals.
    pub(crate) fn example() -> crate::error::Result<AbsaF1> {
        let labels: Vec<String> = ["BATTERY", "camera ", "SCREEN", "PRICE", "DESIGN"]
            .map(String::from)
            .to_vec();
        let gold = vec![
            pairs(&[("BATTERY", "positive"), ("CAMERA", "negative")]),
            pairs(&[("SCREEN", "neutral")]),
            pairs(&[]),
            pairs(&[("CAMERA", "positive"), ("CAMERA", "negative")]),
        ];
        let predicted = vec![
            pairs(&[
                ("battery", "Positive"),
                ("battery ", "positive"),
                ("CAMERA", "positive"),
            ]),
            pairs(&[
                ("SCREEN", "neutral"),
                ("WIFI", "positive"),
                ("wifi", "negative"),
            ]),
            pairs(&[("PRICE", "negative")]),
            pairs(&[(" camera", "NEGATIVE ")]),
        ];
        AbsaF1::new(&labels, &gold, &predicted)
    }

    #[test]
    fn micro_scores_known_answers() -> crate::error::Result<()> {
        let scores = example()?.scores();
        // Aspects: TP 2+1+0+1, predicted 2+2+1+1 (WIFI is a false positive), gold 2+1+0+1.
        let aspect = &scores.aspect;
        assert_eq!(
            (aspect.true_positives, aspect.predicted, aspect.gold),
            (4, 6, 4)
        );
        assert_eq!(aspect.micro_precision, 4.0 / 6.0);
        assert_eq!(aspect.micro_recall, 1.0);
        assert_eq!(aspect.micro_f1, Some(0.8));
        // Pairs: TP 1+1+0+1, predicted 2+3+1+1, gold 2+1+0+2.
        let pair = &scores.aspect_polarity;
        assert_eq!((pair.true_positives, pair.predicted, pair.gold), (3, 7, 5));
        assert_eq!(pair.micro_precision, 3.0 / 7.0);
        assert_eq!(pair.micro_recall, 0.6);
        assert_eq!(pair.micro_f1, Some(0.5));
        Ok(())
    }

    #[test]
    fn macro_scores_cover_only_occurring_categories() -> crate::error::Result<()> {
        let scores = example()?.scores();
        // Aspect F1: BATTERY 1, CAMERA 1, SCREEN 1, PRICE 0 (prediction only); DESIGN skipped.
        assert_eq!(scores.aspect.macro_f1, Some(0.75));
        // Pair F1: BATTERY 1, CAMERA 2·1/(2+3) = 0.4, SCREEN 1, PRICE 0.
        assert_eq!(scores.aspect_polarity.macro_f1, Some(0.6));
        let names: Vec<&str> = scores
            .per_category
            .iter()
            .map(|row| row.category.as_str())
            .collect();
        assert_eq!(names, ["BATTERY", "CAMERA", "SCREEN", "PRICE", "DESIGN"]);
        let camera = &scores.per_category[1].aspect_polarity;
        assert_eq!(
            (camera.true_positives, camera.predicted, camera.gold),
            (1, 2, 3)
        );
        assert_eq!(
            (camera.precision, camera.recall, camera.f1),
            (0.5, 1.0 / 3.0, Some(0.4))
        );
        let price = &scores.per_category[3].aspect;
        assert_eq!(
            (price.true_positives, price.predicted, price.gold, price.f1),
            (0, 1, 0, Some(0.0))
        );
        let design = &scores.per_category[4].aspect;
        assert_eq!((design.predicted, design.gold, design.f1), (0, 0, None));
        Ok(())
    }

    #[test]
    fn invalid_aspects_are_counted_once_per_sample() -> crate::error::Result<()> {
        let scores = example()?;
        assert_eq!(scores.invalid_labels(), 1);
        assert_eq!(scores.sample_count(), 4);
        assert_eq!(scores.categories().len(), 5);
        Ok(())
    }

    #[test]
    fn subsets_and_repeats() -> crate::error::Result<()> {
        let scores = example()?;
        let only_price = scores.scores_on(&[2]);
        assert_eq!(only_price.aspect.micro_f1, Some(0.0));
        assert_eq!(only_price.aspect.macro_f1, Some(0.0));
        assert_eq!(only_price.aspect.micro_recall, 0.0);
        // Sample 2 twice: TP 2, predicted 4, gold 2 at the aspect level; 9 is out of range.
        let twice = scores.scores_on(&[1, 1, 9]);
        assert_eq!(twice.aspect.true_positives, 2);
        assert_eq!(twice.aspect.predicted, 4);
        assert_eq!(twice.aspect.micro_f1, Some(4.0 / 6.0));
        let nothing = scores.scores_on(&[]);
        assert_eq!(
            (nothing.aspect.micro_f1, nothing.aspect.macro_f1),
            (None, None)
        );
        assert_eq!(nothing.per_category.len(), 5);
        Ok(())
    }

    #[test]
    fn rejects_unpaired_inputs_and_accepts_empty_ones() -> crate::error::Result<()> {
        let labels = vec!["A".to_string()];
        let result = AbsaF1::new(&labels, &[pairs(&[("A", "x")])], &[]);
        assert!(matches!(result, Err(crate::error::Error::InvalidInput(_))));
        let empty = AbsaF1::new(&[], &[], &[])?.scores();
        assert_eq!((empty.aspect.micro_f1, empty.aspect.macro_f1), (None, None));
        Ok(())
    }

    #[test]
    fn gold_outside_label_set_is_never_matched() -> crate::error::Result<()> {
        let labels = vec!["A".to_string()];
        let gold = [pairs(&[("A", "pos"), ("Z", "pos")])];
        let predicted = [pairs(&[("A", "pos"), ("Z", "pos")])];
        let scores = AbsaF1::new(&labels, &gold, &predicted)?.scores();
        assert_eq!(
            (
                scores.aspect.true_positives,
                scores.aspect.predicted,
                scores.aspect.gold
            ),
            (1, 2, 2)
        );
        assert_eq!(scores.aspect.macro_f1, Some(1.0));
        Ok(())
    }
}
