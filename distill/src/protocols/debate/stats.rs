//! Debate & Reflect's figures for `stats.json`, recomputed from the transcripts on disk.

use std::collections::BTreeMap;

use serde::Serialize;

use super::transcript::{Stop, Transcript};
use crate::protocols::reasoning::{tally_round, RoundAccuracy};
use crate::protocols::team_answer::{CostTally, QuestionCost};

/// The figures of a Debate & Reflect run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DebateStats {
    /// Questions finished.
    pub questions: usize,
    /// Why the debates ended: `all_correct`, `last_round`, `no_answers`.
    pub stop: BTreeMap<String, usize>,
    /// Accuracy of the agents' answers, round by round.
    pub accuracy_per_round: Vec<RoundAccuracy>,
    /// Critiques written (right agent → wrong agent).
    pub critiques: usize,
    /// Self-reflections written.
    pub reflections: usize,
    /// Calls and tokens per question (every answer, critique and reflection).
    #[serde(flatten)]
    pub cost: QuestionCost,
    /// Per agent: repair turns and abstentions (reported under `failures`).
    #[serde(skip)]
    pub parse_failures: BTreeMap<String, (u64, u64)>,
}

fn stop_name(stop: Stop) -> &'static str {
    match stop {
        Stop::AllCorrect => "all_correct",
        Stop::LastRound => "last_round",
        Stop::NoAnswers => "no_answers",
    }
}

/// The figures of `transcripts`.
pub fn debate_stats(transcripts: &[Transcript]) -> DebateStats {
    let mut stop: BTreeMap<String, usize> = BTreeMap::new();
    let mut rounds: Vec<RoundAccuracy> = Vec::new();
    let mut parse_failures: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut critiques, mut reflections) = (0, 0);
    let mut cost = CostTally::default();
    for transcript in transcripts {
        cost.question_done();
        *stop
            .entry(stop_name(transcript.stop).to_string())
            .or_default() += 1;
        for round in &transcript.rounds {
            tally_round(
                &mut rounds,
                round.round,
                round.turns.iter().map(|t| &t.answer),
                &mut parse_failures,
            );
            for turn in &round.turns {
                cost.answer(&turn.answer);
                for feedback in turn.critiques_given.iter().chain(&turn.reflection) {
                    cost.feedback(feedback);
                    parse_failures.entry(feedback.from.clone()).or_default().0 +=
                        u64::from(feedback.parse_retries);
                }
                critiques += turn
                    .critiques_given
                    .iter()
                    .filter(|c| c.text.is_some())
                    .count();
                reflections +=
                    usize::from(turn.reflection.as_ref().is_some_and(|r| r.text.is_some()));
            }
        }
    }
    DebateStats {
        questions: transcripts.len(),
        stop,
        accuracy_per_round: rounds,
        critiques,
        reflections,
        cost: cost.per_question(),
        parse_failures,
    }
}
