//! The one way r2l talks to a model: over HTTP, in-process, or from a script.

use async_trait::async_trait;

use crate::error::ChatError;
use crate::wire::{ChatRequest, ChatResponse};

/// Anything that answers chat-completion requests.
#[async_trait]
pub trait ChatClient: Send + Sync {
    /// Answers one request (non-streaming).
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ChatError>;

    /// A short description for logs and run manifests (e.g. the endpoint URL).
    fn describe(&self) -> String;
}
