//! R2L's aggregation rules over the teachers' final positions (after revision): `majority`,
//! `weighted` by stated confidence, or `meta` (the meta-agent decides; see the protocol).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::labels::{AspectPair, Label};

/// Which rule decides a sample's final labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// A pair is kept when strictly more than half of the parsed teachers include it.
    Majority,
    /// A pair is kept when the confidence of the votes for it outweighs the confidence of the
    /// teachers that left it out.
    Weighted,
    /// The meta-agent reads every position and rationale and gives the final labels.
    Meta,
}

impl Rule {
    /// Every rule's name.
    pub const NAMES: [&'static str; 3] = ["majority", "weighted", "meta"];

    /// Parses a rule name; the error lists the valid ones.
    pub fn parse(name: &str) -> Result<Rule, String> {
        match name {
            "majority" => Ok(Rule::Majority),
            "weighted" => Ok(Rule::Weighted),
            "meta" => Ok(Rule::Meta),
            other => Err(format!(
                "unknown consensus rule `{other}`; valid: {}",
                Rule::NAMES.join(", ")
            )),
        }
    }

    /// The name.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Majority => "majority",
            Rule::Weighted => "weighted",
            Rule::Meta => "meta",
        }
    }
}

/// Every pair some position holds, with the positions (by index) that hold it.
pub fn votes(positions: &[&[Label]]) -> BTreeMap<AspectPair, Vec<usize>> {
    let mut votes: BTreeMap<AspectPair, Vec<usize>> = BTreeMap::new();
    for (index, labels) in positions.iter().enumerate() {
        for label in *labels {
            let voters = votes.entry(label.pair()).or_default();
            if !voters.contains(&index) {
                voters.push(index);
            }
        }
    }
    votes
}

/// Aspects the positions disagree on: some position gives the aspect a different set of
/// polarities (none = absent) than another.
pub fn conflicts(positions: &[&[Label]]) -> Vec<String> {
    let aspects: BTreeSet<&str> = positions
        .iter()
        .flat_map(|labels| labels.iter().map(|l| l.aspect.as_str()))
        .collect();
    aspects
        .into_iter()
        .filter(|aspect| {
            let polarity_sets: BTreeSet<BTreeSet<&str>> = positions
                .iter()
                .map(|labels| {
                    labels
                        .iter()
                        .filter(|l| l.aspect == *aspect)
                        .map(|l| l.polarity.as_str())
                        .collect()
                })
                .collect();
            polarity_sets.len() > 1
        })
        .map(str::to_string)
        .collect()
}

/// `majority`: pairs held by strictly more than half of the positions.
pub fn majority(positions: &[&[Label]]) -> BTreeSet<AspectPair> {
    let n = positions.len();
    votes(positions)
        .into_iter()
        .filter(|(_, voters)| 2 * voters.len() > n)
        .map(|(pair, _)| pair)
        .collect()
}

/// `weighted`: a vote for a pair weighs the confidence its teacher stated for it (1 when none);
/// a teacher that left the pair out weighs against it with its mean stated confidence (1 when it
/// stated none). A pair is kept when the weight for it is greater than the weight against it —
/// with no confidences stated this is exactly `majority`.
pub fn weighted(positions: &[&[Label]]) -> BTreeSet<AspectPair> {
    let mean_confidence: Vec<f64> = positions
        .iter()
        .map(|labels| {
            let stated: Vec<f64> = labels.iter().filter_map(|l| l.confidence).collect();
            if stated.is_empty() {
                1.0
            } else {
                stated.iter().sum::<f64>() / stated.len() as f64
            }
        })
        .collect();
    votes(positions)
        .into_iter()
        .filter(|(pair, voters)| {
            let for_weight: f64 = voters
                .iter()
                .map(|&t| {
                    positions[t]
                        .iter()
                        .find(|l| l.pair() == *pair)
                        .and_then(|l| l.confidence)
                        .unwrap_or(1.0)
                })
                .sum();
            let against_weight: f64 = (0..positions.len())
                .filter(|t| !voters.contains(t))
                .map(|t| mean_confidence[t])
                .sum();
            for_weight > against_weight
        })
        .map(|(pair, _)| pair)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(aspect: &str, polarity: &str, confidence: Option<f64>) -> Label {
        Label {
            aspect: aspect.into(),
            polarity: polarity.into(),
            confidence,
            evidence: None,
        }
    }

    fn pairs(items: &[(&str, &str)]) -> BTreeSet<AspectPair> {
        items.iter().map(|(a, p)| AspectPair::new(*a, *p)).collect()
    }

    #[test]
    fn majority_needs_strictly_more_than_half() {
        let a = [
            label("BATTERY", "positive", None),
            label("PRICE", "negative", None),
        ];
        let b = [label("BATTERY", "positive", None)];
        let c = [
            label("BATTERY", "negative", None),
            label("PRICE", "negative", None),
        ];
        assert_eq!(
            majority(&[&a, &b, &c]),
            pairs(&[("BATTERY", "positive"), ("PRICE", "negative")])
        );
        // Two positions: a pair needs both.
        assert_eq!(majority(&[&a, &b]), pairs(&[("BATTERY", "positive")]));
        assert_eq!(majority(&[]), pairs(&[]));
        assert_eq!(conflicts(&[&a, &b, &c]), vec!["BATTERY", "PRICE"]);
        assert!(conflicts(&[&b, &b]).is_empty());
    }

    #[test]
    fn weighted_follows_stated_confidence_and_equals_majority_without_it() {
        let sure = [label("CAMERA", "positive", Some(0.9))];
        let unsure_a = [label("PRICE", "neutral", Some(0.3))];
        let unsure_b = [label("PRICE", "neutral", Some(0.2))];
        // CAMERA: for 0.9, against 0.3 + 0.2 → kept; PRICE: for 0.5, against 0.9 → dropped.
        assert_eq!(
            weighted(&[&sure, &unsure_a, &unsure_b]),
            pairs(&[("CAMERA", "positive")])
        );
        assert_eq!(
            majority(&[&sure, &unsure_a, &unsure_b]),
            pairs(&[("PRICE", "neutral")])
        );
        let a = [label("BATTERY", "positive", None)];
        let b = [
            label("BATTERY", "positive", None),
            label("PRICE", "negative", None),
        ];
        let c = [label("PRICE", "negative", None)];
        for positions in [
            vec![&a[..], &b[..], &c[..]],
            vec![&a[..], &c[..]],
            vec![&b[..]],
        ] {
            assert_eq!(weighted(&positions), majority(&positions));
        }
    }
}
