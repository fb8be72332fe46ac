//! Debate & Reflect's training records from a finished transcript.
//!
//! - T-DPO (`dpo.jsonl`): for every round, every right answer × every wrong answer of that
//!   round (any agent). The prompt is the task's own prompt for round 0; for a later round it
//!   adds the previous round's parsed answers with their reflections and feedback, shortest
//!   first, packed to the prompt budget in tokens — when they overflow, the same pair is
//!   written again with the rest of the context (the paper's tree packing, see [`super::context`]).
//! - SFT (`sft.jsonl`): every right teacher answer of any round, with the task's own prompt;
//!   answers that differ only in whitespace are written once.
//! - Static distillation (`static.jsonl`, the paper's baseline without debate): every right
//!   teacher answer of round 0, with the same prompt. As D&R's `mag2sft.py` selects SFT
//!   answers: each teacher's right answer is a record, equal texts included.

use std::collections::HashSet;

use chat::Message;
use harness::data::Sample;
use harness::task::Task;

use super::context::{pack, record_entries, ContextTokenizer};
use super::prompts::record_prompt;
use super::transcript::{Transcript, Turn};
use crate::agents::Role;
use crate::error::Result;
use crate::protocols::reasoning::normalize_whitespace;
use crate::records::{to_line, DpoRecord, RecordLines, SftRecord};

/// Builds the question's records; `budget` is the prompt budget in tokens of `tokenizer`.
pub fn build(
    task: &Task,
    sample: &Sample,
    transcript: &Transcript,
    budget: usize,
    tokenizer: &ContextTokenizer,
) -> Result<RecordLines> {
    let mut lines = RecordLines::default();
    for (index, round) in transcript.rounds.iter().enumerate() {
        let texts = |right: bool| -> Vec<&str> {
            round
                .turns
                .iter()
                .filter(|t| t.answer.answered() && t.answer.correct == right)
                .filter_map(|t| t.answer.text.as_deref())
                .collect()
        };
        let (chosen, rejected) = (texts(true), texts(false));
        if chosen.is_empty() || rejected.is_empty() {
            continue;
        }
        let prompts: Vec<Vec<Message>> = match index.checked_sub(1) {
            None => vec![record_prompt(task, sample, None)],
            Some(previous) => {
                let shown = record_entries(
                    &transcript.rounds[previous],
                    &round.context_order,
                    budget,
                    tokenizer,
                )?;
                let mut blocks = pack(&shown, budget, tokenizer)?;
                if blocks.is_empty() {
                    // No answer of the previous round parsed: D&R's context reads "None".
                    blocks.push("None".to_string());
                }
                blocks
                    .iter()
                    .map(|block| record_prompt(task, sample, Some(block)))
                    .collect()
            }
        };
        for prompt in &prompts {
            for good in &chosen {
                for bad in &rejected {
                    lines.dpo.push(to_line(&DpoRecord {
                        prompt: prompt.clone(),
                        chosen: vec![Message::assistant(good.to_string())],
                        rejected: vec![Message::assistant(bad.to_string())],
                        id: sample.id.clone(),
                    }));
                }
            }
        }
    }
    if let Some(first) = transcript.rounds.first() {
        for turn in &first.turns {
            if let (true, Some(text)) = (right_teacher_answer(turn), turn.answer.text.as_deref()) {
                lines.static_sft.push(sft_line(task, sample, text));
            }
        }
    }
    let mut seen = HashSet::new();
    for turn in transcript.rounds.iter().flat_map(|r| &r.turns) {
        let Some(text) = turn.answer.text.as_deref() else {
            continue;
        };
        if right_teacher_answer(turn) && seen.insert(normalize_whitespace(text)) {
            lines.sft.push(sft_line(task, sample, text));
        }
    }
    Ok(lines)
}

/// Whether the turn is a teacher's right answer (the answers SFT records learn).
fn right_teacher_answer(turn: &Turn) -> bool {
    turn.role == Role::Teacher.name() && turn.answer.answered() && turn.answer.correct
}

/// An SFT record: the task's own prompt, then `text` as the assistant's answer.
fn sft_line(task: &Task, sample: &Sample, text: &str) -> serde_json::Value {
    let mut conversation = record_prompt(task, sample, None);
    conversation.push(Message::assistant(text.to_string()));
    to_line(&SftRecord {
        messages: conversation,
        id: sample.id.clone(),
    })
}
