//! The scorers: how a task's predictions are judged.

use serde::Serialize;
use serde_json::Value;

use super::{absa, accuracy, loglikelihood, rating};
use crate::data::{AnswerKind, DatasetName, Sample, Target, TaskFamily};

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
        /// Where the answer is read from in the model's text.
        #[serde(default, skip_serializing_if = "AnswerSource::is_standard")]
        source: AnswerSource,
    },
    /// Multiple choice by the log-likelihood of each choice after the prompt (lm-eval's `acc`
    /// and `acc_norm`; see [`super::loglikelihood`]).
    #[serde(rename = "loglikelihood")]
    LogLikelihood,
}

/// Where an accuracy scorer reads the final answer in a model's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSource {
    /// The answer kind's own reading: an `Answer:` line or the last number (integers), the last
    /// `\boxed{}` or an `Answer:` line (LaTeX), an `Answer:` line or the text (yes/no, letters).
    #[default]
    Standard,
    /// The content of the last `\boxed{}`, as AgentArk's Qwen2.5-Math evaluation reads it; a
    /// text without one falls back to the standard reading (as AgentArk falls back to the last
    /// number).
    LastBoxed,
}

impl AnswerSource {
    /// Whether this is [`AnswerSource::Standard`] (left out of serialized run logs).
    pub fn is_standard(&self) -> bool {
        *self == AnswerSource::Standard
    }
}

impl Scorer {
    /// The scorer a dataset's default task uses.
    pub fn for_dataset(name: DatasetName) -> Scorer {
        match name.family() {
            TaskFamily::Absa => Scorer::AbsaF1 {
                labels: name.aspect_labels().iter().map(|s| s.to_string()).collect(),
            },
            TaskFamily::Rating => Scorer::Rating,
            TaskFamily::Reasoning(kind) => Scorer::Accuracy {
                answer: kind,
                source: AnswerSource::Standard,
            },
        }
    }

    /// The corpus metrics it reports, in report order (each scorer's module names its own).
    pub fn metric_names(&self) -> Vec<&'static str> {
        match self {
            Scorer::AbsaF1 { .. } => absa::metric_names(),
            Scorer::Rating => rating::metric_names(),
            Scorer::Accuracy { .. } => accuracy::metric_names(),
            Scorer::LogLikelihood => loglikelihood::metric_names(),
        }
    }

    /// The JSON schema of a constrained answer, when the scorer derives one: ABSA pairs over
    /// its labels, a 1–5 score; none for reasoning (its rationale is free text).
    pub fn derived_schema(&self) -> Option<Value> {
        match self {
            Scorer::AbsaF1 { labels } => Some(absa::schema(labels)),
            Scorer::Rating => Some(rating::schema()),
            Scorer::Accuracy { .. } | Scorer::LogLikelihood => None,
        }
    }

    /// `sample`'s gold answer written as the task's prompt asks the model to write it (few-shot
    /// turns, gold SFT answers).
    pub fn gold_answer(&self, sample: &Sample) -> String {
        match (&sample.target, self) {
            (Target::Aspects { labels }, _) => absa::absa_answer(labels),
            (Target::Rating { value }, _) => rating::gold_answer(*value),
            (Target::Answer { value }, Scorer::Accuracy { answer, source }) => {
                accuracy::gold_answer(*answer, *source, value, sample)
            }
            (Target::Answer { value }, _) => format!("Answer: {value}"),
        }
    }
}
