//! The one way r2l talks to a model: over HTTP, in-process, or from a script.

use async_trait::async_trait;

use crate::error::ChatError;
use crate::wire::{ChatRequest, ChatResponse, CompletionRequest, CompletionResponse};

/// Anything that answers chat-completion requests.
#[async_trait]
pub trait ChatClient: Send + Sync {
    /// Answers one request (non-streaming).
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ChatError>;

    /// Answers one legacy text completion (`/v1/completions`: log-likelihood scoring sends the
    /// prompts with `echo`, `max_tokens: 0` and `logprobs`). A client without them says so.
    async fn complete(&self, request: &CompletionRequest) -> Result<CompletionResponse, ChatError> {
        let _ = request;
        Err(ChatError::InvalidRequest(format!(
            "{} serves no text completions",
            self.describe()
        )))
    }

    /// A short description for logs and run manifests (e.g. the endpoint URL).
    fn describe(&self) -> String;
}
