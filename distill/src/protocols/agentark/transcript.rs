//! AgentArk's transcript: one JSON line per question with every agent's solution per round,
//! the aggregator's solution, every solution's label (right or wrong against gold) and which
//! records the question gave.

use serde::{Deserialize, Serialize};

use crate::protocols::reasoning::Answer;
use crate::records::RecordCounts;

/// Every agent's solution in one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Round {
    /// 0 for the independent first solutions, then 1..R.
    pub round: usize,
    /// Every agent's solution, in file order.
    pub answers: Vec<Answer>,
}

/// A solution added to `sft.jsonl` by trajectory augmentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trajectory {
    /// Its agent.
    pub agent: String,
    /// Its round.
    pub round: usize,
    /// Whether the agent was wrong in an earlier round and corrected itself.
    pub self_corrected: bool,
}

/// One question's AgentArk transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// The sample id.
    pub id: String,
    /// `agentark`.
    pub protocol: String,
    /// The gold final answer.
    pub gold: String,
    /// The rounds.
    pub rounds: Vec<Round>,
    /// The aggregator's solution (its `agent` names the aggregator).
    pub aggregate: Answer,
    /// Agents right in the last round.
    pub agents_final_correct: usize,
    /// Whether the aggregate solution became an R-SFT record (aggregate right and at least two
    /// agents ended right).
    pub r_sft: bool,
    /// Solutions added by trajectory augmentation.
    pub augmented: Vec<Trajectory>,
    /// Records written for the question.
    pub records: RecordCounts,
}
