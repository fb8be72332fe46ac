//! Agreement between teachers on their independent (detection) labels: Krippendorff's nominal
//! alpha of aspect presence (one unit per sample × aspect of the label set, a teacher's value is
//! present/absent) and of polarity (one unit per sample × aspect some teacher labelled, the
//! value is the polarities a teacher gave it). A teacher that abstained is a missing value.

use harness::metrics::{estimate, BootstrapConfig, Estimate, Level, ReliabilityData};
use serde::{Deserialize, Serialize};

use super::transcript::Transcript;

/// The two agreement figures; None where alpha is undefined (e.g. one teacher, or a single
/// value throughout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Nominal alpha of aspect presence.
    pub presence: Option<Estimate>,
    /// Nominal alpha of the polarities given to an aspect.
    pub polarity: Option<Estimate>,
}

/// Alpha between `teachers` over `transcripts`.
pub fn teacher_agreement(
    transcripts: &[Transcript],
    teachers: &[String],
    label_set: &[String],
    bootstrap: Option<&BootstrapConfig>,
) -> Agreement {
    let mut presence: Vec<Vec<Option<String>>> = Vec::new();
    let mut polarity: Vec<Vec<Option<String>>> = Vec::new();
    for transcript in transcripts {
        let by_teacher: Vec<Option<&Vec<super::labels::Label>>> = teachers
            .iter()
            .map(|id| {
                transcript
                    .detection
                    .iter()
                    .find(|d| &d.agent == id)
                    .and_then(|d| d.labels.as_ref())
            })
            .collect();
        for aspect in label_set {
            let given: Vec<Option<Vec<&str>>> = by_teacher
                .iter()
                .map(|labels| {
                    labels.map(|labels| {
                        let mut polarities: Vec<&str> = labels
                            .iter()
                            .filter(|l| &l.aspect == aspect)
                            .map(|l| l.polarity.as_str())
                            .collect();
                        polarities.sort_unstable();
                        polarities
                    })
                })
                .collect();
            presence.push(
                given
                    .iter()
                    .map(|g| g.as_ref().map(|p| (!p.is_empty()).to_string()))
                    .collect(),
            );
            if given.iter().flatten().any(|p| !p.is_empty()) {
                polarity.push(
                    given
                        .iter()
                        .map(|g| g.as_ref().filter(|p| !p.is_empty()).map(|p| p.join("+")))
                        .collect(),
                );
            }
        }
    }
    let alpha = |units: &[Vec<Option<String>>], name: &str| {
        let data = ReliabilityData::from_labels(units);
        estimate(&data.metric(Level::Nominal), name, bootstrap).ok()
    };
    Agreement {
        presence: alpha(&presence, "presence alpha"),
        polarity: alpha(&polarity, "polarity alpha"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::labels::{AspectPair, Label};
    use super::super::transcript::*;
    use super::super::Rule;
    use super::*;

    fn transcript(positions: &[Option<&[(&str, &str)]>]) -> Transcript {
        let detection = positions
            .iter()
            .enumerate()
            .map(|(k, labels)| Detection {
                agent: format!("t{k}"),
                labels: labels.map(|pairs| {
                    pairs
                        .iter()
                        .map(|(a, p)| Label::bare(&AspectPair::new(*a, *p)))
                        .collect()
                }),
                invalid_labels: 0,
                raw: None,
                error: None,
                parse_retries: 0,
            })
            .collect();
        Transcript {
            id: "x".into(),
            protocol: "r2l".into(),
            gold: Vec::new(),
            detection,
            votes: Vec::new(),
            conflicts: Vec::new(),
            rationales: Vec::new(),
            revisions: Vec::new(),
            positions: Vec::new(),
            decision: Decision {
                rule: Rule::Majority,
                requested: Rule::Majority,
                labels: Vec::new(),
                rationale: String::new(),
                rationale_source: "none".into(),
                meta: None,
                synthesis: None,
            },
            verdict: Verdict::Rejected,
            rationalized: false,
            rationalization: None,
            records: RecordCounts::default(),
        }
    }

    #[test]
    fn identical_teachers_agree_perfectly_and_one_teacher_gives_no_alpha() {
        let aspects = vec!["A".to_string(), "B".to_string()];
        let teachers: Vec<String> = vec!["t0".into(), "t1".into()];
        let transcripts = vec![
            transcript(&[Some(&[("A", "positive")]), Some(&[("A", "positive")])]),
            transcript(&[Some(&[("B", "negative")]), Some(&[("B", "negative")])]),
            transcript(&[Some(&[("A", "neutral")]), Some(&[("A", "neutral")])]),
        ];
        let agreement = teacher_agreement(&transcripts, &teachers, &aspects, None);
        assert_eq!(agreement.presence.map(|e| e.value), Some(1.0));
        assert_eq!(agreement.polarity.map(|e| e.value), Some(1.0));
        let alone = teacher_agreement(&transcripts, &teachers[..1], &aspects, None);
        assert_eq!(
            alone,
            Agreement {
                presence: None,
                polarity: None
            }
        );
    }

    #[test]
    fn presence_alpha_matches_a_hand_computed_value() {
        // Units (sample × aspect) with two coders: (1,1) (0,0) (1,0) (0,0): nominal alpha
        // from the coincidence matrix: o11 = 2+... computed: n = 8, n1 = 3, n0 = 5,
        // D_o = 2/8 (one disagreeing unit contributes 2 pairs / (2-1) = 2 of 8),
        // D_e = 2·3·5 / (8·7) = 30/56; alpha = 1 − (2/8)/(30/56) = 1 − 14/30 = 8/15.
        let aspects = vec!["A".to_string(), "B".to_string()];
        let teachers: Vec<String> = vec!["t0".into(), "t1".into()];
        let transcripts = vec![
            transcript(&[Some(&[("A", "positive")]), Some(&[("A", "positive")])]),
            transcript(&[Some(&[("A", "positive")]), Some(&[])]),
        ];
        let agreement = teacher_agreement(&transcripts, &teachers, &aspects, None);
        let value = agreement.presence.map(|e| e.value).unwrap_or(f64::NAN);
        assert!((value - 8.0 / 15.0).abs() < 1e-12, "{value}");
        // An abstaining teacher is missing, not "absent".
        let with_abstention = vec![transcript(&[Some(&[("A", "positive")]), None])];
        let agreement = teacher_agreement(&with_abstention, &teachers, &aspects, None);
        assert_eq!(agreement.presence, None);
    }
}
