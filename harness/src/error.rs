//! The harness's one error type: every variant says what was wrong and where.

use std::path::PathBuf;

/// Errors raised by the harness: bad input files, unknown names, undefined metrics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A record in a data or predictions file is malformed.
    #[error("{}:{line}: field `{field}`: {message}", path.display())]
    Malformed {
        /// The file that holds the record.
        path: PathBuf,
        /// 1-based physical line where the record starts.
        line: usize,
        /// The field (column or JSON key) that is wrong.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A whole file is unusable (missing, unreadable, wrong shape).
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, and what to do.
        message: String,
    },
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A name (dataset, task, split, level, metric) that is not in its registry.
    #[error("unknown {kind} `{name}`; valid: {valid}")]
    Unknown {
        /// What kind of name it is (e.g. "dataset").
        kind: &'static str,
        /// The name given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// A metric has no value on this input (e.g. alpha with a single distinct value).
    #[error("{metric} is undefined: {reason}")]
    Undefined {
        /// The metric's name.
        metric: String,
        /// Why it has no value.
        reason: String,
    },
    /// A task specification that does not validate.
    #[error("{file}: field `{field}`: {message}")]
    TaskSpec {
        /// The task file (or `built-in:<name>`).
        file: String,
        /// The field at fault.
        field: String,
        /// What is wrong, and what would be valid.
        message: String,
    },
    /// Predictions for ids the dataset does not have.
    #[error("{count} prediction id(s) are not in the dataset, e.g. {}", first.join(", "))]
    UnknownIds {
        /// How many unknown ids there are.
        count: usize,
        /// The first few of them, in file order.
        first: Vec<String>,
    },
    /// An evaluation stopped by Ctrl-C; finished samples are cached.
    #[error("interrupted after {completed} of {total} samples; run the same command again to resume (answers are cached; partial log in {})", dir.display())]
    Interrupted {
        /// Samples finished.
        completed: usize,
        /// Samples planned.
        total: usize,
        /// The run directory.
        dir: PathBuf,
    },
    /// Arguments that do not fit together (e.g. runs of different lengths).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An error from polars that could not be traced to a line.
    #[error("{}: {message}", path.display())]
    Polars {
        /// The file (or frame) polars was working on.
        path: PathBuf,
        /// polars' message.
        message: String,
    },
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
