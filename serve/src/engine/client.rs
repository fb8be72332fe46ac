//! The engine as a [`chat::ChatClient`], so the harness and distill use a model in-process
//! through the same trait as a remote endpoint.

use async_trait::async_trait;
use chat::{
    ChatChoice, ChatClient, ChatError, ChatRequest, ChatResponse, CompletionRequest,
    CompletionResponse, Message, ResponseFormat,
};

use super::engine::{Engine, Event, GenerationRequest, Prompt};
use super::logprobs::Chosen;
use super::sampling::Sampling;
use super::scoring::ScoringClient;
use super::served_model::ServedModel;
use crate::error::Error;

/// The JSON schema a `response_format` asks for (`json_object` = any object), if any.
pub fn json_schema_of(format: Option<&ResponseFormat>) -> Option<serde_json::Value> {
    match format {
        Some(ResponseFormat::JsonObject) => Some(serde_json::json!({"type": "object"})),
        Some(ResponseFormat::JsonSchema { json_schema }) => Some(json_schema.schema.clone()),
        Some(ResponseFormat::Text) | None => None,
    }
}

/// A whole generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    /// The answer.
    pub text: String,
    /// The OpenAI finish reason.
    pub reason: String,
    /// Token counts.
    pub usage: chat::Usage,
    /// The tokens chosen, with log-probabilities, when the request asked for them (may run past
    /// `text`: the end-of-sequence token, a stop string's tokens).
    pub chosen: Vec<Chosen>,
}

/// Collects a whole generation.
pub async fn collect(
    engine: &dyn ServedModel,
    request: GenerationRequest,
    prompt_tokens: usize,
) -> Result<Collected, String> {
    let mut generation = engine
        .generate(request, prompt_tokens)
        .await
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    while let Some(event) = generation.next().await {
        match event? {
            Event::Text(piece) => text.push_str(&piece),
            Event::Finished { reason, usage } => {
                return Ok(Collected {
                    text,
                    reason,
                    usage,
                    chosen: generation.chosen(),
                })
            }
        }
    }
    Err("the generation ended without finishing".to_string())
}

#[async_trait]
impl ChatClient for Engine {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ChatError> {
        if request.messages.is_empty() {
            return Err(ChatError::InvalidRequest("`messages` is empty".to_string()));
        }
        // The answer's log-probabilities are not returned in-process: nothing to record.
        let sampling = Sampling {
            logprobs: None,
            ..Sampling::of_chat(request).map_err(|e| ChatError::InvalidRequest(e.to_string()))?
        };
        let (generation, prompt_tokens) = self
            .generation_request(
                Prompt::Chat(request.messages.clone()),
                &sampling,
                json_schema_of(request.response_format.as_ref()),
            )
            .await
            .map_err(|e| match e {
                Error::PromptTooLong { .. } | Error::InvalidField { .. } => {
                    ChatError::InvalidRequest(e.to_string())
                }
                other => ChatError::Engine(other.to_string()),
            })?;
        let Collected {
            text,
            reason,
            usage,
            ..
        } = collect(self, generation, prompt_tokens)
            .await
            .map_err(ChatError::Engine)?;
        Ok(ChatResponse {
            id: format!("chatcmpl-local-{}", std::process::id()),
            object: "chat.completion".to_string(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            model: self.info().id.clone(),
            choices: vec![ChatChoice {
                index: 0,
                message: Message::assistant(text),
                finish_reason: Some(reason),
                logprobs: None,
            }],
            usage: Some(usage),
        })
    }

    async fn complete(&self, request: &CompletionRequest) -> Result<CompletionResponse, ChatError> {
        self.score(request).await
    }

    fn describe(&self) -> String {
        format!("local:{}", self.info().path)
    }
}
