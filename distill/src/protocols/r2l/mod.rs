//! The R2L protocol (LREC 2026) for ABSA tasks, per input text:
//!
//! 1. *Detection*: every teacher labels the text with the task's own prompt (parsed with the
//!    harness task parser; a teacher whose answer does not parse after repair turns abstains).
//! 2. *Processing*: votes per (aspect, polarity) pair and the aspects the teachers disagree on.
//! 3. *Rationale generation*: each teacher explains its labels; on a conflict it sees the other
//!    teachers' labels and rationales and may revise (`--rounds`, default once).
//! 4. *Aggregation*: `majority`, `weighted` or `meta` (see [`Rule`]).
//!
//! The final labels are judged against gold: equal → accepted, else rejected (its wrong
//! outputs become DPO negatives); with `rationalize`, a rejected sample gets a rationale for
//! its gold labels (STaR's rationalization).

mod agreement;
mod consensus;
mod labels;
mod participants;
mod prompts;
mod records;
mod stats;
mod transcript;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use futures::future::{try_join_all, BoxFuture, FutureExt};
use harness::data::{DatasetName, Sample, TaskFamily};
use harness::metrics::BootstrapConfig;
use harness::scoring::Scorer;
use harness::task::Task;

pub use agreement::{teacher_agreement, Agreement};
pub use consensus::{conflicts, majority, votes, weighted, Rule};
pub use labels::{
    answer_json, clean_rationale, pair_set, read_labels, render_answer, AspectPair, Label,
    ReadLabels, RATIONALE_WORDS,
};
pub use participants::Participants;
pub use stats::{r2l_stats, R2lStats};
pub use transcript::{
    Decision, Detection, Explanation, MetaStep, Position, Rationale, RecordCounts, Revision,
    Transcript, Verdict, Vote,
};

use crate::agents::{Agent, Team, DEFAULT_AGENTS_TOML};
use crate::call::{CallSite, Caller, Halt};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::protocols::{parse_transcripts, Figures, Protocol, ProtocolEntry, ProtocolSettings};
use crate::store::Finished;
use prompts::Shown;

/// The ABSA tasks R2L runs on: the default task of every ABSA dataset.
pub fn r2l_tasks() -> Vec<&'static str> {
    DatasetName::names_where(|family| family == TaskFamily::Absa)
}

/// The phases shown as progress bars.
pub const PHASES: [&str; 4] = ["detection", "rationale", "aggregation", "records"];

/// R2L's registry entry.
pub static ENTRY: ProtocolEntry = ProtocolEntry {
    name: "r2l",
    summary: "R2L (LREC 2026): detection, rationales, revision and aggregation, on ABSA tasks",
    check_task: |task| absa_labels(task).map(|_| ()),
    phases: &PHASES,
    default_agents: ("built-in:agents.toml", DEFAULT_AGENTS_TOML),
};

/// R2L's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct R2lSettings {
    /// The aggregation rule (None: `meta` when a meta agent exists, else `majority`).
    pub consensus: Option<Rule>,
    /// Write rationales for the gold labels of rejected samples.
    pub rationalize: bool,
    /// Revision rounds on a conflict (rounds after the first, independent labels).
    pub rounds: usize,
    /// The teachers and meta-agent of the agents file that take part (default: all).
    pub participants: Participants,
}

impl ProtocolSettings for R2lSettings {
    fn entry(&self) -> &'static ProtocolEntry {
        &ENTRY
    }

    fn build(&self, task: &Task, team: &Team) -> Result<Box<dyn Protocol>> {
        Ok(Box::new(R2l::new(task, team, self.clone())?))
    }
}

impl Default for R2lSettings {
    /// The rule by the agents (meta when a meta agent exists), no rationalization, one
    /// revision round.
    fn default() -> R2lSettings {
        R2lSettings {
            consensus: None,
            rationalize: false,
            rounds: 1,
            participants: Participants::default(),
        }
    }
}

/// An R2L run's agents and settings.
pub struct R2l {
    task: Task,
    label_set: Vec<String>,
    aspects: String,
    teachers: Vec<Arc<Agent>>,
    meta: Option<Arc<Agent>>,
    rule: Rule,
    rationalize: bool,
    rounds: usize,
    participants: Participants,
}

impl R2l {
    /// Checks that `task` is an ABSA task and the rule has the agents it needs.
    pub fn new(task: &Task, team: &Team, settings: R2lSettings) -> Result<R2l> {
        let labels = absa_labels(task)?;
        let (teachers, meta) = settings.participants.pick(team)?;
        let rule = settings.consensus.unwrap_or(if meta.is_some() {
            Rule::Meta
        } else {
            Rule::Majority
        });
        if rule == Rule::Meta && meta.is_none() {
            return Err(Error::InvalidInput(format!(
                "--consensus meta needs an agent with role = \"meta\" in {} (and no --no-meta)",
                team.source
            )));
        }
        Ok(R2l {
            task: task.clone(),
            aspects: labels.join(", "),
            label_set: labels.clone(),
            teachers,
            meta,
            rule,
            rationalize: settings.rationalize,
            rounds: settings.rounds,
            participants: settings.participants,
        })
    }

    /// The rule that decides when the meta-agent is not asked or fails.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// The teachers' ids, in file order.
    pub fn teacher_ids(&self) -> Vec<String> {
        self.teachers.iter().map(|t| t.id().to_string()).collect()
    }

    /// The task's label set.
    pub fn label_set(&self) -> &[String] {
        &self.label_set
    }

    fn labels(&self) -> Vec<&str> {
        self.label_set.iter().map(String::as_str).collect()
    }

    /// The agent that writes rationales for given labels: the meta agent, else the first teacher.
    fn explainer(&self) -> &Arc<Agent> {
        self.meta.as_ref().unwrap_or(&self.teachers[0])
    }

    /// Runs the four phases on one sample and builds its records.
    async fn run(
        &self,
        caller: &Caller,
        sample: &Sample,
        progress: &Progress,
    ) -> std::result::Result<Finished, Halt> {
        let label_set = self.labels();
        let labels: &[&str] = &label_set;
        let site = |phase: &'static str| CallSite {
            sample: &sample.id,
            phase,
        };

        // 1. Detection.
        let detection = try_join_all(self.teachers.iter().map(|teacher| async move {
            let reply = caller
                .ask_parsed(
                    teacher,
                    site("detection"),
                    prompts::detection(&self.task, sample, teacher),
                    |raw| read_labels(raw, labels),
                )
                .await?;
            let (labels, invalid_labels, error) = match reply.value {
                Ok(read) => (Some(read.labels), read.invalid, None),
                Err(reason) => (None, 0, Some(reason)),
            };
            Ok::<_, Halt>(Detection {
                agent: teacher.id().to_string(),
                labels,
                invalid_labels,
                raw: reply.raw,
                error,
                parse_retries: reply.parse_retries,
            })
        }))
        .await?;
        progress.phase_done("detection");

        // 2. Processing.
        let parsed: Vec<(&Arc<Agent>, &[Label])> = self
            .teachers
            .iter()
            .zip(&detection)
            .filter_map(|(teacher, d)| d.labels.as_deref().map(|l| (teacher, l)))
            .collect();
        let detected: Vec<&[Label]> = parsed.iter().map(|(_, l)| *l).collect();
        let vote_list: Vec<Vote> = votes(&detected)
            .into_iter()
            .map(|(AspectPair { aspect, polarity }, voters)| Vote {
                aspect,
                polarity,
                agents: voters
                    .into_iter()
                    .map(|k| parsed[k].0.id().to_string())
                    .collect(),
            })
            .collect();
        let first_conflicts = conflicts(&detected);

        // 3. Rationales, then revisions while teachers disagree.
        let rationales = try_join_all(parsed.iter().map(|(teacher, own)| async move {
            let reply = caller
                .ask_parsed(
                    teacher,
                    site("rationale"),
                    prompts::rationale(teacher, sample, &self.aspects, own),
                    non_empty_rationale,
                )
                .await?;
            Ok::<_, Halt>(Rationale {
                agent: teacher.id().to_string(),
                error: reply.value.as_ref().err().cloned(),
                rationale: reply.value.ok(),
                parse_retries: reply.parse_retries,
            })
        }))
        .await?;
        let mut positions: Vec<Position> = parsed
            .iter()
            .zip(&rationales)
            .map(|((teacher, own), rationale)| Position {
                agent: teacher.id().to_string(),
                labels: own.to_vec(),
                rationale: rationale.rationale.clone().unwrap_or_default(),
                revised: false,
            })
            .collect();
        let mut revisions = Vec::new();
        let mut open_conflicts = first_conflicts.clone();
        for round in 1..=self.rounds {
            if open_conflicts.is_empty() || positions.len() < 2 {
                break;
            }
            let round_revisions = try_join_all(positions.iter().enumerate().map(|(k, own)| {
                let teacher = parsed[k].0;
                let others: Vec<Shown<'_>> = positions
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != k)
                    .map(|(_, p)| shown(p))
                    .collect();
                let conversation = prompts::revision(
                    teacher,
                    sample,
                    &self.aspects,
                    &shown(own),
                    &others,
                    &open_conflicts,
                );
                async move {
                    let reply = caller
                        .ask_parsed(teacher, site("revision"), conversation, |raw| {
                            read_labels(raw, labels)
                        })
                        .await?;
                    let revised = reply.value.as_ref().ok().map(|read| read.labels.clone());
                    Ok::<_, Halt>(Revision {
                        agent: teacher.id().to_string(),
                        round,
                        changed: revised
                            .as_ref()
                            .is_some_and(|l| pair_set(l) != pair_set(&own.labels)),
                        rationale: reply
                            .raw
                            .as_deref()
                            .filter(|_| revised.is_some())
                            .map(clean_rationale)
                            .filter(|r| !r.is_empty()),
                        labels: revised,
                        error: reply.value.err(),
                        raw: reply.raw,
                        parse_retries: reply.parse_retries,
                    })
                }
            }))
            .await?;
            for (position, revision) in positions.iter_mut().zip(&round_revisions) {
                if let Some(revised) = &revision.labels {
                    position.revised |= revision.changed;
                    position.labels = revised.clone();
                    if let Some(rationale) = &revision.rationale {
                        position.rationale = rationale.clone();
                    }
                }
            }
            revisions.extend(round_revisions);
            let current: Vec<&[Label]> = positions.iter().map(|p| p.labels.as_slice()).collect();
            open_conflicts = conflicts(&current);
        }
        progress.phase_done("rationale");

        // 4. Aggregation.
        let mut decision = self.decide(caller, sample, &positions).await?;
        progress.phase_done("aggregation");

        let gold: Vec<Label> = sample.aspect_labels().iter().map(Label::bare).collect();
        let gold_pairs: BTreeSet<AspectPair> = pair_set(&gold);
        // A sample no teacher labelled has no evidence to accept, whatever the labels are.
        let verdict = if !positions.is_empty() && pair_set(&decision.labels) == gold_pairs {
            Verdict::Accepted
        } else {
            Verdict::Rejected
        };
        if verdict == Verdict::Accepted && decision.rationale.is_empty() {
            let explanation = self
                .explain(caller, sample, &decision.labels, "synthesis")
                .await?;
            if let Some(rationale) = &explanation.rationale {
                decision.rationale = rationale.clone();
                decision.rationale_source = format!("synthesized:{}", explanation.agent);
            }
            decision.synthesis = Some(explanation);
        }
        let rationalization = if verdict == Verdict::Rejected && self.rationalize {
            Some(
                self.explain(caller, sample, &gold, "rationalization")
                    .await?,
            )
        } else {
            None
        };
        let rationalized = rationalization
            .as_ref()
            .is_some_and(|r| r.rationale.is_some());

        let mut transcript = Transcript {
            id: sample.id.clone(),
            protocol: "r2l".to_string(),
            gold,
            detection,
            votes: vote_list,
            conflicts: first_conflicts,
            rationales,
            revisions,
            positions,
            decision,
            verdict,
            rationalized,
            rationalization,
            records: RecordCounts::default(),
        };
        let built = records::build(&self.task, sample, &transcript, labels);
        transcript.records = built.counts();
        progress.phase_done("records");
        Finished::new(&sample.id, &transcript, built)
    }

    /// Phase 4: the final labels and their rationale.
    async fn decide(
        &self,
        caller: &Caller,
        sample: &Sample,
        positions: &[Position],
    ) -> std::result::Result<Decision, Halt> {
        let held: Vec<&[Label]> = positions.iter().map(|p| p.labels.as_slice()).collect();
        let mut meta_step = None;
        if let (Rule::Meta, Some(meta), false) = (self.rule, &self.meta, positions.is_empty()) {
            let labels = self.labels();
            let shown_positions: Vec<Shown<'_>> = positions.iter().map(shown).collect();
            let reply = caller
                .ask_parsed(
                    meta,
                    CallSite {
                        sample: &sample.id,
                        phase: "aggregation",
                    },
                    prompts::meta(meta, sample, &self.aspects, &shown_positions),
                    |raw| read_labels(raw, &labels),
                )
                .await?;
            let rationale = reply
                .raw
                .as_deref()
                .map(clean_rationale)
                .filter(|r| !r.is_empty());
            match reply.value {
                Ok(read) => {
                    return Ok(Decision {
                        rule: Rule::Meta,
                        requested: Rule::Meta,
                        rationale_source: if rationale.is_some() {
                            format!("meta:{}", meta.id())
                        } else {
                            "none".to_string()
                        },
                        rationale: rationale.clone().unwrap_or_default(),
                        labels: read.labels.clone(),
                        meta: Some(MetaStep {
                            agent: meta.id().to_string(),
                            labels: Some(read.labels),
                            rationale,
                            raw: reply.raw,
                            error: None,
                            parse_retries: reply.parse_retries,
                        }),
                        synthesis: None,
                    })
                }
                Err(reason) => {
                    meta_step = Some(MetaStep {
                        agent: meta.id().to_string(),
                        labels: None,
                        rationale: None,
                        raw: reply.raw,
                        error: Some(reason),
                        parse_retries: reply.parse_retries,
                    });
                }
            }
        }
        // Majority or weighted (also when the meta-agent's answer did not parse).
        let rule = if self.rule == Rule::Weighted {
            Rule::Weighted
        } else {
            Rule::Majority
        };
        let final_pairs = match rule {
            Rule::Weighted => weighted(&held),
            _ => majority(&held),
        };
        let fitting = positions
            .iter()
            .find(|p| pair_set(&p.labels) == final_pairs && !p.rationale.is_empty());
        Ok(Decision {
            rule,
            requested: self.rule,
            labels: final_pairs.iter().map(Label::bare).collect(),
            rationale: fitting.map(|p| p.rationale.clone()).unwrap_or_default(),
            rationale_source: fitting
                .map_or_else(|| "none".to_string(), |p| format!("teacher:{}", p.agent)),
            meta: meta_step,
            synthesis: None,
        })
    }

    /// A rationale for `labels` from the explainer (meta agent, else the first teacher).
    async fn explain(
        &self,
        caller: &Caller,
        sample: &Sample,
        labels: &[Label],
        phase: &'static str,
    ) -> std::result::Result<Explanation, Halt> {
        let agent = self.explainer();
        let reply = caller
            .ask_parsed(
                agent,
                CallSite {
                    sample: &sample.id,
                    phase,
                },
                prompts::explain(agent, sample, &self.aspects, labels),
                non_empty_rationale,
            )
            .await?;
        Ok(Explanation {
            agent: agent.id().to_string(),
            error: reply.value.as_ref().err().cloned(),
            rationale: reply.value.ok(),
            raw: reply.raw,
            parse_retries: reply.parse_retries,
        })
    }
}

impl Protocol for R2l {
    fn entry(&self) -> &'static ProtocolEntry {
        &ENTRY
    }

    /// Rule, rationalization, rounds, and the teachers and meta-agent taking part when they
    /// are not the whole team.
    fn settings(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut settings = serde_json::Map::new();
        settings.insert("consensus".to_string(), self.rule.name().into());
        settings.insert("rationalize".to_string(), self.rationalize.into());
        settings.insert("rounds".to_string(), self.rounds.into());
        self.participants.record(&self.teachers, &mut settings);
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

    /// Acceptance, consensus, agreement, failures.
    fn figures(
        &self,
        transcripts: Vec<serde_json::Value>,
        path: &Path,
        bootstrap: Option<&BootstrapConfig>,
    ) -> Result<Figures> {
        let transcripts: Vec<Transcript> = parse_transcripts(transcripts, path)?;
        let figures = r2l_stats(
            &transcripts,
            &self.teacher_ids(),
            &self.label_set,
            bootstrap,
        );
        Ok(Figures {
            value: serde_json::to_value(&figures).map_err(|e| Error::Fatal(e.to_string()))?,
            parse_failures: figures.parse_failures,
        })
    }
}

/// The task's aspect label set; an error unless it is an ABSA task (checked before any model
/// is loaded).
pub fn absa_labels(task: &Task) -> Result<&Vec<String>> {
    match &task.scorer {
        Scorer::AbsaF1 { labels } => Ok(labels),
        _ => Err(Error::InvalidInput(format!(
            "the r2l protocol labels aspects and needs an ABSA task ({}); {} is scored by accuracy or rating",
            r2l_tasks().join(", "),
            task.name
        ))),
    }
}

fn shown(position: &Position) -> Shown<'_> {
    Shown {
        agent: &position.agent,
        labels: &position.labels,
        rationale: &position.rationale,
    }
}

/// A rationale answer: its cleaned text, which must not be empty.
fn non_empty_rationale(raw: &str) -> std::result::Result<String, String> {
    let rationale = clean_rationale(raw);
    if rationale.is_empty() {
        Err("the explanation is empty".to_string())
    } else {
        Ok(rationale)
    }
}
