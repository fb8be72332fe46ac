//! Running evaluations: the answer cache, the runner, and the run logs it writes.

mod cache;
mod eval;
mod run_log;

pub use cache::{write_atomically, RequestCache};
pub use eval::{default_runs_dir, evaluate, EvalOptions};
pub use run_log::{
    git_revision, path_safe, DatasetRef, ModelRef, RunDiagnostics, RunLog, RunManifest, SampleLine,
    TaskRef, MANIFEST_FILE, SAMPLES_FILE,
};
