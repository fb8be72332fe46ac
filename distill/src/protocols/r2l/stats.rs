//! R2L's figures for `stats.json`, recomputed from the transcripts on disk (so a resumed run
//! reports the same as one that ran through).

use std::collections::BTreeMap;

use harness::metrics::BootstrapConfig;
use serde::Serialize;

use super::agreement::{teacher_agreement, Agreement};
use super::transcript::{Transcript, Verdict};

/// Acceptance, consensus, agreement and per-agent failures of an R2L run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct R2lStats {
    /// Samples whose final labels equal gold.
    pub accepted: usize,
    /// Samples whose final labels differ from gold.
    pub rejected: usize,
    /// Rejected samples that got a rationale for their gold labels.
    pub rationalized: usize,
    /// Krippendorff's nominal alpha between the teachers' detection labels.
    pub agreement_alpha: Agreement,
    /// Samples decided by each rule.
    pub consensus: BTreeMap<String, usize>,
    /// Samples where the meta-agent's answer did not parse and majority decided.
    pub meta_fallbacks: usize,
    /// Samples no teacher labelled (every detection abstained).
    pub unlabelled: usize,
    /// Per agent: repair turns asked (answers that did not parse) and detections abstained
    /// (reported under `failures`, with the ledger's transport retries).
    #[serde(skip)]
    pub parse_failures: BTreeMap<String, (u64, u64)>,
}

/// The R2L figures of `transcripts`.
pub fn r2l_stats(
    transcripts: &[Transcript],
    teachers: &[String],
    label_set: &[String],
    bootstrap: Option<&BootstrapConfig>,
) -> R2lStats {
    let mut consensus: BTreeMap<String, usize> = BTreeMap::new();
    let mut parse_failures: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut count_retries = |agent: &str, retries: u32| {
        parse_failures.entry(agent.to_string()).or_default().0 += u64::from(retries);
    };
    for t in transcripts {
        *consensus
            .entry(t.decision.rule.name().to_string())
            .or_default() += 1;
        for d in &t.detection {
            count_retries(&d.agent, d.parse_retries);
        }
        for r in &t.rationales {
            count_retries(&r.agent, r.parse_retries);
        }
        for r in &t.revisions {
            count_retries(&r.agent, r.parse_retries);
        }
        if let Some(meta) = &t.decision.meta {
            count_retries(&meta.agent, meta.parse_retries);
        }
        for explanation in t.decision.synthesis.iter().chain(&t.rationalization) {
            count_retries(&explanation.agent, explanation.parse_retries);
        }
    }
    for t in transcripts {
        for d in t.detection.iter().filter(|d| d.labels.is_none()) {
            parse_failures.entry(d.agent.clone()).or_default().1 += 1;
        }
    }
    R2lStats {
        accepted: transcripts
            .iter()
            .filter(|t| t.verdict == Verdict::Accepted)
            .count(),
        rejected: transcripts
            .iter()
            .filter(|t| t.verdict == Verdict::Rejected)
            .count(),
        rationalized: transcripts.iter().filter(|t| t.rationalized).count(),
        agreement_alpha: teacher_agreement(transcripts, teachers, label_set, bootstrap),
        consensus,
        meta_fallbacks: transcripts
            .iter()
            .filter(|t| t.decision.requested != t.decision.rule)
            .count(),
        unlabelled: transcripts
            .iter()
            .filter(|t| t.positions.is_empty())
            .count(),
        parse_failures,
    }
}
