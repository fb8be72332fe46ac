//! AgentArk's training records from a finished transcript.
//!
//! - R-SFT (`sft.jsonl`): the aggregator's solution, with the task's own prompt, when the
//!   aggregate answer is right and at least two agents ended right.
//! - Trajectory augmentation (`--augment K`, same questions): up to K more right solutions of
//!   the agents, distinct after whitespace normalisation (from each other and from the
//!   aggregate), preferring answers of agents that were wrong in an earlier round and corrected
//!   themselves, then earlier rounds, then file order.
//! - Stepwise supervision (`stepwise.jsonl`), as AgentArk's `prm/finetune2.py` reads its
//!   labelled debates: the question, the final round's solutions then the aggregator's
//!   (duplicates kept) and whether each is right — only when both right and wrong solutions
//!   are among them (the process reward model's data).
//!
//! AgentArk's repository has no script for the R-SFT and augmentation selection; those rules
//! are r2l's.

use std::collections::HashSet;

use chat::Message;
use harness::data::Sample;
use harness::task::{messages, Task};

use super::transcript::{Trajectory, Transcript};
use crate::protocols::reasoning::{normalize_whitespace, Answer};
use crate::protocols::task_question;
use crate::records::{to_line, RecordLines, SftRecord, StepwiseRecord};

/// Agents that must end right for an R-SFT record.
pub const MIN_AGENTS_RIGHT: usize = 2;

/// Whether the question's aggregate becomes an R-SFT record.
pub fn r_sft(transcript: &Transcript) -> bool {
    transcript.aggregate.correct && transcript.agents_final_correct >= MIN_AGENTS_RIGHT
}

/// The augmentation picks: up to `augment` distinct right solutions beside the aggregate.
pub fn augmentation(transcript: &Transcript, augment: usize) -> Vec<Trajectory> {
    if augment == 0 || !r_sft(transcript) {
        return Vec::new();
    }
    let mut candidates: Vec<(bool, usize, usize, &Answer)> = Vec::new();
    for round in &transcript.rounds {
        for (position, answer) in round.answers.iter().enumerate() {
            if !answer.correct {
                continue;
            }
            let corrected = transcript.rounds[..round.round].iter().any(|earlier| {
                earlier
                    .answers
                    .iter()
                    .any(|a| a.agent == answer.agent && a.incorrect())
            });
            candidates.push((!corrected, round.round, position, answer));
        }
    }
    candidates
        .sort_by_key(|(not_corrected, round, position, _)| (*not_corrected, *round, *position));
    let mut seen: HashSet<String> = transcript
        .aggregate
        .text
        .as_deref()
        .map(normalize_whitespace)
        .into_iter()
        .collect();
    candidates
        .into_iter()
        .filter(|(_, _, _, answer)| {
            answer
                .text
                .as_deref()
                .is_some_and(|text| seen.insert(normalize_whitespace(text)))
        })
        .take(augment)
        .map(|(not_corrected, round, _, answer)| Trajectory {
            agent: answer.agent.clone(),
            round,
            self_corrected: !not_corrected,
        })
        .collect()
}

fn sft_line(task: &Task, sample: &Sample, text: &str) -> serde_json::Value {
    let mut conversation = messages(task, sample, &[]);
    conversation.push(Message::assistant(text.to_string()));
    to_line(&SftRecord {
        messages: conversation,
        id: sample.id.clone(),
    })
}

/// The solutions of a stepwise row: the final round's (agents in file order) then the
/// aggregator's, each that came (an abstention has no text to label), duplicates kept.
pub fn stepwise_solutions(transcript: &Transcript) -> impl Iterator<Item = &Answer> {
    transcript
        .rounds
        .last()
        .into_iter()
        .flat_map(|round| &round.answers)
        .chain(std::iter::once(&transcript.aggregate))
        .filter(|answer| answer.answered())
}

/// Builds the question's records (the transcript's `r_sft` and `augmented` already decided).
pub fn build(task: &Task, sample: &Sample, transcript: &Transcript) -> RecordLines {
    let mut lines = RecordLines::default();
    if transcript.r_sft {
        if let Some(text) = transcript.aggregate.text.as_deref() {
            lines.sft.push(sft_line(task, sample, text));
        }
        for pick in &transcript.augmented {
            let text = transcript
                .rounds
                .get(pick.round)
                .and_then(|r| r.answers.iter().find(|a| a.agent == pick.agent))
                .and_then(|a| a.text.as_deref());
            if let Some(text) = text {
                lines.sft.push(sft_line(task, sample, text));
            }
        }
    }
    let (completions, labels): (Vec<String>, Vec<bool>) = stepwise_solutions(transcript)
        .map(|answer| (answer.text.clone().unwrap_or_default(), answer.correct))
        .unzip();
    if labels.contains(&true) && labels.contains(&false) {
        lines.stepwise.push(to_line(&StepwiseRecord {
            prompt: task_question(task, sample),
            completions,
            labels,
            id: sample.id.clone(),
        }));
    }
    lines
}
