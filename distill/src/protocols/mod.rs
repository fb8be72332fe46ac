//! Distillation protocols, one module each, each with its own transcript type. The registry is
//! a `match`: an unknown name fails and lists the valid ones.
//!
//! - `r2l`: R2L (LREC 2026) on ABSA tasks.
//! - `debate`: Debate & Reflect with T-DPO pairs (ACL Findings 2025) on reasoning tasks.
//! - `agentark`: AgentArk's debate, aggregation and solution labelling (2026) on reasoning tasks.

pub mod agentark;
pub mod debate;
pub mod r2l;
pub mod reasoning;

use std::collections::BTreeMap;
use std::path::Path;

use chat::{Message, Role};
use harness::data::Sample;
use harness::metrics::BootstrapConfig;
use harness::task::{messages, Task};
use serde_json::{Map, Value};

use crate::agents::{Agent, Team};
use crate::call::{Caller, Halt};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::store::Finished;

/// The protocols r2l runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolName {
    /// R2L (LREC 2026): detection, processing, rationale generation, aggregation (ABSA tasks).
    R2l,
    /// Debate & Reflect (ACL Findings 2025): debate with critiques and reflections, T-DPO pairs
    /// (reasoning tasks).
    Debate,
    /// AgentArk (2026): debate, aggregation, labelled solutions (reasoning tasks).
    AgentArk,
}

impl ProtocolName {
    /// Every protocol's name.
    pub const NAMES: [&'static str; 3] = ["r2l", "debate", "agentark"];

    /// Parses a protocol name.
    pub fn parse(name: &str) -> Result<ProtocolName> {
        match name {
            "r2l" => Ok(ProtocolName::R2l),
            "debate" => Ok(ProtocolName::Debate),
            "agentark" => Ok(ProtocolName::AgentArk),
            other => Err(Error::InvalidInput(format!(
                "unknown protocol `{other}`; valid: {}",
                ProtocolName::NAMES.join(", ")
            ))),
        }
    }

    /// The name.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolName::R2l => "r2l",
            ProtocolName::Debate => "debate",
            ProtocolName::AgentArk => "agentark",
        }
    }

    /// Rounds after round 0 when `--rounds` is not given.
    pub fn default_rounds(self) -> usize {
        match self {
            ProtocolName::R2l => 1,
            ProtocolName::Debate => debate::DEFAULT_ROUNDS,
            ProtocolName::AgentArk => agentark::DEFAULT_ROUNDS,
        }
    }

    /// Checks that `task` is one the protocol runs on (before any model is loaded).
    pub fn check_task(self, task: &Task) -> Result<()> {
        match self {
            ProtocolName::R2l => r2l::absa_labels(task).map(|_| ()),
            ProtocolName::Debate | ProtocolName::AgentArk => {
                reasoning::reasoning_kind(task, self.name()).map(|_| ())
            }
        }
    }
}

/// The settings of every protocol; a run reads its own protocol's. The default is each
/// protocol's default.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProtocolSettings {
    /// R2L's.
    pub r2l: r2l::R2lSettings,
    /// Debate & Reflect's.
    pub debate: debate::DebateSettings,
    /// AgentArk's.
    pub agentark: agentark::AgentArkSettings,
}

/// A protocol ready to run.
pub enum Protocol {
    /// R2L.
    R2l(r2l::R2l),
    /// Debate & Reflect.
    Debate(debate::Debate),
    /// AgentArk.
    AgentArk(agentark::AgentArk),
}

/// A protocol's figures for `stats.json`, and per agent the repair turns asked and the answers
/// abstained (reported under `failures`).
pub struct Figures {
    /// The protocol's own figures (flattened into `stats.json`).
    pub value: Value,
    /// Per agent: (repair turns, abstentions).
    pub parse_failures: BTreeMap<String, (u64, u64)>,
}

impl Protocol {
    /// Checks the task and the agents the protocol needs.
    pub fn new(
        name: ProtocolName,
        task: &Task,
        team: &Team,
        settings: &ProtocolSettings,
    ) -> Result<Protocol> {
        Ok(match name {
            ProtocolName::R2l => Protocol::R2l(r2l::R2l::new(task, team, settings.r2l)?),
            ProtocolName::Debate => {
                Protocol::Debate(debate::Debate::new(task, team, settings.debate)?)
            }
            ProtocolName::AgentArk => {
                Protocol::AgentArk(agentark::AgentArk::new(task, team, settings.agentark)?)
            }
        })
    }

    /// The phases shown as progress bars.
    pub fn phases(&self) -> &'static [&'static str] {
        match self {
            Protocol::R2l(_) => &r2l::PHASES,
            Protocol::Debate(_) => &debate::PHASES,
            Protocol::AgentArk(_) => &agentark::PHASES,
        }
    }

    /// The settings a resumed run must share with the directory's run (`distill.json`).
    pub fn settings(&self) -> Map<String, Value> {
        match self {
            Protocol::R2l(p) => p.settings(),
            Protocol::Debate(p) => p.settings(),
            Protocol::AgentArk(p) => p.settings(),
        }
    }

    /// Runs the protocol on one sample and builds its records.
    pub async fn run_sample(
        &self,
        caller: &Caller,
        sample: &Sample,
        progress: &Progress,
    ) -> std::result::Result<Finished, Halt> {
        match self {
            Protocol::R2l(p) => p.run_sample(caller, sample, progress).await,
            Protocol::Debate(p) => p.run_sample(caller, sample, progress).await,
            Protocol::AgentArk(p) => p.run_sample(caller, sample, progress).await,
        }
    }

    /// The run's figures, recomputed from the transcripts on disk (`path` names the file in
    /// errors), so a resumed run reports the same as one that ran through.
    pub fn figures(
        &self,
        transcripts: Vec<Value>,
        path: &Path,
        bootstrap: Option<&BootstrapConfig>,
    ) -> Result<Figures> {
        match self {
            Protocol::R2l(p) => p.figures(parse_transcripts(transcripts, path)?, bootstrap),
            Protocol::Debate(p) => Ok(p.figures(&parse_transcripts(transcripts, path)?)),
            Protocol::AgentArk(p) => Ok(p.figures(&parse_transcripts(transcripts, path)?)),
        }
    }
}

/// Transcripts read back as the protocol's own type; a line that is not one names file and line.
fn parse_transcripts<T: serde::de::DeserializeOwned>(
    values: Vec<Value>,
    path: &Path,
) -> Result<Vec<T>> {
    values
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            serde_json::from_value(value).map_err(|e| Error::Malformed {
                path: path.to_path_buf(),
                line: index + 1,
                message: format!("not a transcript of this run's protocol: {e}"),
            })
        })
        .collect()
}

/// The task's own prompt for `sample` with the agent's persona put before the task's system
/// message: what an agent answers first in every protocol.
pub fn task_prompt(task: &Task, sample: &Sample, agent: &Agent) -> Vec<Message> {
    let mut conversation = messages(task, sample, &[]);
    match conversation.first_mut() {
        Some(first) if first.role == Role::System => {
            first.content = format!("{}\n\n{}", agent.system_prompt, first.content);
        }
        _ => conversation.insert(0, Message::system(agent.system_prompt.clone())),
    }
    conversation
}

/// The task's own user turn for `sample` (the question as the student sees it).
pub fn task_question(task: &Task, sample: &Sample) -> String {
    messages(task, sample, &[])
        .into_iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content)
        .unwrap_or_default()
}
