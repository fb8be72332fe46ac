//! Corpus aggregation: judged samples in, corpus metrics with bootstrap CIs out. The metrics
//! are rebuilt from the typed per-sample records alone, so a run log is enough to recompute or
//! compare them.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{json, Value};

use super::judge::{judge, Judgement};
use super::predictions::Prediction;
use super::sample::{Diagnostics, SampleScore};
use super::scorer::Scorer;
use super::{absa, accuracy, loglikelihood, rating};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::metrics::{
    estimate, AbsaF1, AbsaMetric, Accuracy, BootstrapConfig, CategoryScores, CorpusMetric,
    Estimate, Level, ReliabilityData, Spearman,
};

/// The result of scoring: the `r2l score` JSON contract plus per-category and per-sample detail.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    /// Task name.
    pub task: String,
    /// Split scored.
    pub split: String,
    /// Number of samples in the split.
    pub n: usize,
    /// Corpus metrics by name, each with its bootstrap CI.
    pub metrics: BTreeMap<String, Estimate>,
    /// What could not be used.
    pub diagnostics: Diagnostics,
    /// ABSA per-category table (empty for other tasks).
    #[serde(skip)]
    pub per_category: Vec<CategoryScores>,
    /// Per-sample judgements, in dataset order.
    #[serde(skip)]
    pub samples: Vec<SampleScore>,
}

impl ScoreReport {
    /// The JSON object `r2l score` prints.
    pub fn summary_json(&self) -> Value {
        json!({
            "task": self.task,
            "split": self.split,
            "n": self.n,
            "metrics": self.metrics,
            "diagnostics": self.diagnostics,
        })
    }
}

/// Scores `predictions` (matched by id) against `dataset`. Samples without a prediction count
/// as empty predictions (`missing`); ids not in the dataset are an error naming the first few.
pub fn score(
    task: &str,
    scorer: &Scorer,
    dataset: &Dataset,
    predictions: &[Prediction],
    bootstrap: Option<&BootstrapConfig>,
) -> Result<ScoreReport> {
    let by_id: HashMap<&str, &Prediction> =
        predictions.iter().map(|p| (p.id.as_str(), p)).collect();
    let known: std::collections::HashSet<&str> =
        dataset.samples.iter().map(|s| s.id.as_str()).collect();
    let unknown: Vec<String> = predictions
        .iter()
        .filter(|p| !known.contains(p.id.as_str()))
        .map(|p| p.id.clone())
        .collect();
    if !unknown.is_empty() {
        return Err(Error::UnknownIds {
            count: unknown.len(),
            first: unknown.into_iter().take(5).collect(),
        });
    }
    let judgements = dataset
        .samples
        .iter()
        .map(|sample| judge(scorer, sample, by_id.get(sample.id.as_str()).copied()))
        .collect::<Result<Vec<_>>>()?;
    aggregate(task, &dataset.split, scorer, &judgements, bootstrap)
}

/// Corpus metrics over judged samples (in any order), each with its bootstrap CI.
pub fn aggregate(
    task: &str,
    split: &str,
    scorer: &Scorer,
    judgements: &[Judgement],
    bootstrap: Option<&BootstrapConfig>,
) -> Result<ScoreReport> {
    let records: Vec<SampleScore> = judgements.iter().map(|j| j.record.clone()).collect();
    let mut report = ScoreReport {
        task: task.to_string(),
        split: split.to_string(),
        n: judgements.len(),
        metrics: BTreeMap::new(),
        diagnostics: Diagnostics::default(),
        per_category: Vec::new(),
        samples: Vec::new(),
    };
    for judgement in judgements {
        report.diagnostics.missing += judgement.diagnostics.missing;
        report.diagnostics.unparsed += judgement.diagnostics.unparsed;
        report.diagnostics.invalid_labels += judgement.diagnostics.invalid_labels;
    }
    let metrics = CorpusMetrics::from_records(scorer, &records)?;
    report.diagnostics.invalid_labels += metrics.extra_invalid_labels();
    for (name, metric) in metrics.named() {
        // An undefined metric (e.g. alpha with no predictions) is left out rather than invented.
        if let Ok(value) = estimate(metric.as_ref(), name, bootstrap) {
            report.metrics.insert(name.to_string(), value);
        }
    }
    report.per_category = metrics.per_category();
    report.samples = records;
    Ok(report)
}

/// The corpus metrics of a scorer, rebuilt from per-sample records (so that a run log alone is
/// enough to recompute or compare them).
pub enum CorpusMetrics {
    /// ABSA F1 over pairs.
    Absa(AbsaF1),
    /// Alpha (all samples; a missing prediction is a missing value) and Spearman (predicted only).
    Rating(ReliabilityData, Option<Spearman>),
    /// Accuracy.
    Accuracy(Accuracy),
    /// Log-likelihood multiple choice: `acc` and `acc_norm`.
    LogLikelihood(Accuracy, Accuracy),
}

impl CorpusMetrics {
    /// Builds the metrics from records in the form [`judge`] writes them (each scorer's
    /// module builds its own).
    pub fn from_records(scorer: &Scorer, records: &[SampleScore]) -> Result<CorpusMetrics> {
        match scorer {
            Scorer::AbsaF1 { labels } => absa::corpus_metrics(labels, records),
            Scorer::Rating => rating::corpus_metrics(records),
            Scorer::Accuracy { .. } => Ok(accuracy::corpus_metrics(records)),
            Scorer::LogLikelihood => loglikelihood::corpus_metrics(records),
        }
    }

    /// Every metric with its name, in report order.
    pub fn named(&self) -> Vec<(&'static str, Box<dyn CorpusMetric + '_>)> {
        match self {
            CorpusMetrics::Absa(f1) => AbsaMetric::ALL
                .iter()
                .map(|metric| {
                    (
                        metric.name(),
                        Box::new(f1.metric(*metric)) as Box<dyn CorpusMetric>,
                    )
                })
                .collect(),
            CorpusMetrics::Rating(alpha, spearman) => {
                let mut named: Vec<(&'static str, Box<dyn CorpusMetric + '_>)> =
                    vec![(rating::METRICS[0], Box::new(alpha.metric(Level::Interval)))];
                if let Some(spearman) = spearman {
                    named.push((rating::METRICS[1], Box::new(spearman)));
                }
                named
            }
            CorpusMetrics::Accuracy(accuracy) => vec![(accuracy::METRICS[0], Box::new(accuracy))],
            CorpusMetrics::LogLikelihood(plain, normed) => vec![
                (loglikelihood::METRICS[0], Box::new(plain)),
                (loglikelihood::METRICS[1], Box::new(normed)),
            ],
        }
    }

    fn extra_invalid_labels(&self) -> usize {
        match self {
            CorpusMetrics::Absa(f1) => f1.invalid_labels(),
            _ => 0,
        }
    }

    fn per_category(&self) -> Vec<CategoryScores> {
        match self {
            CorpusMetrics::Absa(f1) => f1.scores().per_category,
            _ => Vec::new(),
        }
    }
}
