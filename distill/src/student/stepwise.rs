//! Stepwise supervision (`stepwise.jsonl`, TRL's stepwise format) read and tokenized as TRL's
//! `PRMTrainer.tokenize_row` does: the prompt (after the tokenizer's `bos_token`, when it has
//! one), then each step followed by the separator's tokens; a step's label sits on the last
//! token of its separator and every other position is ignored. Truncation as TRL: the prompt
//! keeps its last `max_prompt_length` tokens, the completion its first `max_completion_length`,
//! the whole its first `max_length` (a step whose label falls beyond is not learnt).

use std::path::Path;

use serde_json::Value;

use super::data::{data_error, json_lines};
use crate::error::Result;

/// TRL's default step separator (`PRMConfig.step_separator`).
pub const STEP_SEPARATOR: &str = "\n";
/// TRL's default longest prompt + completion (`PRMConfig.max_length`), tokens.
pub const PRM_MAX_LENGTH: usize = 1024;
/// TRL's default longest prompt (`PRMConfig.max_prompt_length`), tokens.
pub const PRM_MAX_PROMPT_LENGTH: usize = 512;

/// One row: a prompt, its steps and (for training) whether each step is correct.
#[derive(Debug, Clone, PartialEq)]
pub struct StepwiseRow {
    /// 1-based line in the file.
    pub line: usize,
    /// The row's `id`, when it has one.
    pub id: Option<String>,
    /// The prompt text.
    pub prompt: String,
    /// The steps.
    pub completions: Vec<String>,
    /// Whether each step is correct (absent in a file only scored).
    pub labels: Option<Vec<bool>>,
}

impl StepwiseRow {
    /// Whether the row holds both a correct and an incorrect step (AgentArk trains only on
    /// those).
    pub fn is_mixed(&self) -> bool {
        self.labels
            .as_ref()
            .is_some_and(|l| l.contains(&true) && l.contains(&false))
    }
}

/// Reads `path`'s rows; with `labelled`, every row must have `labels`, one per completion.
pub fn read_stepwise(path: &Path, labelled: bool) -> Result<Vec<StepwiseRow>> {
    json_lines(path)?
        .into_iter()
        .map(|(line, map)| {
            let err = |m: String| data_error(path, line, m);
            let prompt = match map.get("prompt") {
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(err("field `prompt` must be a string".into())),
                None => return Err(err("missing field `prompt`".into())),
            };
            let completions: Vec<String> = match map.get("completions") {
                Some(Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v.as_str().map(String::from).ok_or_else(|| {
                            err(format!("field `completions[{i}]` must be a string"))
                        })
                    })
                    .collect::<Result<_>>()?,
                Some(_) => return Err(err("field `completions` must be a list of strings".into())),
                None => return Err(err("missing field `completions`".into())),
            };
            if completions.is_empty() {
                return Err(err("field `completions` is an empty list".into()));
            }
            let labels: Option<Vec<bool>> = match map.get("labels") {
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            label(v).ok_or_else(|| {
                                err(format!(
                                    "field `labels[{i}]` must be true/false or 1/0, found {v}"
                                ))
                            })
                        })
                        .collect::<Result<_>>()?,
                ),
                Some(Value::Null) | None if !labelled => None,
                Some(Value::Null) | None => return Err(err("missing field `labels`".into())),
                Some(_) => return Err(err("field `labels` must be a list of booleans".into())),
            };
            if let Some(labels) = &labels {
                if labels.len() != completions.len() {
                    return Err(err(format!(
                        "field `labels` has {} entries and `completions` {}: one label per step",
                        labels.len(),
                        completions.len()
                    )));
                }
            }
            let id = match map.get("id") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            Ok(StepwiseRow {
                line,
                id,
                prompt,
                completions,
                labels,
            })
        })
        .collect()
}

fn label(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        _ => None,
    }
}

/// TRL's truncation limits, tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepLimits {
    /// Most tokens of prompt plus completion.
    pub max_length: usize,
    /// Most prompt tokens (the prompt keeps its end).
    pub max_prompt_length: usize,
    /// Most completion tokens (all steps and separators), when limited.
    pub max_completion_length: Option<usize>,
}

/// A tokenized row: ids, and the row (position) of each step's label that survived truncation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepSequence {
    /// Token ids.
    pub ids: Vec<u32>,
    /// For steps `0..label_rows.len()`, the position of the step's label.
    pub label_rows: Vec<usize>,
    /// Steps in the row (`label_rows` may hold fewer after truncation).
    pub steps: usize,
}

/// Tokenizes a prompt and its steps by TRL's rule. `encode` tokenizes a text without adding
/// special tokens; `bos` is prepended to the prompt when given; `separator` is the separator's
/// tokens (not empty).
pub fn tokenize_steps(
    encode: impl Fn(&str) -> std::result::Result<Vec<u32>, String>,
    bos: Option<u32>,
    prompt: &str,
    completions: &[String],
    separator: &[u32],
    limits: StepLimits,
) -> std::result::Result<StepSequence, String> {
    if separator.is_empty() {
        return Err("the step separator tokenizes to no tokens".to_string());
    }
    let mut prompt_ids: Vec<u32> = bos.into_iter().collect();
    prompt_ids.extend(encode(prompt)?);
    if prompt_ids.len() > limits.max_prompt_length {
        prompt_ids.drain(..prompt_ids.len() - limits.max_prompt_length);
    }
    let mut completion_ids = Vec::new();
    let mut label_at = Vec::with_capacity(completions.len());
    for step in completions {
        completion_ids.extend(encode(step)?);
        completion_ids.extend_from_slice(separator);
        label_at.push(completion_ids.len() - 1);
    }
    if let Some(most) = limits.max_completion_length {
        completion_ids.truncate(most);
    }
    let mut ids = prompt_ids;
    let offset = ids.len();
    ids.extend(completion_ids);
    ids.truncate(limits.max_length);
    let label_rows = label_at
        .into_iter()
        .map(|p| p + offset)
        .take_while(|&p| p < ids.len())
        .collect();
    Ok(StepSequence {
        ids,
        label_rows,
        steps: completions.len(),
    })
}
