//! `train_log.jsonl`: one JSON line per optimizer step (step, loss, learning rate, gradient
//! norm, tokens/s; DPO adds rewards, margin and accuracy).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{io_error, Result};

/// The log file's name inside the output directory.
pub const TRAIN_LOG_FILE: &str = "train_log.jsonl";

/// An open training log.
#[derive(Debug)]
pub struct TrainLog {
    path: PathBuf,
    file: File,
}

impl TrainLog {
    /// Opens `path` keeping only its lines of steps `1..=through` (a resumed run rewrites what
    /// came after its resume point, so the log reads as one uninterrupted run).
    pub fn open(path: &Path, through: usize) -> Result<TrainLog> {
        let kept: Vec<String> = match std::fs::read_to_string(path) {
            Ok(text) => text
                .lines()
                .filter(|line| {
                    serde_json::from_str::<Value>(line)
                        .ok()
                        .and_then(|v| v.get("step").and_then(Value::as_u64))
                        .is_some_and(|s| s as usize <= through)
                })
                .map(str::to_string)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_error(path)(e)),
        };
        let mut file = File::create(path).map_err(io_error(path))?;
        for line in kept {
            writeln!(file, "{line}").map_err(io_error(path))?;
        }
        Ok(TrainLog {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends one line and flushes it.
    pub fn append(&mut self, line: &Value) -> Result<()> {
        writeln!(self.file, "{line}").map_err(io_error(&self.path))?;
        self.file.flush().map_err(io_error(&self.path))
    }
}
