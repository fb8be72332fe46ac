//! Which agents of the agents file take part in an R2L run: some of its teachers
//! (`--teachers`) and its meta-agent or not (`--no-meta`), for the ablations that distil from
//! fewer agents (single-agent distillation: one teacher, no meta-agent).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::agents::{Agent, AgentsFile, Role, Team};
use crate::error::{Error, Result};

/// The teachers (in file order) and the meta-agent taking part in a run.
type TakingPart = (Vec<Arc<Agent>>, Option<Arc<Agent>>);

/// The agents of the file that take part in an R2L run. The default is the whole team.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Participants {
    /// The teachers that take part, by id (None: every teacher of the file). They are asked
    /// in file order whatever the order given, so `b,a` is the same run as `a,b`.
    pub teachers: Option<Vec<String>>,
    /// Leave the meta-agent out: aggregation is then by the teachers' votes (`majority`
    /// unless `--consensus weighted`), which with one teacher is that teacher's labels.
    pub without_meta: bool,
}

impl Participants {
    /// Checks the teacher ids against the file's teachers, before any model loads: an unknown
    /// or repeated id, or an empty selection, fails and lists the file's teachers.
    pub fn check(&self, file: &AgentsFile) -> Result<()> {
        let teachers: Vec<&str> = file
            .with_role(Role::Teacher)
            .map(|a| a.id.as_str())
            .collect();
        self.check_against(&teachers, &file.source)
    }

    fn check_against(&self, teachers: &[&str], source: &str) -> Result<()> {
        let Some(selected) = &self.teachers else {
            return Ok(());
        };
        let listed = || format!("the teachers of {source}: {}", teachers.join(", "));
        if selected.is_empty() {
            return Err(Error::InvalidInput(format!(
                "--teachers names no teacher; {}",
                listed()
            )));
        }
        for (index, id) in selected.iter().enumerate() {
            if !teachers.contains(&id.as_str()) {
                return Err(Error::InvalidInput(format!(
                    "--teachers: `{id}` is not a teacher; {}",
                    listed()
                )));
            }
            if selected[..index].contains(id) {
                return Err(Error::InvalidInput(format!(
                    "--teachers: `{id}` is named twice; {}",
                    listed()
                )));
            }
        }
        Ok(())
    }

    /// The teachers (in file order) and the meta-agent of `team` that take part.
    pub(super) fn pick(&self, team: &Team) -> Result<TakingPart> {
        let ids: Vec<&str> = team.teachers.iter().map(|t| t.id()).collect();
        self.check_against(&ids, &team.source)?;
        let teachers = team
            .teachers
            .iter()
            .filter(|teacher| {
                self.teachers
                    .as_ref()
                    .is_none_or(|selected| selected.iter().any(|id| id == teacher.id()))
            })
            .cloned()
            .collect();
        let meta = team.meta.clone().filter(|_| !self.without_meta);
        Ok((teachers, meta))
    }

    /// The selection as `distill.json` records it, so a run resumed with another selection is
    /// refused: `teachers` (the taking part, in file order) when a selection was given and
    /// `meta: false` when the meta-agent is left out; nothing for the whole team, so runs
    /// written before these flags resume as before.
    pub(super) fn record(&self, taking_part: &[Arc<Agent>], settings: &mut Map<String, Value>) {
        if self.teachers.is_some() {
            let ids: Vec<Value> = taking_part.iter().map(|t| t.id().into()).collect();
            settings.insert("teachers".to_string(), Value::Array(ids));
        }
        if self.without_meta {
            settings.insert("meta".to_string(), false.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::{parse_agents, DEFAULT_AGENTS_TOML};

    fn built_in() -> AgentsFile {
        parse_agents(
            DEFAULT_AGENTS_TOML,
            "built-in:agents.toml",
            std::path::Path::new("."),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn error_of(teachers: &[&str]) -> String {
        let participants = Participants {
            teachers: Some(teachers.iter().map(|t| t.to_string()).collect()),
            without_meta: false,
        };
        participants
            .check(&built_in())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn unknown_repeated_or_no_teachers_fail_and_list_the_teachers() {
        assert_eq!(
            error_of(&["strict", "meta"]),
            "invalid input: --teachers: `meta` is not a teacher; the teachers of built-in:agents.toml: strict, thorough, intuitive"
        );
        assert!(error_of(&["strict", "strict"]).contains("`strict` is named twice"));
        assert!(error_of(&[]).contains("names no teacher"));
        assert_eq!(error_of(&["intuitive", "strict"]), "");
        assert!(Participants::default().check(&built_in()).is_ok());
    }
}
