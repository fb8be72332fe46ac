//! AgentArk (2026) for reasoning tasks, per question:
//!
//! - N agents (every teacher) solve it independently (round 0), then for R rounds each sees the
//!   other agents' latest solutions in its own conversation and updates its answer.
//! - An aggregator (the meta agent, else the first teacher) reads every final solution and
//!   gives the final answer.
//! - Every solution (every agent, every round, and the aggregator's) is labelled right or wrong
//!   against gold with the harness task's parser and judge.
//!
//! The default team (no `--agents`) is AgentArk's: five agents of one model sampling at
//! temperature 0.5 and an aggregator of the same model ([`AGENTARK_AGENTS_TOML`]).
//!
//! Records: R-SFT, trajectory augmentation and stepwise labels (see [`records`]).

mod prompts;
mod records;
mod stats;
mod transcript;

use std::path::Path;
use std::sync::Arc;

use chat::Message;
use futures::future::{try_join_all, BoxFuture, FutureExt};
use harness::data::{AnswerKind, Sample};
use harness::metrics::BootstrapConfig;
use harness::task::Task;
use serde_json::{Map, Value};

pub use records::{augmentation, r_sft, MIN_AGENTS_RIGHT};
pub use stats::{agentark_stats, AgentArkStats, AggregateAccuracy};
pub use transcript::{Round, Trajectory, Transcript};

use crate::agents::{Agent, Team, AGENTARK_AGENTS_TOML};
use crate::call::{CallSite, Caller, Halt};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::protocols::reasoning::{ask_answer, gold_answer, reasoning_kind, Answer};
use crate::protocols::team_answer::{majority_text, prediction_line};
use crate::protocols::{
    parse_transcripts, task_question, Figures, Protocol, ProtocolEntry, ProtocolSettings,
};
use crate::store::Finished;

/// Rounds after round 0 when `--rounds` is not given: AgentArk's `rounds_num: 2` counts
/// round 0, so one update round.
pub const DEFAULT_ROUNDS: usize = 1;
/// The phases shown as progress bars.
pub const PHASES: [&str; 4] = ["round 0", "rounds", "aggregation", "records"];

/// AgentArk's registry entry.
pub static ENTRY: ProtocolEntry = ProtocolEntry {
    name: "agentark",
    summary: "AgentArk (2026): debate, aggregation and labelled solutions (R-SFT, augmentation, stepwise), on reasoning tasks",
    check_task: |task| reasoning_kind(task, "agentark").map(|_| ()),
    phases: &PHASES,
    default_agents: ("built-in:agents-agentark.toml", AGENTARK_AGENTS_TOML),
};

/// AgentArk's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgentArkSettings {
    /// Rounds after round 0.
    pub rounds: usize,
    /// Trajectory augmentation: extra right solutions per R-SFT question.
    pub augment: usize,
}

impl ProtocolSettings for AgentArkSettings {
    fn entry(&self) -> &'static ProtocolEntry {
        &ENTRY
    }

    fn build(&self, task: &Task, team: &Team) -> Result<Box<dyn Protocol>> {
        Ok(Box::new(AgentArk::new(task, team, *self)?))
    }
}

impl Default for AgentArkSettings {
    fn default() -> AgentArkSettings {
        AgentArkSettings {
            rounds: DEFAULT_ROUNDS,
            augment: 0,
        }
    }
}

/// An AgentArk run's agents and settings.
pub struct AgentArk {
    task: Task,
    kind: AnswerKind,
    agents: Vec<Arc<Agent>>,
    aggregator: Arc<Agent>,
    settings: AgentArkSettings,
}

impl AgentArk {
    /// Checks that `task` is a reasoning task; the teachers debate, the meta agent (else the
    /// first teacher) aggregates.
    pub fn new(task: &Task, team: &Team, settings: AgentArkSettings) -> Result<AgentArk> {
        let kind = reasoning_kind(task, "agentark")?;
        // parse_agents guarantees at least one teacher.
        let aggregator = team
            .meta
            .clone()
            .or_else(|| team.teachers.first().cloned())
            .ok_or_else(|| Error::InvalidInput(format!("no teacher in {}", team.source)))?;
        Ok(AgentArk {
            task: task.clone(),
            kind,
            agents: team.teachers.clone(),
            aggregator,
            settings,
        })
    }

    /// Runs the debate and the aggregation on one question and builds its records.
    async fn run(
        &self,
        caller: &Caller,
        sample: &Sample,
        progress: &Progress,
    ) -> std::result::Result<Finished, Halt> {
        let question = task_question(&self.task, sample);
        let mut rounds: Vec<Round> = Vec::new();
        // Per agent: its solution of each earlier round and the update that followed it.
        let mut histories: Vec<Vec<(Option<String>, Message)>> =
            vec![Vec::new(); self.agents.len()];
        for number in 0..=self.settings.rounds {
            let phase = format!("round-{number}");
            let site = CallSite {
                sample: &sample.id,
                phase: &phase,
            };
            let answers =
                try_join_all(self.agents.iter().zip(&histories).map(|(agent, history)| {
                    let shown: Vec<(Option<&str>, Message)> = history
                        .iter()
                        .map(|(own, update)| (own.as_deref(), update.clone()))
                        .collect();
                    let conversation = prompts::conversation(&self.task, sample, agent, &shown);
                    ask_answer(
                        caller,
                        agent,
                        site,
                        conversation,
                        &self.task,
                        sample,
                        self.kind,
                    )
                }))
                .await?;
            if number < self.settings.rounds {
                for (k, history) in histories.iter_mut().enumerate() {
                    let others: Vec<&str> = answers
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != k)
                        .filter_map(|(_, a)| a.text.as_deref())
                        .collect();
                    history.push((answers[k].text.clone(), prompts::update(&question, &others)));
                }
            }
            rounds.push(Round {
                round: number,
                answers,
            });
            progress.phase_done(if number == 0 { "round 0" } else { "rounds" });
        }
        let finals: Vec<&Answer> = rounds
            .last()
            .map(|r| r.answers.iter().collect())
            .unwrap_or_default();
        let solutions: Vec<&str> = finals.iter().filter_map(|a| a.text.as_deref()).collect();
        let aggregate = ask_answer(
            caller,
            &self.aggregator,
            CallSite {
                sample: &sample.id,
                phase: "aggregation",
            },
            prompts::aggregate(&self.task, sample, &self.aggregator, &solutions),
            &self.task,
            sample,
            self.kind,
        )
        .await?;
        progress.phase_done("aggregation");
        let agents_final_correct = finals.iter().filter(|a| a.correct).count();
        let mut transcript = Transcript {
            id: sample.id.clone(),
            protocol: "agentark".to_string(),
            gold: gold_answer(sample),
            rounds,
            aggregate,
            agents_final_correct,
            r_sft: false,
            augmented: Vec::new(),
            records: Default::default(),
        };
        transcript.r_sft = r_sft(&transcript);
        transcript.augmented = augmentation(&transcript, self.settings.augment);
        let lines = records::build(&self.task, sample, &transcript);
        transcript.records = lines.counts();
        progress.phase_done("records");
        Finished::new(&sample.id, &transcript, lines)
    }
}

impl Protocol for AgentArk {
    fn entry(&self) -> &'static ProtocolEntry {
        &ENTRY
    }

    /// Rounds and augmentation.
    fn settings(&self) -> Map<String, Value> {
        let mut settings = Map::new();
        settings.insert("rounds".to_string(), self.settings.rounds.into());
        settings.insert("augment".to_string(), self.settings.augment.into());
        settings
    }

    fn run_sample<'a>(
        &'a self,
        caller: &'a Caller,
        sample: &'a Sample,
        progress: &'a Progress,
    ) -> BoxFuture<'a, std::result::Result<Finished, Halt>> {
        self.run(caller, sample, progress).boxed()
    }

    /// Accuracy per round, the aggregate's accuracy, R-SFT and stepwise counts.
    fn figures(
        &self,
        transcripts: Vec<Value>,
        path: &Path,
        _bootstrap: Option<&BootstrapConfig>,
    ) -> Result<Figures> {
        let figures = agentark_stats(&parse_transcripts::<Transcript>(transcripts, path)?);
        Ok(Figures {
            value: serde_json::to_value(&figures).map_err(|e| Error::Fatal(e.to_string()))?,
            parse_failures: figures.parse_failures,
        })
    }

    /// The aggregator's answer; when the aggregator gave none, the last round's majority.
    fn predictions(&self, transcripts: &[Value], path: &Path) -> Result<Option<Vec<Value>>> {
        let transcripts = parse_transcripts::<Transcript>(transcripts.to_vec(), path)?;
        Ok(Some(
            transcripts
                .iter()
                .map(|transcript| {
                    let output = transcript.aggregate.text.as_deref().or_else(|| {
                        majority_text(
                            transcript
                                .rounds
                                .last()
                                .into_iter()
                                .flat_map(|r| &r.answers),
                        )
                    });
                    prediction_line(&transcript.id, output)
                })
                .collect(),
        ))
    }
}
