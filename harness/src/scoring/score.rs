//! Scoring a set of predictions against a dataset split: per-sample judgement first, then
//! corpus metrics with bootstrap CIs.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{json, Value};

use super::answer::{choice_letter, gsm8k_number, normalize_math, yes_no};
use super::parse::{
    canonical_aspect, canonical_polarity, parse_absa, parse_final_answer, parse_rating,
};
use super::predictions::{Prediction, Structured};
use crate::data::{AnswerKind, Dataset, DatasetName, Polarity, Sample, Target, TaskFamily};
use crate::error::{Error, Result};
use crate::metrics::{
    estimate, AbsaF1, AbsaMetric, Accuracy, BootstrapConfig, CategoryScores, CorpusMetric,
    Estimate, Level, ReliabilityData, Spearman,
};

/// How a task's predictions are judged.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scorer {
    /// ABSA F1 (micro and macro, aspect and aspect+polarity) over this aspect label set.
    AbsaF1 {
        /// The scored aspects.
        labels: Vec<String>,
    },
    /// A 1–5 rating: Krippendorff's interval alpha (prediction vs gold) and Spearman's rho.
    Rating,
    /// Accuracy of a final answer of this kind.
    Accuracy {
        /// How answers are compared.
        answer: AnswerKind,
    },
}

impl Scorer {
    /// The scorer a dataset's default task uses.
    pub fn for_dataset(name: DatasetName) -> Scorer {
        match name.family() {
            TaskFamily::Absa => Scorer::AbsaF1 {
                labels: name.aspect_labels().iter().map(|s| s.to_string()).collect(),
            },
            TaskFamily::Rating => Scorer::Rating,
            TaskFamily::Reasoning(kind) => Scorer::Accuracy { answer: kind },
        }
    }
}

/// Counts of predictions that could not be used as given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Diagnostics {
    /// Samples with no prediction (scored as empty predictions).
    pub missing: usize,
    /// Predictions whose text the parser could not read (scored as empty predictions).
    pub unparsed: usize,
    /// Predicted labels outside the task's label set (aspects, polarities, choice letters,
    /// ratings outside 1–5).
    pub invalid_labels: usize,
}

/// How one sample was judged.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SampleScore {
    /// The sample id.
    pub id: String,
    /// `scored`, `missing` or `unparsed`.
    pub status: String,
    /// Why the prediction could not be read (unparsed only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The prediction after normalisation (aspect pairs, rating or answer); null when none.
    pub prediction: Value,
    /// The gold target in the same form.
    pub gold: Value,
    /// Whether the prediction is exactly right (answer equal; ABSA: the pair set equal);
    /// None for ratings.
    pub correct: Option<bool>,
    /// Per-sample figures (ABSA: pair-level F1 of this sample; rating: absolute error).
    pub score: Value,
}

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

/// One sample judged: its record for the run log plus what the corpus metrics need.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The per-sample record.
    pub record: SampleScore,
    /// This sample's contribution to the diagnostics (pool-level `invalid_labels` from the F1
    /// metric are added at aggregation).
    pub diagnostics: Diagnostics,
}

/// A prediction read for one sample.
enum Read<T> {
    Missing,
    Unparsed(String),
    Value(T),
}

impl<T> Read<T> {
    fn status(&self) -> &'static str {
        match self {
            Read::Missing => "missing",
            Read::Unparsed(_) => "unparsed",
            Read::Value(_) => "scored",
        }
    }

    fn reason(&self) -> Option<String> {
        match self {
            Read::Unparsed(reason) => Some(reason.clone()),
            _ => None,
        }
    }

    fn diagnostics(&self) -> Diagnostics {
        Diagnostics {
            missing: usize::from(matches!(self, Read::Missing)),
            unparsed: usize::from(matches!(self, Read::Unparsed(_))),
            invalid_labels: 0,
        }
    }
}

fn read<T>(
    prediction: Option<&Prediction>,
    structured: impl FnOnce(&Structured) -> Option<std::result::Result<T, String>>,
    parse_output: impl FnOnce(&str) -> std::result::Result<T, String>,
) -> Read<T> {
    let Some(prediction) = prediction else {
        return Read::Missing;
    };
    let outcome = match (&prediction.structured, &prediction.output) {
        (Some(given), _) => structured(given).unwrap_or_else(|| {
            Err("the structured prediction is of another task's kind".to_string())
        }),
        (None, Some(output)) => parse_output(output),
        (None, None) => Err("no prediction".to_string()),
    };
    match outcome {
        Ok(value) => Read::Value(value),
        Err(reason) => Read::Unparsed(reason),
    }
}

/// Judges one sample's prediction (None = missing) with `scorer`.
pub fn judge(
    scorer: &Scorer,
    sample: &Sample,
    prediction: Option<&Prediction>,
) -> Result<Judgement> {
    match scorer {
        Scorer::AbsaF1 { labels } => Ok(judge_absa(labels, sample, prediction)),
        Scorer::Rating => judge_rating(sample, prediction),
        Scorer::Accuracy { answer } => judge_answer(*answer, sample, prediction),
    }
}

fn judge_absa(labels: &[String], sample: &Sample, prediction: Option<&Prediction>) -> Judgement {
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let read = read(
        prediction,
        |given| match given {
            Structured::Aspects(pairs) => Some(Ok(pairs
                .iter()
                .map(|(a, p)| (canonical_aspect(a, &label_refs), canonical_polarity(p)))
                .collect())),
            _ => None,
        },
        |output| parse_absa(output, &label_refs),
    );
    let mut diagnostics = read.diagnostics();
    let mut pairs: Vec<(String, String)> = match &read {
        Read::Value(pairs) => pairs.clone(),
        _ => Vec::new(),
    };
    pairs.sort();
    pairs.dedup();
    diagnostics.invalid_labels = pairs
        .iter()
        .filter(|(_, p)| Polarity::parse(p).is_none())
        .count();
    let gold: Vec<(String, String)> = sample
        .aspect_labels()
        .iter()
        .map(|label| (label.aspect.clone(), label.polarity.name().to_string()))
        .collect();
    let true_positives = pairs.iter().filter(|pair| gold.contains(pair)).count();
    let denominator = pairs.len() + gold.len();
    let f1 = if denominator == 0 {
        1.0
    } else {
        2.0 * true_positives as f64 / denominator as f64
    };
    Judgement {
        record: SampleScore {
            id: sample.id.clone(),
            status: read.status().to_string(),
            reason: read.reason(),
            prediction: pairs_json(&pairs),
            gold: pairs_json(&gold),
            correct: Some(pairs == gold),
            score: json!({ "aspect_polarity_f1": f1 }),
        },
        diagnostics,
    }
}

fn pairs_json(pairs: &[(String, String)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(a, p)| json!({"aspect": a, "polarity": p}))
            .collect(),
    )
}

/// Reads back the pairs `pairs_json` wrote.
fn pairs_from(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    Some((
                        item.get("aspect")?.as_str()?.to_string(),
                        item.get("polarity")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn judge_rating(sample: &Sample, prediction: Option<&Prediction>) -> Result<Judgement> {
    let Target::Rating { value: gold } = sample.target else {
        return Err(Error::InvalidInput(format!(
            "sample `{}` has no rating target",
            sample.id
        )));
    };
    let read = read(
        prediction,
        |given| match given {
            Structured::Score(score) => Some(Ok(*score)),
            _ => None,
        },
        parse_rating,
    );
    let mut diagnostics = read.diagnostics();
    let value = match read {
        Read::Value(value) if value.is_finite() => Some(value),
        _ => None,
    };
    diagnostics.invalid_labels = usize::from(value.is_some_and(|v| !(1.0..=5.0).contains(&v)));
    Ok(Judgement {
        record: SampleScore {
            id: sample.id.clone(),
            status: read.status().to_string(),
            reason: read.reason(),
            prediction: json!(value),
            gold: json!(gold),
            correct: None,
            score: json!({ "absolute_error": value.map(|v| (v - gold).abs()) }),
        },
        diagnostics,
    })
}

fn judge_answer(
    kind: AnswerKind,
    sample: &Sample,
    prediction: Option<&Prediction>,
) -> Result<Judgement> {
    let Target::Answer { value: gold } = &sample.target else {
        return Err(Error::InvalidInput(format!(
            "sample `{}` has no answer target",
            sample.id
        )));
    };
    let read = read(
        prediction,
        |given| match given {
            Structured::Answer(answer) => Some(normalize_answer(answer, kind)),
            _ => None,
        },
        |output| parse_final_answer(output, kind),
    );
    let mut diagnostics = read.diagnostics();
    let answer = match &read {
        Read::Value(answer) => Some(answer.clone()),
        _ => None,
    };
    if kind == AnswerKind::ChoiceLetter {
        if let Some(letter) = &answer {
            diagnostics.invalid_labels =
                usize::from(!sample.choices.iter().any(|choice| &choice.label == letter));
        }
    }
    let gold = normalize_answer(gold, kind).unwrap_or_else(|_| gold.clone());
    let correct = answer
        .as_deref()
        .is_some_and(|a| answers_match(a, &gold, kind));
    Ok(Judgement {
        record: SampleScore {
            id: sample.id.clone(),
            status: read.status().to_string(),
            reason: read.reason(),
            prediction: json!(answer),
            gold: json!(gold),
            correct: Some(correct),
            score: json!({ "correct": correct }),
        },
        diagnostics,
    })
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
}

impl CorpusMetrics {
    /// Builds the metrics from records in the form [`judge`] writes them.
    pub fn from_records(scorer: &Scorer, records: &[SampleScore]) -> Result<CorpusMetrics> {
        Ok(match scorer {
            Scorer::AbsaF1 { labels } => {
                let gold: Vec<_> = records.iter().map(|r| pairs_from(&r.gold)).collect();
                let predicted: Vec<_> = records.iter().map(|r| pairs_from(&r.prediction)).collect();
                CorpusMetrics::Absa(AbsaF1::new(labels, &gold, &predicted)?)
            }
            Scorer::Rating => {
                let mut units = Vec::with_capacity(records.len());
                let (mut predicted, mut gold) = (Vec::new(), Vec::new());
                for record in records {
                    let target = record.gold.as_f64().ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "sample `{}` has no numeric gold rating",
                            record.id
                        ))
                    })?;
                    match record.prediction.as_f64() {
                        Some(value) => {
                            units.push(vec![target, value]);
                            predicted.push(value);
                            gold.push(target);
                        }
                        None => units.push(vec![target]),
                    }
                }
                CorpusMetrics::Rating(
                    ReliabilityData::from_units(units, 2),
                    Spearman::new(predicted, gold).ok(),
                )
            }
            Scorer::Accuracy { .. } => CorpusMetrics::Accuracy(Accuracy::new(
                records.iter().map(|r| r.correct == Some(true)).collect(),
            )),
        })
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
                    vec![("alpha_interval", Box::new(alpha.metric(Level::Interval)))];
                if let Some(spearman) = spearman {
                    named.push(("spearman", Box::new(spearman)));
                }
                named
            }
            CorpusMetrics::Accuracy(accuracy) => vec![("accuracy", Box::new(accuracy))],
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

/// Normalises a structured answer of `kind`; the error says why it cannot be read.
pub fn normalize_answer(answer: &str, kind: AnswerKind) -> std::result::Result<String, String> {
    match kind {
        AnswerKind::Integer => {
            gsm8k_number(answer).ok_or_else(|| format!("`{answer}` holds no number"))
        }
        AnswerKind::Latex => Ok(normalize_math(answer)),
        AnswerKind::YesNo => yes_no(answer)
            .map(str::to_string)
            .ok_or_else(|| format!("`{answer}` is not yes or no")),
        AnswerKind::ChoiceLetter => {
            choice_letter(answer).ok_or_else(|| format!("`{answer}` names no choice letter"))
        }
    }
}

fn answers_match(predicted: &str, gold: &str, kind: AnswerKind) -> bool {
    match kind {
        AnswerKind::Integer => match (predicted.parse::<f64>(), gold.parse::<f64>()) {
            (Ok(p), Ok(g)) => (p - g).abs() < 1e-9,
            _ => predicted == gold,
        },
        _ => predicted == gold,
    }
}
