//! The `absa_f1` scorer: a prediction is a set of (aspect, polarity) pairs over the task's label
//! set, judged per sample by pair F1 and over the corpus by VLSP's micro and macro F1 of aspects
//! and of pairs. Its constrained output is a list of at most one pair per aspect; its gold answer
//! is that list as JSON.

use serde_json::{json, Value};

use super::aggregate::CorpusMetrics;
use super::judge::{read, Given, Judgement, Read};
use super::parse::{canonical_aspect, canonical_polarity, parse_absa};
use super::predictions::Structured;
use super::sample::{pair_set, AspectPair, Judged, SampleFigure, SampleScore};
use crate::data::{Polarity, Sample};
use crate::error::Result;
use crate::metrics::{AbsaF1, AbsaMetric};

/// The polarities an ABSA answer may name.
const POLARITIES: [&str; 3] = ["positive", "negative", "neutral"];

/// The corpus metrics this scorer reports, in report order.
pub fn metric_names() -> Vec<&'static str> {
    AbsaMetric::ALL.iter().map(|m| m.name()).collect()
}

/// Judges one sample: the prediction read as pairs (canonical spelling, sorted, no repeats);
/// a polarity outside the three is an invalid label.
pub(super) fn judge(
    labels: &[String],
    sample: &Sample,
    prediction: Option<Given<'_>>,
) -> Judgement {
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let read = read(
        prediction,
        |given| match given {
            Structured::Aspects(pairs) => Some(Ok(pairs
                .iter()
                .map(|pair| {
                    AspectPair::new(
                        canonical_aspect(&pair.aspect, &label_refs),
                        canonical_polarity(&pair.polarity),
                    )
                })
                .collect())),
            _ => None,
        },
        |output| parse_absa(output, &label_refs),
    );
    let mut diagnostics = read.diagnostics();
    let pairs = match &read {
        Read::Value(pairs) => pair_set(pairs.iter().cloned()),
        _ => Vec::new(),
    };
    diagnostics.invalid_labels = pairs
        .iter()
        .filter(|pair| Polarity::parse(&pair.polarity).is_none())
        .count();
    let gold = sample.aspect_labels();
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
            status: read.status(),
            reason: read.reason(),
            correct: Some(pairs == gold),
            prediction: Some(Judged::Pairs(pairs)),
            gold: Judged::Pairs(gold.to_vec()),
            score: SampleFigure::Absa {
                aspect_polarity_f1: f1,
            },
        },
        diagnostics,
    }
}

/// ABSA F1 over the label set, from the records' gold and predicted pairs.
pub(super) fn corpus_metrics(labels: &[String], records: &[SampleScore]) -> Result<CorpusMetrics> {
    let gold: Vec<_> = records.iter().map(|r| r.gold.pairs().to_vec()).collect();
    let predicted: Vec<_> = records
        .iter()
        .map(|r| r.predicted_pairs().to_vec())
        .collect();
    Ok(CorpusMetrics::Absa(AbsaF1::new(labels, &gold, &predicted)?))
}

/// The constrained output: a list of at most one pair per aspect, the aspect from the label set
/// and the polarity from the three.
pub fn schema(labels: &[String]) -> Value {
    json!({
        "type": "array",
        "maxItems": labels.len(),
        "items": {
            "type": "object",
            "properties": {
                "aspect": {"type": "string", "enum": labels},
                "polarity": {"type": "string", "enum": POLARITIES},
            },
            "required": ["aspect", "polarity"],
            "additionalProperties": false,
        },
    })
}

/// Pairs written as the ABSA prompts ask for them: a JSON list of `{"aspect", "polarity"}`
/// objects, in the given order (what `parse_absa` reads back).
pub fn absa_answer<'a>(pairs: impl IntoIterator<Item = &'a AspectPair>) -> String {
    let items: Vec<_> = pairs
        .into_iter()
        .map(|pair| json!({"aspect": pair.aspect, "polarity": pair.polarity}))
        .collect();
    Value::Array(items).to_string()
}
