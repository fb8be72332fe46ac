//! ABSA labels as R2L handles them: read from a teacher's answer with the harness task parser
//! (plus the optional confidence and evidence of each item), kept within the task's label set,
//! and written back as the rationale + JSON answer the task parser reads.

use std::collections::BTreeSet;

use harness::data::Polarity;
use harness::scoring::absa_answer;
use harness::scoring::{
    canonical_aspect, canonical_polarity, first_json, parse_absa, strip_thinking,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use harness::data::AspectPair;

/// One label of a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// The aspect, as the task's label set spells it.
    pub aspect: String,
    /// `positive`, `negative` or `neutral`.
    pub polarity: String,
    /// The teacher's stated confidence, 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// The words of the text the teacher cites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

impl Label {
    /// The label's pair.
    pub fn pair(&self) -> AspectPair {
        AspectPair::new(self.aspect.as_str(), self.polarity.as_str())
    }

    /// A label of `pair` without confidence or evidence.
    pub fn bare(pair: &AspectPair) -> Label {
        Label {
            aspect: pair.aspect.clone(),
            polarity: pair.polarity.clone(),
            confidence: None,
            evidence: None,
        }
    }
}

/// The pair set of `labels`.
pub fn pair_set(labels: &[Label]) -> BTreeSet<AspectPair> {
    labels.iter().map(Label::pair).collect()
}

/// Labels read from an answer, and how many of its pairs fell outside the label set.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadLabels {
    /// The valid labels, sorted by pair, without repeats.
    pub labels: Vec<Label>,
    /// Pairs dropped: an aspect outside the label set or an unknown polarity.
    pub invalid: usize,
}

/// Reads an answer with the harness ABSA parser; the error says why it cannot be read.
pub fn read_labels(raw: &str, label_set: &[&str]) -> Result<ReadLabels, String> {
    let pairs = parse_absa(raw, label_set)?;
    let details = item_details(raw, label_set);
    let mut labels: Vec<Label> = Vec::new();
    let mut invalid = 0;
    for AspectPair { aspect, polarity } in pairs {
        if !label_set.contains(&aspect.as_str()) || Polarity::parse(&polarity).is_none() {
            invalid += 1;
            continue;
        }
        if labels
            .iter()
            .any(|l| l.aspect == aspect && l.polarity == polarity)
        {
            continue;
        }
        let (confidence, evidence) = details
            .iter()
            .find(|(pair, _, _)| pair.aspect == aspect && pair.polarity == polarity)
            .map(|(_, c, e)| (*c, e.clone()))
            .unwrap_or((None, None));
        labels.push(Label {
            aspect,
            polarity,
            confidence,
            evidence,
        });
    }
    labels.sort_by_key(Label::pair);
    Ok(ReadLabels { labels, invalid })
}

/// The `confidence` (clamped to 0–1) and `evidence` of each JSON item, by canonical pair.
fn item_details(raw: &str, label_set: &[&str]) -> Vec<(AspectPair, Option<f64>, Option<String>)> {
    let text = strip_thinking(raw).unwrap_or_default();
    let items = match first_json(&text) {
        Some(Value::Array(items)) => items,
        Some(Value::Object(object)) => match object.get("aspects") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    items
        .iter()
        .filter_map(|item| {
            let object = item.as_object()?;
            let aspect = object.get("aspect")?.as_str()?;
            let polarity = object.get("polarity")?.as_str()?;
            let confidence = object.get("confidence").and_then(|c| {
                c.as_f64()
                    .or_else(|| c.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|c: &f64| c.is_finite())
                    .map(|c| c.clamp(0.0, 1.0))
            });
            let evidence = object
                .get("evidence")
                .and_then(Value::as_str)
                .map(str::to_string);
            Some((
                AspectPair::new(
                    canonical_aspect(aspect, label_set),
                    canonical_polarity(polarity),
                ),
                confidence,
                evidence,
            ))
        })
        .collect()
}

/// The JSON answer of `pairs` (sorted), as the task's prompt asks for it.
pub fn answer_json(pairs: &BTreeSet<AspectPair>) -> String {
    absa_answer(pairs)
}

/// A rationale followed by the final labels as the JSON the task parser reads (the JSON alone
/// when there is no rationale).
pub fn render_answer(rationale: &str, pairs: &BTreeSet<AspectPair>) -> String {
    let json = answer_json(pairs);
    if rationale.trim().is_empty() {
        json
    } else {
        format!("{}\n\n{json}", rationale.trim())
    }
}

/// Most words kept of a rationale: with its JSON answer it must fit the task's `max_tokens`, or
/// a student trained on it would be cut off before the answer.
pub const RATIONALE_WORDS: usize = 100;

/// A rationale cleaned for training: thinking blocks, a `Rationale:` prefix and anything from
/// the `Labels:` line or the first JSON bracket on are removed, brackets that remain become
/// parentheses (so the task parser finds the answer, not a quote), whitespace is collapsed and
/// the text is cut to [`RATIONALE_WORDS`] words.
pub fn clean_rationale(text: &str) -> String {
    let text = strip_thinking(text).unwrap_or_default();
    let mut text = text.trim();
    for prefix in [
        "Rationale:",
        "rationale:",
        "**Rationale:**",
        "Reasoning:",
        "Explanation:",
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            text = rest.trim_start();
        }
    }
    let mut cut = text.len();
    for marker in [
        "Labels:",
        "labels:",
        "**Labels",
        "Final labels",
        "```",
        "[{",
        "[\n",
        "[]",
    ] {
        if let Some(at) = text.find(marker) {
            cut = cut.min(at);
        }
    }
    let kept = text[..cut]
        .replace(['[', '{'], "(")
        .replace([']', '}'], ")");
    let words: Vec<&str> = kept.split_whitespace().collect();
    words
        .iter()
        .take(RATIONALE_WORDS)
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS: &[&str] = &["BATTERY", "CAMERA", "PRICE"];

    #[test]
    fn labels_keep_confidence_and_evidence_and_drop_invalid_pairs() {
        let raw = r#"Here: [{"aspect": "battery", "polarity": "Positive", "confidence": 0.9, "evidence": "pin trâu"},
            {"aspect": "SCREEN", "polarity": "negative"}, {"aspect": "CAMERA", "polarity": "mixed"},
            {"aspect": "BATTERY", "polarity": "positive"}]"#;
        let read = read_labels(raw, LABELS).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.invalid, 2);
        assert_eq!(
            read.labels,
            vec![Label {
                aspect: "BATTERY".into(),
                polarity: "positive".into(),
                confidence: Some(0.9),
                evidence: Some("pin trâu".into())
            }]
        );
        assert_eq!(read_labels("[]", LABELS).map(|r| r.labels.len()), Ok(0));
        assert!(read_labels("no idea", LABELS).is_err());
    }

    #[test]
    fn rendered_answers_parse_back_to_their_labels() {
        let pairs: BTreeSet<AspectPair> = [AspectPair::new("PRICE", "negative")].into();
        let rationale = clean_rationale(
            "Rationale: The review says \"giá cao\" {too high} and [sic] more.\nLabels: [{\"aspect\": \"PRICE\"}]",
        );
        assert_eq!(
            rationale,
            "The review says \"giá cao\" (too high) and (sic) more."
        );
        let answer = render_answer(&rationale, &pairs);
        let read = read_labels(&answer, LABELS).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pair_set(&read.labels), pairs);
        assert_eq!(render_answer("", &pairs), answer_json(&pairs));
    }

    #[test]
    fn long_rationales_are_cut_to_the_word_limit() {
        let long = "word ".repeat(500);
        assert_eq!(
            clean_rationale(&long).split_whitespace().count(),
            RATIONALE_WORDS
        );
    }
}
