//! The serve crate's one error type (HTTP-facing errors are `ApiError`, in the API module).

use std::path::PathBuf;

/// Errors of model loading and configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model file or directory is unusable.
    #[error("{}: {message}", path.display())]
    Model {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong, and what to do.
        message: String,
    },
    /// A checkpoint directory that cannot be read.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::Error),
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A bad configuration value (models.toml, flags).
    #[error("{file}: field `{field}`: {message}")]
    Config {
        /// The configuration file (or `--flag`).
        file: String,
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The prompt leaves no room to generate within the model's context.
    #[error("the prompt takes {prompt_tokens} tokens; the model's context is {context} tokens")]
    PromptTooLong {
        /// Tokens in the rendered prompt.
        prompt_tokens: usize,
        /// The model's context length.
        context: usize,
    },
    /// A request field out of range (a client's error: 400 naming the field).
    #[error("`{field}`: {message}")]
    InvalidField {
        /// The request field.
        field: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// The inference engine failed.
    #[error("engine: {0}")]
    Engine(String),
}

/// The serve crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
