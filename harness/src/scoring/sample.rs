//! The typed per-sample result: what was predicted, against what gold, with what status.
//! Serialised into `samples.jsonl` in the same JSON shape the run logs have always used.

use serde::{Deserialize, Serialize};

pub use crate::data::AspectPair;

/// Sorts and deduplicates parsed (aspect, polarity) pairs into the set a sample is judged on
/// (the one normalisation both scoring and `/v1/absa` use).
pub fn pair_set(pairs: impl IntoIterator<Item = AspectPair>) -> Vec<AspectPair> {
    let mut set: Vec<AspectPair> = pairs.into_iter().collect();
    set.sort();
    set.dedup();
    set
}

/// How a sample's prediction was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleStatus {
    /// Read and judged.
    Scored,
    /// No prediction for the sample (judged as an empty prediction).
    Missing,
    /// A prediction the parser could not read (judged as an empty prediction).
    Unparsed,
}

impl SampleStatus {
    /// The status as written in run logs.
    pub fn name(self) -> &'static str {
        match self {
            SampleStatus::Scored => "scored",
            SampleStatus::Missing => "missing",
            SampleStatus::Unparsed => "unparsed",
        }
    }
}

/// A judged value: a prediction after normalisation, or the gold target in the same form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Judged {
    /// ABSA: the sorted, deduplicated pair set.
    Pairs(Vec<AspectPair>),
    /// A 1–5 rating.
    Rating(f64),
    /// A normalised final answer (number, LaTeX, yes/no, choice letter).
    Answer(String),
}

impl Judged {
    /// The pairs (empty for other kinds).
    pub fn pairs(&self) -> &[AspectPair] {
        match self {
            Judged::Pairs(pairs) => pairs,
            _ => &[],
        }
    }

    /// The rating, if this is one.
    pub fn rating(&self) -> Option<f64> {
        match self {
            Judged::Rating(value) => Some(*value),
            _ => None,
        }
    }

    /// The answer, if this is one.
    pub fn answer(&self) -> Option<&str> {
        match self {
            Judged::Answer(answer) => Some(answer),
            _ => None,
        }
    }
}

impl std::fmt::Display for Judged {
    /// The value as compact JSON (what exports show).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

/// The per-sample figure of a scorer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SampleFigure {
    /// ABSA: pair-level F1 of this sample.
    Absa {
        /// F1 over (aspect, polarity) pairs (1 when both sets are empty).
        aspect_polarity_f1: f64,
    },
    /// Log-likelihood multiple choice: whether the likeliest choice is right, and the likeliest
    /// per character (before [`SampleFigure::Answer`], which would read it first).
    LogLikelihood {
        /// The likeliest choice is gold.
        correct: bool,
        /// The likeliest choice per character of its text is gold.
        correct_norm: bool,
    },
    /// Accuracy: whether the answer is right.
    Answer {
        /// The final answer equals gold.
        correct: bool,
    },
    /// Rating: absolute error (none without a usable prediction).
    Rating {
        /// |prediction − gold|.
        absolute_error: Option<f64>,
    },
}

/// How one sample was judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleScore {
    /// The sample id.
    pub id: String,
    /// How the prediction was read.
    pub status: SampleStatus,
    /// Why the prediction could not be read (unparsed only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The prediction after normalisation (ABSA: the pair set, empty when none); None when there
    /// is no usable rating or answer.
    pub prediction: Option<Judged>,
    /// The gold target in the same form.
    pub gold: Judged,
    /// Whether the prediction is exactly right (answer equal; ABSA: the pair set equal);
    /// None for ratings.
    pub correct: Option<bool>,
    /// The per-sample figure.
    pub score: SampleFigure,
}

impl SampleScore {
    /// The predicted pairs (empty when none or not ABSA).
    pub fn predicted_pairs(&self) -> &[AspectPair] {
        self.prediction.as_ref().map_or(&[], Judged::pairs)
    }

    /// The predicted rating, if any.
    pub fn predicted_rating(&self) -> Option<f64> {
        self.prediction.as_ref().and_then(Judged::rating)
    }

    /// The predicted final answer, if any.
    pub fn predicted_answer(&self) -> Option<&str> {
        self.prediction.as_ref().and_then(Judged::answer)
    }
}

/// Counts of predictions that could not be used as given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// Samples with no prediction (scored as empty predictions).
    pub missing: usize,
    /// Predictions whose text the parser could not read (scored as empty predictions).
    pub unparsed: usize,
    /// Predicted labels outside the task's label set (aspects, polarities, choice letters,
    /// ratings outside 1–5).
    pub invalid_labels: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(line: &str) -> SampleScore {
        let score: SampleScore = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}"));
        let again = serde_json::to_string(&score).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&again).ok(),
            serde_json::from_str::<serde_json::Value>(line).ok(),
            "{line}"
        );
        score
    }

    #[test]
    fn run_log_shapes_read_back_as_typed_values() {
        let absa = round_trip(
            r#"{"id":"1","status":"unparsed","reason":"no JSON","prediction":[],"gold":[{"aspect":"BATTERY","polarity":"positive"}],"correct":false,"score":{"aspect_polarity_f1":0.0}}"#,
        );
        assert_eq!(absa.status, SampleStatus::Unparsed);
        assert_eq!(absa.gold.pairs(), [AspectPair::new("BATTERY", "positive")]);
        assert!(absa.predicted_pairs().is_empty());
        let rating = round_trip(
            r#"{"id":"2","status":"scored","prediction":4.0,"gold":3.5,"correct":null,"score":{"absolute_error":0.5}}"#,
        );
        assert_eq!(rating.predicted_rating(), Some(4.0));
        assert_eq!(
            rating.score,
            SampleFigure::Rating {
                absolute_error: Some(0.5)
            }
        );
        let missing = round_trip(
            r#"{"id":"3","status":"missing","prediction":null,"gold":2.0,"correct":null,"score":{"absolute_error":null}}"#,
        );
        assert_eq!(missing.prediction, None);
        let answer = round_trip(
            r#"{"id":"4","status":"scored","prediction":"72","gold":"72","correct":true,"score":{"correct":true}}"#,
        );
        assert_eq!(answer.predicted_answer(), Some("72"));
        assert_eq!(answer.score, SampleFigure::Answer { correct: true });
    }

    #[test]
    fn pair_sets_are_sorted_and_deduplicated() {
        let set = pair_set([
            AspectPair::new("SCREEN", "negative"),
            AspectPair::new("BATTERY", "positive"),
            AspectPair::new("SCREEN", "negative"),
        ]);
        assert_eq!(
            set,
            [
                AspectPair::new("BATTERY", "positive"),
                AspectPair::new("SCREEN", "negative")
            ]
        );
    }
}
