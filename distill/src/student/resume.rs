//! The resume point of a run: the step reached, the trained tensors, the optimizer moments and
//! the settings they were computed with, written to `out/resume/` (atomically: a complete
//! directory replaces the previous one).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::optimizer::AdamW;
use super::tensor::{modify, view};
use crate::error::{io_error, Error, Result};

/// The resume directory inside the output directory.
pub const RESUME_DIR: &str = "resume";
const STATE_FILE: &str = "state.json";
const TRAINED_FILE: &str = "trained.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumeState {
    /// Optimizer steps done.
    pub step: usize,
    /// The settings (and data and base hashes) of the run.
    pub fingerprint: Value,
    /// Threads the run used (results are bit-reproducible for a given thread count).
    pub threads: usize,
    /// Loss of the last step.
    pub last_loss: Option<f64>,
    /// Tokens processed so far.
    pub tokens: u64,
    /// Seconds of training so far.
    pub elapsed_s: f64,
}

fn candle(path: &Path) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| Error::Resume {
        dir: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Writes the resume point of `out`.
pub fn save(
    out: &Path,
    state: &ResumeState,
    trained: &[(String, Tensor)],
    optimizer: &AdamW,
) -> Result<()> {
    let dir = out.join(RESUME_DIR);
    let partial = out.join(format!("{RESUME_DIR}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(io_error(&partial))?;
    let tensors: HashMap<String, Tensor> = trained.iter().cloned().collect();
    checkpoint::save_tensors(&partial.join(TRAINED_FILE), &tensors)?;
    let moments: HashMap<String, Tensor> = optimizer
        .state_tensors(trained)
        .map_err(candle(&partial))?
        .into_iter()
        .collect();
    checkpoint::save_tensors(&partial.join(OPTIMIZER_FILE), &moments)?;
    let value = serde_json::to_value(state).map_err(|e| Error::Fatal(e.to_string()))?;
    checkpoint::write_json(&partial.join(STATE_FILE), &value)?;
    let old: PathBuf = out.join(format!("{RESUME_DIR}.old"));
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(&dir, &old).map_err(io_error(&dir))?;
    }
    std::fs::rename(&partial, &dir).map_err(io_error(&dir))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Whether `out` holds a resume point.
pub fn exists(out: &Path) -> bool {
    out.join(RESUME_DIR).join(STATE_FILE).is_file()
}

/// Reads the resume point of `out`, checks it was made with `fingerprint`, and restores the
/// trained tensors (in place) and the optimizer. Returns the state.
pub fn restore(
    out: &Path,
    fingerprint: &Value,
    trained: &[(String, Tensor)],
    optimizer: &mut AdamW,
) -> Result<ResumeState> {
    let dir = out.join(RESUME_DIR);
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
    let state: ResumeState = serde_json::from_str(&text).map_err(|e| Error::Resume {
        dir: dir.clone(),
        message: format!("{STATE_FILE}: {e}"),
    })?;
    check_fingerprint(out, &state.fingerprint, fingerprint)?;
    let saved = checkpoint::load_tensors(&dir.join(TRAINED_FILE))?;
    for (name, tensor) in trained {
        let value = saved.get(name).ok_or_else(|| Error::Resume {
            dir: dir.clone(),
            message: format!("{TRAINED_FILE} has no tensor `{name}`"),
        })?;
        if value.dims() != tensor.dims() {
            return Err(Error::Resume {
                dir: dir.clone(),
                message: format!(
                    "tensor `{name}` has shape {:?}, the model {:?}",
                    value.dims(),
                    tensor.dims()
                ),
            });
        }
        let value = value.contiguous().map_err(candle(&dir))?;
        let source = view(&value).map_err(candle(&dir))?;
        modify(tensor, |d| d.copy_from_slice(source.slice())).map_err(candle(&dir))?;
    }
    let moments = checkpoint::load_tensors(&dir.join(OPTIMIZER_FILE))?;
    optimizer
        .restore(trained, &moments, state.step as u64)
        .map_err(candle(&dir))?;
    Ok(state)
}

/// The first setting that differs between the saved run and this one.
fn check_fingerprint(out: &Path, found: &Value, wanted: &Value) -> Result<()> {
    let (Some(found), Some(wanted)) = (found.as_object(), wanted.as_object()) else {
        return Err(Error::Resume {
            dir: out.to_path_buf(),
            message: "the saved settings are not a JSON object".to_string(),
        });
    };
    for (field, value) in wanted {
        let saved = found.get(field).unwrap_or(&Value::Null);
        if saved != value {
            return Err(Error::ResumeMismatch {
                dir: out.to_path_buf(),
                field: field.clone(),
                found: saved.to_string(),
                wanted: value.to_string(),
            });
        }
    }
    Ok(())
}

/// Removes the resume point (after a completed export).
pub fn remove(out: &Path) -> Result<()> {
    let dir = out.join(RESUME_DIR);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io_error(&dir))?;
    }
    Ok(())
}
