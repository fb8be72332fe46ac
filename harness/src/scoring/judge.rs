//! Per-sample judging: one prediction (structured or raw model text) read with the task's
//! parser and compared with the sample's gold target. The reading is shared; each scorer's
//! module ([`super::absa`], [`super::rating`], [`super::accuracy`]) judges its own kind.

use super::predictions::{Prediction, Structured};
use super::sample::{Diagnostics, SampleScore, SampleStatus};
use super::scorer::Scorer;
use super::{absa, accuracy, rating};
use crate::data::Sample;
use crate::error::{Error, Result};

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
pub(super) enum Read<T> {
    Missing,
    Unparsed(String),
    Value(T),
}

impl<T> Read<T> {
    pub(super) fn status(&self) -> SampleStatus {
        match self {
            Read::Missing => SampleStatus::Missing,
            Read::Unparsed(_) => SampleStatus::Unparsed,
            Read::Value(_) => SampleStatus::Scored,
        }
    }

    pub(super) fn reason(&self) -> Option<String> {
        match self {
            Read::Unparsed(reason) => Some(reason.clone()),
            _ => None,
        }
    }

    pub(super) fn diagnostics(&self) -> Diagnostics {
        Diagnostics {
            missing: usize::from(matches!(self, Read::Missing)),
            unparsed: usize::from(matches!(self, Read::Unparsed(_))),
            invalid_labels: 0,
        }
    }
}

/// What a sample's prediction holds: a structured value, the model's raw text, or both (the
/// structured value is read first).
#[derive(Debug, Clone, Copy)]
pub(super) struct Given<'a> {
    structured: Option<&'a Structured>,
    output: Option<&'a str>,
}

pub(super) fn read<T>(
    given: Option<Given<'_>>,
    structured: impl FnOnce(&Structured) -> Option<std::result::Result<T, String>>,
    parse_output: impl FnOnce(&str) -> std::result::Result<T, String>,
) -> Read<T> {
    let Some(given) = given else {
        return Read::Missing;
    };
    let outcome = match (given.structured, given.output) {
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
    let given = prediction.map(|p| Given {
        structured: p.structured.as_ref(),
        output: p.output.as_deref(),
    });
    judge_given(scorer, sample, given)
}

/// Judges a model's raw text for `sample` (None: no answer, judged as missing) with the
/// scorer's parser and judge, as `r2l eval` does each answer.
pub fn judge_text(scorer: &Scorer, sample: &Sample, text: Option<&str>) -> Result<Judgement> {
    let given = text.map(|text| Given {
        structured: None,
        output: Some(text),
    });
    judge_given(scorer, sample, given)
}

fn judge_given(
    scorer: &Scorer,
    sample: &Sample,
    prediction: Option<Given<'_>>,
) -> Result<Judgement> {
    match scorer {
        Scorer::AbsaF1 { labels } => Ok(absa::judge(labels, sample, prediction)),
        Scorer::Rating => rating::judge(sample, prediction),
        Scorer::Accuracy { answer, source } => {
            accuracy::judge(*answer, *source, sample, prediction)
        }
        Scorer::LogLikelihood => Err(Error::InvalidInput(format!(
            "sample `{}`: a log-likelihood task is judged from the model's log-probabilities \
             of each choice, not from a text prediction",
            sample.id
        ))),
    }
}
