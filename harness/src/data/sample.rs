//! One evaluation item: its id, its input text (and choices), its gold target and extra fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Sentiment polarity of an aspect, lower case on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    /// Positive sentiment.
    Positive,
    /// Negative sentiment.
    Negative,
    /// Neutral sentiment.
    Neutral,
}

impl Polarity {
    /// All polarities, in the order tables list them.
    pub const ALL: [Polarity; 3] = [Polarity::Positive, Polarity::Negative, Polarity::Neutral];

    /// The lower-case name (`positive`, `negative`, `neutral`).
    pub fn name(self) -> &'static str {
        match self {
            Polarity::Positive => "positive",
            Polarity::Negative => "negative",
            Polarity::Neutral => "neutral",
        }
    }

    /// Parses a polarity in any letter case (`Positive`, `POSITIVE`, `positive`).
    pub fn parse(text: &str) -> Option<Polarity> {
        let text = text.trim();
        Polarity::ALL
            .into_iter()
            .find(|polarity| polarity.name().eq_ignore_ascii_case(text))
    }
}

/// One (aspect, polarity) pair: a gold label (polarity `positive`, `negative` or `neutral`), a
/// prediction as judged, a teacher's label or a consensus. The polarity stays a string so a
/// prediction naming a polarity outside the label set is kept (and counted as an invalid label),
/// never silently mapped. The one ABSA pair type of the harness, distill and serve.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AspectPair {
    /// The aspect as the label set names it (`BATTERY`, `ROOMS#CLEANLINESS`).
    pub aspect: String,
    /// The sentiment towards it (lower case).
    pub polarity: String,
}

impl AspectPair {
    /// A pair from its parts.
    pub fn new(aspect: impl Into<String>, polarity: impl Into<String>) -> AspectPair {
        AspectPair {
            aspect: aspect.into(),
            polarity: polarity.into(),
        }
    }

    /// A gold pair: the aspect and a known polarity.
    pub fn gold(aspect: impl Into<String>, polarity: Polarity) -> AspectPair {
        AspectPair::new(aspect, polarity.name())
    }
}

/// One answer option of a multiple-choice question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// The option's letter (`A`, `B`, ...).
    pub label: String,
    /// The option's text.
    pub text: String,
}

/// The gold target of a sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// ABSA: the set of (aspect, polarity) labels, sorted, without duplicates.
    Aspects {
        /// The labels.
        labels: Vec<AspectPair>,
    },
    /// A rating on the dataset's scale (ABSAbank-Imm: mean annotator label, 1–5).
    Rating {
        /// The rating.
        value: f64,
    },
    /// A final answer: an integer, a LaTeX expression, `yes`/`no`, or a choice letter.
    Answer {
        /// The answer as text.
        value: String,
    },
}

/// One evaluation item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The dataset's own id where it has one, else the 0-based row index, as a string.
    pub id: String,
    /// The text the model reads (NFC-normalised for the Vietnamese datasets).
    pub input: String,
    /// Answer options, for multiple-choice datasets; empty otherwise.
    pub choices: Vec<Choice>,
    /// The gold target.
    pub target: Target,
    /// Dataset-specific extras (star rating, subject, spans, annotator labels, rationale...).
    pub meta: BTreeMap<String, serde_json::Value>,
}

impl Sample {
    /// The gold ABSA labels, or an empty slice for other targets.
    pub fn aspect_labels(&self) -> &[AspectPair] {
        match &self.target {
            Target::Aspects { labels } => labels,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polarity_parses_any_case() {
        assert_eq!(Polarity::parse("Positive"), Some(Polarity::Positive));
        assert_eq!(Polarity::parse(" NEGATIVE "), Some(Polarity::Negative));
        assert_eq!(Polarity::parse("neutral"), Some(Polarity::Neutral));
        assert_eq!(Polarity::parse("mixed"), None);
    }
}
