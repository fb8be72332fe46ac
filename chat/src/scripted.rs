//! `ScriptedClient`: answers from a function, standing in for a remote teacher in tests.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::client::ChatClient;
use crate::error::ChatError;
use crate::wire::{ChatChoice, ChatRequest, ChatResponse, Message, Usage};

type Script = dyn Fn(&ChatRequest) -> Result<String, ChatError> + Send + Sync;

/// A client whose replies come from a script (a function of the request).
pub struct ScriptedClient {
    name: String,
    script: Box<Script>,
    calls: AtomicU64,
}

impl ScriptedClient {
    /// A client named `name` answering with `script`.
    pub fn new(
        name: impl Into<String>,
        script: impl Fn(&ChatRequest) -> Result<String, ChatError> + Send + Sync + 'static,
    ) -> ScriptedClient {
        ScriptedClient {
            name: name.into(),
            script: Box::new(script),
            calls: AtomicU64::new(0),
        }
    }

    /// How many requests it has answered or failed.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// Builds a chat response for `text` with whitespace-word token counts.
pub fn response_for(request: &ChatRequest, text: String, id: String) -> ChatResponse {
    let prompt_tokens: u64 = request
        .messages
        .iter()
        .map(|m| m.content.split_whitespace().count() as u64)
        .sum();
    let completion_tokens = text.split_whitespace().count() as u64;
    ChatResponse {
        id,
        object: "chat.completion".to_string(),
        created: 0,
        model: request.model.clone(),
        choices: vec![ChatChoice {
            index: 0,
            message: Message::assistant(text),
            finish_reason: Some("stop".to_string()),
            logprobs: None,
        }],
        usage: Some(Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }),
    }
}

#[async_trait]
impl ChatClient for ScriptedClient {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ChatError> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let text = (self.script)(request)?;
        Ok(response_for(request, text, format!("scripted-{call}")))
    }

    fn describe(&self) -> String {
        format!("scripted:{}", self.name)
    }
}
