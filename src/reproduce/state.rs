//! `reproduce.json`: every step with the sha256 of its inputs, its outputs and its wall time, so
//! a re-run skips the steps whose inputs did not change and redoes the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The state file in the output directory.
pub const STATE_FILE: &str = "reproduce.json";

/// One finished step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// sha256 of the step's inputs (its configuration and its upstream outputs' hashes).
    pub inputs_sha256: String,
    /// Wall time of the run that finished it, in seconds.
    pub wall_seconds: f64,
    /// What it produced (paths relative to the output directory, hashes, figures).
    pub outputs: Value,
}

/// The state of a reproduction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReproduceState {
    /// Finished steps by name.
    pub steps: BTreeMap<String, StepRecord>,
    /// The inputs hash each step was last started with: a step started again with other inputs
    /// clears what the earlier attempt left (instead of resuming it).
    #[serde(default)]
    pub started: BTreeMap<String, String>,
}

impl ReproduceState {
    /// Reads the state of `out` (empty when there is none yet).
    pub fn load(out: &Path) -> Result<ReproduceState> {
        let path = out.join(STATE_FILE);
        if !path.is_file() {
            return Ok(ReproduceState::default());
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a reproduce state file (delete it to start over)",
                path.display()
            )
        })
    }

    /// Writes the state atomically.
    pub fn save(&self, out: &Path) -> Result<()> {
        let body = serde_json::to_vec_pretty(self)?;
        chat::write_atomically(&out.join(STATE_FILE), &body)?;
        Ok(())
    }

    /// Whether `step` is starting over: an earlier attempt ran with other inputs.
    pub fn starts_over(&self, step: &str, inputs_sha256: &str) -> bool {
        self.started
            .get(step)
            .is_some_and(|started| started != inputs_sha256)
    }

    /// The served id under which a finished evaluation served these weights with this in-situ
    /// quantization (e.g. the base, when a student's training had no records and handed it on).
    pub fn served_id_of(&self, weights_sha256: &str, isq: &str) -> Option<String> {
        self.steps.values().find_map(|record| {
            let outputs = &record.outputs;
            (outputs["weights_sha256"] == weights_sha256 && outputs["isq"] == isq)
                .then(|| outputs["model"].as_str().map(str::to_string))
                .flatten()
        })
    }

    /// The record of `step` when it finished with exactly these inputs.
    pub fn finished(&self, step: &str, inputs_sha256: &str) -> Option<&StepRecord> {
        self.steps
            .get(step)
            .filter(|record| record.inputs_sha256 == inputs_sha256)
    }
}

/// sha256 of a JSON value's canonical text (object keys sorted by serde_json's map).
pub fn inputs_sha256(inputs: &Value) -> String {
    harness::data::sha256_hex(inputs.to_string().as_bytes())
}

/// A path relative to `out` for the state file (absolute when outside it).
pub fn relative(out: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(out)
        .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_counts_as_finished_only_with_the_same_inputs() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut state = ReproduceState::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let inputs = inputs_sha256(&serde_json::json!({"task": "uit-visfd", "limit": 4}));
        state.steps.insert(
            "baselines".to_string(),
            StepRecord {
                inputs_sha256: inputs.clone(),
                wall_seconds: 1.5,
                outputs: serde_json::json!({}),
            },
        );
        state.save(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let again = ReproduceState::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(again.finished("baselines", &inputs).is_some());
        let other = inputs_sha256(&serde_json::json!({"task": "uit-visfd", "limit": 5}));
        assert!(again.finished("baselines", &other).is_none());
    }

    #[test]
    fn weights_served_before_with_the_same_quantization_keep_their_served_id() {
        let mut state = ReproduceState::default();
        state.steps.insert(
            "eval-base".to_string(),
            StepRecord {
                inputs_sha256: String::new(),
                wall_seconds: 1.0,
                outputs: serde_json::json!({"model": "base-abc", "weights_sha256": "abc", "isq": "q8_0"}),
            },
        );
        assert_eq!(
            state.served_id_of("abc", "q8_0").as_deref(),
            Some("base-abc")
        );
        assert_eq!(state.served_id_of("abc", "q4k"), None);
        assert_eq!(state.served_id_of("abd", "q8_0"), None);
    }
}
