//! `stats.json`: what a run produced and what it cost, recomputed from the files on disk.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ledger::AgentLedger;

/// One agent's failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AgentFailures {
    /// Attempts retried: timeouts, 429, 5xx and broken connections (with backoff), plus repair
    /// turns after answers that did not parse.
    pub retried: u64,
    /// Detections given up on (no answer, or none that parsed after the repair turns).
    pub abstained: u64,
    /// Calls that failed after every retry.
    pub failed_calls: u64,
}

/// Lines in each record file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecordTotals {
    /// `sft.jsonl`.
    pub sft: usize,
    /// `dpo.jsonl`.
    pub dpo: usize,
    /// `stepwise.jsonl`.
    pub stepwise: usize,
    /// `static.jsonl` (Debate & Reflect's static-distillation baseline; 0 elsewhere).
    #[serde(rename = "static")]
    pub static_sft: usize,
}

/// The run summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// The protocol.
    pub protocol: String,
    /// The task.
    pub task: String,
    /// The split.
    pub split: String,
    /// Samples finished (transcripts on disk).
    pub n: usize,
    /// Samples selected (`--limit` of a seeded shuffle).
    pub selected: usize,
    /// `complete`, `budget` (stopped before a call would exceed it) or `interrupted`.
    pub status: String,
    /// The protocol's own figures (R2L: accepted, rejected, rationalized, agreement_alpha,
    /// consensus...).
    #[serde(flatten)]
    pub protocol_figures: serde_json::Value,
    /// Per agent: calls, cache hits, tokens and cost, over every run in the directory.
    pub ledger: BTreeMap<String, AgentLedger>,
    /// Per agent: retries and abstentions.
    pub failures: BTreeMap<String, AgentFailures>,
    /// Lines in each record file.
    pub records: RecordTotals,
    /// Total cost (USD), over every run in the directory.
    pub cost_usd: f64,
    /// The budget (USD), if one was set.
    pub budget_usd: Option<f64>,
    /// This invocation's wall time (seconds).
    pub wall_s: f64,
}
