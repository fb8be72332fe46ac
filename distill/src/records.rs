//! Training records in TRL's dataset formats, each carrying the `id` of the sample it came from
//! (an extra column TRL ignores; it keeps every line traceable to its transcript).
//!
//! - SFT: conversational language modelling, `{"messages": [...]}`.
//! - DPO: preference with an explicit prompt, conversational: `{"prompt": [system, user],
//!   "chosen": [assistant], "rejected": [assistant]}`. The conversational form (rather than
//!   plain strings) lets a trainer apply the student's own chat template, so the student is
//!   trained on exactly the turns `r2l eval` sends it.
//! - Stepwise supervision: `{"prompt", "completions", "labels"}` (strings and booleans).

use chat::Message;
use serde::{Deserialize, Serialize};

/// An SFT record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftRecord {
    /// The conversation, ending in the assistant turn to learn.
    pub messages: Vec<Message>,
    /// The sample it came from.
    pub id: String,
}

/// A preference pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpoRecord {
    /// The prompt turns.
    pub prompt: Vec<Message>,
    /// The preferred assistant turn.
    pub chosen: Vec<Message>,
    /// The dispreferred assistant turn.
    pub rejected: Vec<Message>,
    /// The sample it came from.
    pub id: String,
}

/// A stepwise-supervision row: candidate completions of one prompt and whether each is right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepwiseRecord {
    /// The prompt text.
    pub prompt: String,
    /// The completions.
    pub completions: Vec<String>,
    /// Whether each completion is correct.
    pub labels: Vec<bool>,
    /// The sample it came from.
    pub id: String,
}

/// A record as a JSON line value.
pub(crate) fn to_line(record: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(record).unwrap_or(serde_json::Value::Null)
}

/// How many records a sample gave (kept in its transcript).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCounts {
    /// SFT records.
    pub sft: usize,
    /// DPO pairs.
    pub dpo: usize,
    /// Stepwise rows.
    pub stepwise: usize,
    /// Static-distillation SFT records (Debate & Reflect's baseline; none elsewhere, then not
    /// written).
    #[serde(
        rename = "static",
        default,
        skip_serializing_if = "crate::records::is_zero"
    )]
    pub static_sft: usize,
}

/// Whether a count is zero (a count only some protocols have is left out of their transcripts).
pub(crate) fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// A sample's record lines, as the output files take them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordLines {
    /// `sft.jsonl` lines.
    pub sft: Vec<serde_json::Value>,
    /// `dpo.jsonl` lines.
    pub dpo: Vec<serde_json::Value>,
    /// `stepwise.jsonl` lines.
    pub stepwise: Vec<serde_json::Value>,
    /// `static.jsonl` lines.
    pub static_sft: Vec<serde_json::Value>,
}

impl RecordLines {
    /// How many lines of each kind.
    pub fn counts(&self) -> RecordCounts {
        RecordCounts {
            sft: self.sft.len(),
            dpo: self.dpo.len(),
            stepwise: self.stepwise.len(),
            static_sft: self.static_sft.len(),
        }
    }
}
