//! AgentArk's figures for `stats.json`, recomputed from the transcripts on disk.

use std::collections::BTreeMap;

use serde::Serialize;

use super::transcript::Transcript;
use crate::protocols::reasoning::{tally_round, RoundAccuracy};
use crate::protocols::team_answer::{CostTally, QuestionCost};

/// The aggregator's answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AggregateAccuracy {
    /// Answers given.
    pub answers: usize,
    /// Right answers.
    pub correct: usize,
    /// Right answers / questions (None when there are none).
    pub accuracy: Option<f64>,
}

/// The figures of an AgentArk run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentArkStats {
    /// Questions finished.
    pub questions: usize,
    /// Accuracy of the agents' solutions, round by round.
    pub accuracy_per_round: Vec<RoundAccuracy>,
    /// The aggregator's final answers.
    pub aggregate: AggregateAccuracy,
    /// Questions whose aggregate became an R-SFT record.
    pub r_sft: usize,
    /// Solutions added by trajectory augmentation.
    pub augmented: usize,
    /// Right solutions of agents that were wrong in an earlier round.
    pub self_corrections: usize,
    /// Questions whose final-round and aggregate solutions are both right and wrong (stepwise
    /// rows).
    pub stepwise: usize,
    /// Calls and tokens per question (every agent's solutions and the aggregation): the cost of
    /// the team's answer, against a student's one call per question.
    #[serde(flatten)]
    pub cost: QuestionCost,
    /// Per agent: repair turns and abstentions (reported under `failures`).
    #[serde(skip)]
    pub parse_failures: BTreeMap<String, (u64, u64)>,
}

/// The figures of `transcripts`.
pub fn agentark_stats(transcripts: &[Transcript]) -> AgentArkStats {
    let mut rounds: Vec<RoundAccuracy> = Vec::new();
    let mut parse_failures: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut aggregate = AggregateAccuracy::default();
    let mut self_corrections = 0;
    let mut cost = CostTally::default();
    for transcript in transcripts {
        cost.question_done();
        cost.answer(&transcript.aggregate);
        for round in &transcript.rounds {
            round.answers.iter().for_each(|answer| cost.answer(answer));
            tally_round(
                &mut rounds,
                round.round,
                round.answers.iter(),
                &mut parse_failures,
            );
            self_corrections += round
                .answers
                .iter()
                .filter(|answer| {
                    answer.correct
                        && transcript.rounds[..round.round].iter().any(|earlier| {
                            earlier
                                .answers
                                .iter()
                                .any(|a| a.agent == answer.agent && a.incorrect())
                        })
                })
                .count();
        }
        let answer = &transcript.aggregate;
        let failures = parse_failures.entry(answer.agent.clone()).or_default();
        failures.0 += u64::from(answer.parse_retries);
        if answer.answered() {
            aggregate.answers += 1;
            aggregate.correct += usize::from(answer.correct);
        } else {
            failures.1 += 1;
        }
    }
    aggregate.accuracy =
        (!transcripts.is_empty()).then(|| aggregate.correct as f64 / transcripts.len() as f64);
    AgentArkStats {
        questions: transcripts.len(),
        accuracy_per_round: rounds,
        aggregate,
        r_sft: transcripts.iter().filter(|t| t.r_sft).count(),
        augmented: transcripts.iter().map(|t| t.augmented.len()).sum(),
        self_corrections,
        stepwise: transcripts.iter().map(|t| t.records.stepwise).sum(),
        cost: cost.per_question(),
        parse_failures,
    }
}
