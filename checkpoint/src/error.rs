//! The checkpoint crate's one error type: every variant names the file (and the field) at fault.

use std::path::PathBuf;

/// Errors reading, writing or converting a checkpoint directory.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file that does not parse, or a field of the wrong shape.
    #[error("{}: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong (with the JSON path of the field when known).
        message: String,
    },
    /// A config field whose value this project cannot use.
    #[error("{}: field `{field}`: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// The field at fault.
        field: String,
        /// What is wrong, and what would be valid.
        message: String,
    },
    /// A checkpoint directory without a file it needs.
    #[error("{}: checkpoint directory has no {file}", dir.display())]
    Missing {
        /// The directory.
        dir: PathBuf,
        /// The file it lacks.
        file: String,
    },
    /// Weights that cannot be read, written, or do not fit the config.
    #[error("{}: {message}", path.display())]
    Weights {
        /// The weights file (or directory).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A tokenizer that cannot be loaded or used.
    #[error("{}: tokenizer: {message}", path.display())]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A chat template that does not compile or fails to render.
    #[error("{}: chat template: {message}", path.display())]
    Template {
        /// The file holding the template.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A GGUF → checkpoint conversion failed.
    #[error("converting {}: {message}", path.display())]
    Convert {
        /// The GGUF file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// The checkpoint crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an I/O error with its path.
pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
