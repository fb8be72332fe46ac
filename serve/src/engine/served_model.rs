//! [`ServedModel`]: what the HTTP handlers ask of a model, as a trait the app state holds behind
//! an `Arc` (axum's dependency-injection shape). The real one is the mistral.rs [`Engine`]; a
//! test can build the app over a model of its own and drive it with `oneshot`, without loading
//! weights. Checking a request against the model ([`ServedModel::generation_request`]) is
//! written once here, for every model.

use async_trait::async_trait;
use serde_json::Value;

use super::engine::{Engine, Generation, GenerationRequest, ModelInfo, Prompt, DEFAULT_MAX_TOKENS};
use super::sampling::Sampling;
use super::scoring::ScoredPrompt;
use super::token_text::TokenText;
use crate::error::{Error, Result};

/// A model the server answers with.
#[async_trait]
pub trait ServedModel: Send + Sync {
    /// What the model is (id, context length in tokens, quantization, weights hash).
    fn info(&self) -> &ModelInfo;

    /// The model's tokenizer.
    fn token_text(&self) -> &TokenText;

    /// The ids the model reads for `prompt` (chat template and generation prompt included).
    async fn prompt_ids(&self, prompt: &Prompt) -> Result<Vec<u32>>;

    /// Starts generating `request` from a prompt of `prompt_tokens` tokens; events arrive
    /// through the returned [`Generation`].
    async fn generate(
        &self,
        request: GenerationRequest,
        prompt_tokens: usize,
    ) -> Result<Generation>;

    /// Scores `prompt`: each token's log-probability given the tokens before it, with `top`
    /// alternatives per token (at most 20).
    async fn score_prompt(&self, prompt: &Prompt, top: usize) -> Result<ScoredPrompt>;

    /// Checks the prompt against the context and clamps `max_tokens` (default
    /// [`DEFAULT_MAX_TOKENS`]) to the room left: (prompt tokens, tokens to generate).
    async fn generation_budget(
        &self,
        prompt: &Prompt,
        max_tokens: Option<u32>,
    ) -> Result<(usize, usize)> {
        let prompt_tokens = self.prompt_ids(prompt).await?.len();
        let context = self.info().context_length;
        if prompt_tokens >= context {
            return Err(Error::PromptTooLong {
                prompt_tokens,
                context,
            });
        }
        let wanted = max_tokens.map_or(DEFAULT_MAX_TOKENS, |n| n as usize);
        Ok((prompt_tokens, wanted.min(context - prompt_tokens)))
    }

    /// The generation `sampling` asks for from `prompt`, checked against this model: the
    /// ranges (a bad field is [`Error::InvalidField`]), the prompt within the context
    /// ([`Error::PromptTooLong`]), `max_tokens` clamped to the room left. Returns the request
    /// and the prompt's tokens. The fields are checked before the prompt is tokenized. Server
    /// limits (`n`, a `max_tokens` cap) are the server's to check.
    async fn generation_request(
        &self,
        prompt: Prompt,
        sampling: &Sampling<'_>,
        json_schema: Option<Value>,
    ) -> Result<(GenerationRequest, usize)> {
        let (stop, controls) = sampling.check(self.token_text().vocab_size())?;
        let (prompt_tokens, max_tokens) =
            self.generation_budget(&prompt, sampling.max_tokens).await?;
        let request = GenerationRequest {
            prompt,
            max_tokens,
            temperature: sampling.temperature,
            top_p: sampling.top_p,
            seed: sampling.seed,
            controls,
            stop,
            json_schema,
            logprobs: sampling.logprobs,
        };
        Ok((request, prompt_tokens))
    }
}

#[async_trait]
impl ServedModel for Engine {
    fn info(&self) -> &ModelInfo {
        Engine::info(self)
    }

    fn token_text(&self) -> &TokenText {
        Engine::token_text(self)
    }

    async fn prompt_ids(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        Engine::prompt_ids(self, prompt).await
    }

    async fn generate(
        &self,
        request: GenerationRequest,
        prompt_tokens: usize,
    ) -> Result<Generation> {
        Engine::generate(self, request, prompt_tokens).await
    }

    async fn score_prompt(&self, prompt: &Prompt, top: usize) -> Result<ScoredPrompt> {
        Engine::score_prompt(self, prompt, top).await
    }
}
