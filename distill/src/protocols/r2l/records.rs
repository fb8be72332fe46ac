//! R2L's training records from a finished transcript.
//!
//! - SFT: the task's own system and user turns, then the assistant turn = the rationale followed
//!   by the labels as the JSON the task parser reads — the final labels of an accepted sample,
//!   the gold labels of a rationalized one. The turn is checked to parse back to those labels.
//! - DPO: the same prompt; chosen = that assistant turn; rejected = each distinct teacher
//!   output (detection and, when revised, final position, each with its rationale) and the
//!   meta-agent's output whose labels differ from gold.
//! - Stepwise: the user prompt, the sample's distinct candidate outputs and whether each is
//!   right — only when both right and wrong candidates exist.

use std::collections::BTreeSet;

use chat::{Message, Role};
use harness::data::Sample;
use harness::task::{messages, Task};

use super::labels::{pair_set, read_labels, render_answer, AspectPair, Label};
use super::transcript::{Transcript, Verdict};
use crate::records::{to_line, DpoRecord, RecordLines, SftRecord, StepwiseRecord};

/// An output with its labels.
struct Candidate {
    text: String,
    pairs: BTreeSet<AspectPair>,
}

/// Builds the sample's records.
pub fn build(
    task: &Task,
    sample: &Sample,
    transcript: &Transcript,
    labels: &[&str],
) -> RecordLines {
    let gold = pair_set(&transcript.gold);
    let prompt = messages(task, sample, &[]);
    let chosen = chosen(transcript, labels);
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut add = |labels: &[Label], rationale: &str| {
        let pairs = pair_set(labels);
        let text = render_answer(rationale, &pairs);
        if !candidates.iter().any(|c| c.text == text) {
            candidates.push(Candidate { text, pairs });
        }
    };
    for detection in &transcript.detection {
        let Some(detected) = &detection.labels else {
            continue;
        };
        let first_rationale = transcript
            .rationales
            .iter()
            .find(|r| r.agent == detection.agent)
            .and_then(|r| r.rationale.as_deref())
            .unwrap_or_default();
        add(detected, first_rationale);
        if let Some(position) = transcript
            .positions
            .iter()
            .find(|p| p.agent == detection.agent)
        {
            add(&position.labels, &position.rationale);
        }
    }
    if let Some(meta) = &transcript.decision.meta {
        if let Some(meta_labels) = &meta.labels {
            add(meta_labels, meta.rationale.as_deref().unwrap_or_default());
        }
    }
    let mut built = RecordLines::default();
    if let Some(chosen) = &chosen {
        let mut conversation = prompt.clone();
        conversation.push(Message::assistant(chosen.clone()));
        built.sft.push(to_line(&SftRecord {
            messages: conversation,
            id: sample.id.clone(),
        }));
        for rejected in candidates
            .iter()
            .filter(|c| c.pairs != gold && &c.text != chosen)
        {
            built.dpo.push(to_line(&DpoRecord {
                prompt: prompt.clone(),
                chosen: vec![Message::assistant(chosen.clone())],
                rejected: vec![Message::assistant(rejected.text.clone())],
                id: sample.id.clone(),
            }));
        }
        if !candidates.iter().any(|c| &c.text == chosen) {
            candidates.push(Candidate {
                text: chosen.clone(),
                pairs: gold.clone(),
            });
        }
    }
    let correct: Vec<bool> = candidates.iter().map(|c| c.pairs == gold).collect();
    if correct.contains(&true) && correct.contains(&false) {
        let user = prompt
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.clone())
            .unwrap_or_default();
        built.stepwise.push(to_line(&StepwiseRecord {
            prompt: user,
            completions: candidates.into_iter().map(|c| c.text).collect(),
            labels: correct,
            id: sample.id.clone(),
        }));
    }
    built
}

/// The assistant turn to learn: the accepted final answer or the rationalized gold answer,
/// kept only when the task parser reads its labels back.
fn chosen(transcript: &Transcript, labels: &[&str]) -> Option<String> {
    let (rationale, target) = match (transcript.verdict, &transcript.rationalization) {
        (Verdict::Accepted, _) => (
            transcript.decision.rationale.clone(),
            pair_set(&transcript.decision.labels),
        ),
        (Verdict::Rejected, Some(explanation)) if transcript.rationalized => (
            explanation.rationale.clone().unwrap_or_default(),
            pair_set(&transcript.gold),
        ),
        _ => return None,
    };
    let text = render_answer(&rationale, &target);
    let reads_back = read_labels(&text, labels).is_ok_and(|read| pair_set(&read.labels) == target);
    reads_back.then_some(text)
}
