//! The `rating` scorer (ABSAbank-Imm's 1–5 stance): a prediction is a number, judged per sample
//! by its absolute error and over the corpus by Krippendorff's interval alpha between prediction
//! and gold (a missing prediction is a missing value) and Spearman's rho over the predicted
//! samples. Its constrained output is `{"score": 1..5}`; its gold answer is `Score: n`.

use serde_json::{json, Value};

use super::aggregate::CorpusMetrics;
use super::judge::{read, Given, Judgement, Read};
use super::parse::parse_rating;
use super::predictions::Structured;
use super::sample::{Judged, SampleFigure, SampleScore};
use crate::data::{Sample, Target};
use crate::error::{Error, Result};
use crate::metrics::{ReliabilityData, Spearman};

/// The names of the corpus metrics this scorer reports, in report order.
pub const METRICS: [&str; 2] = ["alpha_interval", "spearman"];

/// The corpus metrics this scorer reports, in report order.
pub fn metric_names() -> Vec<&'static str> {
    METRICS.to_vec()
}

/// Judges one sample; a finite rating outside 1–5 is an invalid label (still scored).
pub(super) fn judge(sample: &Sample, prediction: Option<Given<'_>>) -> Result<Judgement> {
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
            status: read.status(),
            reason: read.reason(),
            prediction: value.map(Judged::Rating),
            gold: Judged::Rating(gold),
            correct: None,
            score: SampleFigure::Rating {
                absolute_error: value.map(|v| (v - gold).abs()),
            },
        },
        diagnostics,
    })
}

/// Alpha over every sample (prediction and gold as two coders) and Spearman over the predicted.
pub(super) fn corpus_metrics(records: &[SampleScore]) -> Result<CorpusMetrics> {
    let mut units = Vec::with_capacity(records.len());
    let (mut predicted, mut gold) = (Vec::new(), Vec::new());
    for record in records {
        let target = record.gold.rating().ok_or_else(|| {
            Error::InvalidInput(format!("sample `{}` has no numeric gold rating", record.id))
        })?;
        match record.predicted_rating() {
            Some(value) => {
                units.push(vec![target, value]);
                predicted.push(value);
                gold.push(target);
            }
            None => units.push(vec![target]),
        }
    }
    Ok(CorpusMetrics::Rating(
        ReliabilityData::from_units(units, 2),
        Spearman::new(predicted, gold).ok(),
    ))
}

/// The constrained output: `{"score": 1..5}`.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {"score": {"type": "integer", "enum": [1, 2, 3, 4, 5]}},
        "required": ["score"],
        "additionalProperties": false,
    })
}

/// A gold rating as the prompt asks for it: `Score: n`, rounded.
pub(super) fn gold_answer(value: f64) -> String {
    format!("Score: {}", value.round() as i64)
}
