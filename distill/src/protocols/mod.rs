//! Distillation protocols, one module each, each with its own settings and transcript type.
//! A protocol is one [`Protocol`] implementation plus one line in [`PROTOCOLS`], the registry:
//! an unknown name fails and lists the valid ones.
//!
//! - `r2l`: R2L (LREC 2026) on ABSA tasks.
//! - `debate`: Debate & Reflect with T-DPO pairs (ACL Findings 2025) on reasoning tasks.
//! - `agentark`: AgentArk's debate, aggregation and solution labelling (2026) on reasoning tasks.

pub mod agentark;
pub mod debate;
pub mod r2l;
pub mod reasoning;
pub mod team_answer;

use std::collections::BTreeMap;
use std::path::Path;

use chat::{Message, Role};
use futures::future::BoxFuture;
use harness::data::Sample;
use harness::metrics::BootstrapConfig;
use harness::task::{messages, with_system_prefix, Task};
use serde_json::{Map, Value};

use crate::agents::{Agent, Team};
use crate::call::{Caller, Halt};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::store::Finished;

/// What the registry knows of a protocol before any model is loaded.
#[derive(Debug)]
pub struct ProtocolEntry {
    /// Its name (`r2l distill NAME`, `protocol` in `distill.json` and `stats.json`).
    pub name: &'static str,
    /// One line: the paper and the tasks it runs on.
    pub summary: &'static str,
    /// Checks that a task is one the protocol runs on (an error says which tasks fit).
    pub check_task: fn(&Task) -> Result<()>,
    /// The phases shown as progress bars, in order.
    pub phases: &'static [&'static str],
    /// The agents file used when the user gives none: its name in messages and its text.
    pub default_agents: (&'static str, &'static str),
}

/// Every protocol r2l runs (the registry).
pub static PROTOCOLS: [&ProtocolEntry; 3] = [&r2l::ENTRY, &debate::ENTRY, &agentark::ENTRY];

/// The registry entry named `name`; an unknown name fails and lists the valid ones.
pub fn find_protocol(name: &str) -> Result<&'static ProtocolEntry> {
    PROTOCOLS
        .iter()
        .copied()
        .find(|entry| entry.name == name)
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "unknown protocol `{name}`; valid: {}",
                protocol_names().join(", ")
            ))
        })
}

/// Every protocol's name, in registry order.
pub fn protocol_names() -> Vec<&'static str> {
    PROTOCOLS.iter().map(|entry| entry.name).collect()
}

/// A protocol's settings as the user chose them: they name their protocol and build it for a
/// task and a team.
pub trait ProtocolSettings: std::fmt::Debug + Send + Sync {
    /// The protocol's registry entry.
    fn entry(&self) -> &'static ProtocolEntry;

    /// Checks the task and the agents the protocol needs, and builds it.
    fn build(&self, task: &Task, team: &Team) -> Result<Box<dyn Protocol>>;
}

/// A protocol set up for one run (task, team and settings checked): `distill::distill` runs it
/// on every selected sample.
pub trait Protocol: Send + Sync {
    /// Its registry entry.
    fn entry(&self) -> &'static ProtocolEntry;

    /// The settings a resumed run must share with the directory's run (written into
    /// `distill.json`, each key beside the run's common fields).
    fn settings(&self) -> Map<String, Value>;

    /// Runs the protocol on one sample and builds its records.
    fn run_sample<'a>(
        &'a self,
        caller: &'a Caller,
        sample: &'a Sample,
        progress: &'a Progress,
    ) -> BoxFuture<'a, std::result::Result<Finished, Halt>>;

    /// The run's figures, recomputed from the transcripts on disk (`path` names the file in
    /// errors), so a resumed run reports the same as one that ran through.
    fn figures(
        &self,
        transcripts: Vec<Value>,
        path: &Path,
        bootstrap: Option<&BootstrapConfig>,
    ) -> Result<Figures>;

    /// The team's final answer to every finished question, as `predictions.jsonl` lines
    /// (`{"id", "output"}`, what `r2l score --predictions` reads), rebuilt from the transcripts
    /// on disk (`path` names the file in errors); None for a protocol whose team gives no
    /// final answer (no file is written).
    fn predictions(&self, transcripts: &[Value], path: &Path) -> Result<Option<Vec<Value>>> {
        let _ = (transcripts, path);
        Ok(None)
    }
}

/// A protocol's figures for `stats.json`, and per agent the repair turns asked and the answers
/// abstained (reported under `failures`).
pub struct Figures {
    /// The protocol's own figures (flattened into `stats.json`).
    pub value: Value,
    /// Per agent: (repair turns, abstentions).
    pub parse_failures: BTreeMap<String, (u64, u64)>,
}

/// Transcripts read back as the protocol's own type; a line that is not one names file and line.
pub fn parse_transcripts<T: serde::de::DeserializeOwned>(
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
/// message (`harness::task::with_system_prefix`): what an agent answers first in every
/// protocol, and what `r2l eval --agent` sends, so an agent evaluated as a model reads the
/// prompt it answers in distillation.
pub fn task_prompt(task: &Task, sample: &Sample, agent: &Agent) -> Vec<Message> {
    with_system_prefix(messages(task, sample, &[]), &agent.system_prompt)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_protocol_lists_the_valid_names() {
        let error = find_protocol("debat").err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("invalid input: unknown protocol `debat`; valid: r2l, debate, agentark")
        );
        for name in protocol_names() {
            assert_eq!(find_protocol(name).map(|e| e.name).ok(), Some(name));
        }
    }
}
