//! Debate & Reflect's transcript: one JSON line per question with, per round and per agent, the
//! answer, its final answer and correctness, the critiques given and received, and the
//! self-reflection. The run's statistics and T-DPO pairs are recomputed from it.

use serde::{Deserialize, Serialize};

use crate::protocols::reasoning::{Answer, Feedback};
use crate::records::RecordCounts;

/// One agent in one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// `teacher` or `student`.
    pub role: String,
    /// Its answer, judged against gold.
    #[serde(flatten)]
    pub answer: Answer,
    /// Its self-reflection (shown the gold answer) when it was wrong and the debate went on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reflection: Option<Feedback>,
    /// Critiques it wrote (it was right) for the agents that were wrong.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub critiques_given: Vec<Feedback>,
    /// The agents whose critiques of its answer arrived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub critiques_received: Vec<String>,
}

/// One round of the debate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Round {
    /// 0 for the independent first answers, then 1..R.
    pub round: usize,
    /// The agents whose previous-round answers this round's prompt showed, in the order shown
    /// (shuffled with the seed); empty in round 0.
    pub context_order: Vec<String>,
    /// Every agent's turn, in file order.
    pub turns: Vec<Turn>,
}

/// Why a question's debate ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Every agent that answered was right.
    AllCorrect,
    /// Round R was reached with a wrong agent.
    LastRound,
    /// No agent answered in the round.
    NoAnswers,
}

/// One question's Debate & Reflect transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// The sample id.
    pub id: String,
    /// `debate`.
    pub protocol: String,
    /// The gold final answer.
    pub gold: String,
    /// The rounds run.
    pub rounds: Vec<Round>,
    /// Why it ended.
    pub stop: Stop,
    /// Records written for the question.
    pub records: RecordCounts,
}
