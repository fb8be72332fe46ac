//! Scoring a prompt (what `echo` with `max_tokens: 0` returns): its text and each token's
//! log-probability given the tokens before it, in the legacy completion's `logprobs` shape,
//! shared by `/v1/completions` and the in-process client (`r2l eval --local` with a
//! log-likelihood task).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chat::{
    ChatError, CompletionChoice, CompletionLogprobs, CompletionRequest, CompletionResponse,
    Prompt as WirePrompt, Usage,
};

use super::engine::{Engine, Prompt};
use crate::error::Result;

/// A scored prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPrompt {
    /// The ids the engine read.
    pub ids: Vec<u32>,
    /// Their text (special tokens as written).
    pub text: String,
    /// Each token's text, log-probability (None for the first), `top` alternatives and offset.
    pub logprobs: CompletionLogprobs,
}

impl Engine {
    /// Scores `prompt` with `top` alternatives per token (at most 20).
    pub async fn score_prompt(&self, prompt: &Prompt, top: usize) -> Result<ScoredPrompt> {
        let ids = self.prompt_ids(prompt).await?;
        let scored = self.prompt_logprobs(&ids, top).await?;
        let tokens = self.token_text();
        let mut logprobs = CompletionLogprobs::default();
        for ((text, offset), chosen) in tokens.pieces(&ids, false)?.into_iter().zip(&scored) {
            logprobs.tokens.push(text);
            logprobs.text_offset.push(offset);
            logprobs
                .token_logprobs
                .push(chosen.as_ref().map(|c| f64::from(c.logprob)));
            let alternatives = match chosen {
                None => None,
                Some(chosen) => {
                    let mut alternatives = BTreeMap::new();
                    for &(id, logprob) in &chosen.top {
                        alternatives.insert(tokens.decode(&[id])?, f64::from(logprob));
                    }
                    Some(alternatives)
                }
            };
            logprobs.top_logprobs.push(alternatives);
        }
        Ok(ScoredPrompt {
            text: tokens.decode(&ids)?,
            ids,
            logprobs,
        })
    }
}

/// In-process text completions serve scoring only: `echo` with `max_tokens: 0`, what
/// log-likelihood evaluation sends; generation goes through chat (or `r2l serve`).
#[async_trait]
pub trait ScoringClient {
    /// Answers a scoring request.
    async fn score(&self, request: &CompletionRequest) -> Result<CompletionResponse, ChatError>;
}

#[async_trait]
impl ScoringClient for Engine {
    async fn score(&self, request: &CompletionRequest) -> Result<CompletionResponse, ChatError> {
        if request.echo != Some(true) || request.max_tokens != Some(0) {
            return Err(ChatError::InvalidRequest(
                "in-process text completions only score prompts (`echo: true`, `max_tokens: 0`); \
                 serve the model with `r2l serve` to generate"
                    .to_string(),
            ));
        }
        let top = request.logprobs.unwrap_or(0) as usize;
        let prompts: Vec<Prompt> = match &request.prompt {
            WirePrompt::One(text) => vec![Prompt::Text(text.clone())],
            WirePrompt::Many(texts) => texts.iter().cloned().map(Prompt::Text).collect(),
            WirePrompt::Tokens(ids) => vec![Prompt::Tokens(ids.clone())],
            WirePrompt::ManyTokens(lists) => lists.iter().cloned().map(Prompt::Tokens).collect(),
        };
        let mut choices = Vec::with_capacity(prompts.len());
        let mut usage = Usage::default();
        for (index, prompt) in prompts.iter().enumerate() {
            let scored = self
                .score_prompt(prompt, top.min(super::MAX_TOP_LOGPROBS))
                .await
                .map_err(|e| ChatError::Engine(e.to_string()))?;
            let n = scored.ids.len() as u64;
            usage.add(&Usage {
                prompt_tokens: n,
                completion_tokens: 0,
                total_tokens: n,
            });
            choices.push(CompletionChoice {
                index: index as u32,
                text: scored.text,
                finish_reason: Some("length".to_string()),
                logprobs: request.logprobs.map(|_| scored.logprobs),
            });
        }
        Ok(CompletionResponse {
            id: format!("cmpl-local-{}", std::process::id()),
            object: "text_completion".to_string(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            model: self.info().id.clone(),
            choices,
            usage: Some(usage),
        })
    }
}
