//! Running evaluations: the runner and the run logs it writes (answers are cached by
//! `chat::CachedClient`, shared with distill).

mod eval;
mod run_log;
mod scored;

use std::path::Path;

use crate::error::{Error, Result};

pub use eval::{default_runs_dir, evaluate, run_dir, EvalOptions};
pub use run_log::{
    git_revision, path_safe, AgentRef, DatasetRef, ModelRef, RunDiagnostics, RunLog, RunManifest,
    SampleLine, TaskRef, MANIFEST_FILE, SAMPLES_FILE,
};
pub use scored::{write_scored_run, ScoredRunOptions};

/// Writes a file atomically (`chat::write_atomically`), naming it in the error.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    chat::write_atomically(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
