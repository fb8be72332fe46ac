//! The scorers: how a task's predictions are judged.

use serde::Serialize;

use crate::data::{AnswerKind, DatasetName, TaskFamily};

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
