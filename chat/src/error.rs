//! The chat crate's one error type: every variant names the URL and what went wrong.

use std::time::Duration;

/// Why a chat request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChatError {
    /// The endpoint answered with an error status.
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        /// The request URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body (at most 500 bytes).
        body: String,
        /// The server's `Retry-After`, if it gave one.
        retry_after: Option<Duration>,
    },
    /// No connection could be made, or it broke before a full answer.
    #[error("{url}: connection failed: {message}")]
    Connect {
        /// The request URL.
        url: String,
        /// The transport's message.
        message: String,
    },
    /// No answer within the per-request timeout.
    #[error("{url}: no answer within {timeout:?}")]
    Timeout {
        /// The request URL.
        url: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The answer was not a chat completion.
    #[error("{url}: the answer is not a chat completion: {message}")]
    Decode {
        /// The request URL.
        url: String,
        /// What did not parse.
        message: String,
    },
    /// Retries were exhausted; the last error is kept.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's error.
        last: Box<ChatError>,
    },
    /// Every endpoint of a pool was taken out of rotation.
    #[error("no endpoint left in rotation: {0}")]
    NoEndpoint(String),
    /// The request itself is invalid (caught before sending).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// An in-process engine failed.
    #[error("engine error: {0}")]
    Engine(String),
    /// The answer cache could not be written.
    #[error("answer cache {path}: {message}")]
    Cache {
        /// The cache entry.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl ChatError {
    /// Whether trying again may help: connection errors, timeouts, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            ChatError::Status { status, .. } => *status == 429 || *status >= 500,
            ChatError::Connect { .. } | ChatError::Timeout { .. } => true,
            ChatError::Decode { .. } => true,
            _ => false,
        }
    }
}
