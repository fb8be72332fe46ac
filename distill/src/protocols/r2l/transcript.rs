//! R2L's transcript: one JSON line per sample with every phase's inputs and outputs, from which
//! the run's statistics (acceptance, consensus rules, agreement, failures) are recomputed.

use serde::{Deserialize, Serialize};

use super::consensus::Rule;
use super::labels::Label;
pub use crate::records::RecordCounts;

/// Phase 1: one teacher's independent labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The teacher.
    pub agent: String,
    /// Its labels; None when it abstained (no answer, or none that parsed after retries).
    pub labels: Option<Vec<Label>>,
    /// Pairs outside the label set that were dropped.
    pub invalid_labels: usize,
    /// Its last raw answer.
    pub raw: Option<String>,
    /// Why it abstained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Repair turns asked.
    pub parse_retries: u32,
}

/// Phase 2: the teachers that hold a pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    /// The aspect.
    pub aspect: String,
    /// The polarity.
    pub polarity: String,
    /// The teachers holding the pair.
    pub agents: Vec<String>,
}

/// Phase 3: a teacher's rationale for its labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rationale {
    /// The teacher.
    pub agent: String,
    /// The rationale (cleaned); None when no usable answer came.
    pub rationale: Option<String>,
    /// Why there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Repair turns asked.
    pub parse_retries: u32,
}

/// Phase 3 on a conflict: a teacher's revision after seeing the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    /// The teacher.
    pub agent: String,
    /// Revision round (1-based).
    pub round: usize,
    /// The revised labels; None when the revision did not parse (the labels stay as they were).
    pub labels: Option<Vec<Label>>,
    /// The revised rationale.
    pub rationale: Option<String>,
    /// Whether the labels changed.
    pub changed: bool,
    /// The raw answer.
    pub raw: Option<String>,
    /// Why it did not parse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Repair turns asked.
    pub parse_retries: u32,
}

/// A teacher's final position (after revision): what aggregation sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The teacher.
    pub agent: String,
    /// Its final labels.
    pub labels: Vec<Label>,
    /// Its final rationale (may be empty).
    pub rationale: String,
    /// Whether a revision changed its labels.
    pub revised: bool,
}

/// The meta-agent's step (rule `meta`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaStep {
    /// The meta-agent.
    pub agent: String,
    /// Its labels; None when its answer did not parse (majority decides instead).
    pub labels: Option<Vec<Label>>,
    /// Its rationale.
    pub rationale: Option<String>,
    /// The raw answer.
    pub raw: Option<String>,
    /// Why it did not parse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Repair turns asked.
    pub parse_retries: u32,
}

/// A rationale asked for given labels (final labels without a fitting rationale, or gold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Who wrote it.
    pub agent: String,
    /// The rationale; None when no usable answer came.
    pub rationale: Option<String>,
    /// The raw answer.
    pub raw: Option<String>,
    /// Why there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Repair turns asked.
    pub parse_retries: u32,
}

/// Phase 4: the final labels and which rule decided them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The rule that decided.
    pub rule: Rule,
    /// The rule asked for (differs when the meta-agent failed and majority decided).
    pub requested: Rule,
    /// The final labels.
    pub labels: Vec<Label>,
    /// The rationale of the final labels (may be empty).
    pub rationale: String,
    /// Where the rationale came from: `meta:<id>`, `teacher:<id>`, `synthesized:<id>`, `none`.
    pub rationale_source: String,
    /// The meta-agent's step, when it was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<MetaStep>,
    /// The synthesis of a rationale for the final labels, when one was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthesis: Option<Explanation>,
}

/// Whether the final labels equal gold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Final labels equal gold exactly.
    Accepted,
    /// They differ (the sample's wrong outputs become DPO negatives).
    Rejected,
}

/// One sample's R2L transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// The sample id.
    pub id: String,
    /// `r2l`.
    pub protocol: String,
    /// The gold labels.
    pub gold: Vec<Label>,
    /// Phase 1.
    pub detection: Vec<Detection>,
    /// Phase 2: votes per pair over the detection labels.
    pub votes: Vec<Vote>,
    /// Phase 2: aspects the teachers disagree on (after detection).
    pub conflicts: Vec<String>,
    /// Phase 3: rationales.
    pub rationales: Vec<Rationale>,
    /// Phase 3: revisions (conflicts only).
    pub revisions: Vec<Revision>,
    /// The teachers' final positions.
    pub positions: Vec<Position>,
    /// Phase 4.
    pub decision: Decision,
    /// Accepted or rejected against gold.
    pub verdict: Verdict,
    /// Whether a rationale for gold was written (STaR rationalization).
    pub rationalized: bool,
    /// The rationalization step, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationalization: Option<Explanation>,
    /// Records written for the sample.
    pub records: RecordCounts,
}
