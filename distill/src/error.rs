//! The distill crate's one error type: every variant says what was wrong and where.

use std::path::PathBuf;

/// Errors raised by distill: bad agent files, unusable output directories, failed writes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad `agents.toml`: names the file, the agent (when known) and the key.
    #[error("{file}: {}key `{key}`: {message}", .agent.as_ref().map(|a| format!("agent `{a}`: ")).unwrap_or_default())]
    Agents {
        /// The agents file.
        file: String,
        /// The agent's id (or `agents[i]` when it has none).
        agent: Option<String>,
        /// The key at fault.
        key: String,
        /// What is wrong, and what would be valid.
        message: String,
    },
    /// A harness error (dataset, task).
    #[error(transparent)]
    Harness(#[from] harness::Error),
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line of an output file that cannot be read back (the file was edited by hand?).
    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The output directory holds a run with other settings.
    #[error("{}: holds a distill run with {field} = {found}, this run has {wanted}; use another --out, or remove the directory to start over", dir.display())]
    OtherRun {
        /// The output directory.
        dir: PathBuf,
        /// The setting that differs.
        field: String,
        /// Its value in the directory.
        found: String,
        /// Its value in this run.
        wanted: String,
    },
    /// Arguments that do not fit together (e.g. the r2l protocol on a reasoning task).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A run that cannot go on (e.g. the answer cache cannot be written).
    #[error("{0}")]
    Fatal(String),
    /// A checkpoint directory that cannot be read or written.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::Error),
    /// A tensor computation of the trainer failed.
    #[error("tensor computation: {0}")]
    Candle(#[from] candle_core::Error),
    /// A bad record in a training file (`line` 0: the file as a whole).
    #[error("{}:{line}: {message}", path.display())]
    TrainData {
        /// The training file.
        path: PathBuf,
        /// 1-based line (0 when the whole file is at fault).
        line: usize,
        /// What is wrong, and what to do.
        message: String,
    },
    /// A resume point that cannot be used.
    #[error("{}: resume point: {message}", dir.display())]
    Resume {
        /// The output directory.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `--resume` with settings other than those the run started with.
    #[error("{}: the run was started with {field} = {found}, this command has {wanted}; resume with the same settings, or choose another --out", dir.display())]
    ResumeMismatch {
        /// The output directory.
        dir: PathBuf,
        /// The setting that differs.
        field: String,
        /// Its value in the saved run.
        found: String,
        /// Its value now.
        wanted: String,
    },
}

/// The distill crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an I/O error with its path.
pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
