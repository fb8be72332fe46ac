//! What chat and text completions share: checking a request against the server's limits and
//! building its generation (the model's [`ServedModel::generation_request`], shared with the
//! in-process client), admission, the timeout, and turning a generation into a JSON answer or an
//! SSE stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde_json::Value;

use super::error::ApiError;
use super::logprobs::{chat_logprobs, completion_logprobs, Aligner};
use super::state::{AppState, Slot};
use crate::engine::{
    collect, Collected, Event, Generation, GenerationRequest, Prompt, Sampling, ServedModel,
};
use crate::error::Error;

/// The token counts of a request answered with several choices: the prompt counted once.
#[derive(Debug, Default)]
pub struct ChoicesUsage {
    prompt: u64,
    completion: u64,
}

impl ChoicesUsage {
    /// Adds one choice's counts.
    pub fn add(&mut self, usage: &chat::Usage) {
        self.prompt = usage.prompt_tokens;
        self.completion += usage.completion_tokens;
    }

    /// The request's counts.
    pub fn total(&self) -> chat::Usage {
        chat::Usage {
            prompt_tokens: self.prompt,
            completion_tokens: self.completion,
            total_tokens: self.prompt + self.completion,
        }
    }
}

/// A request checked against the limits and the model's context, ready to run.
pub struct Prepared {
    /// The model that will answer.
    pub engine: Arc<dyn ServedModel>,
    /// What to generate.
    pub request: GenerationRequest,
    /// Tokens in the rendered prompt.
    pub prompt_tokens: usize,
}

/// Checks `sampling` against the server's limits (`n`, the `max_tokens` cap) and builds its
/// generation; `prompt_param` names the prompt field (a prompt over the context).
pub async fn prepare(
    state: &AppState,
    model: &str,
    prompt: Prompt,
    prompt_param: &str,
    sampling: Sampling<'_>,
    json_schema: Option<Value>,
) -> Result<Prepared, ApiError> {
    let limits = &state.config.limits;
    if let Some(n) = sampling.n {
        if n == 0 || n as usize > limits.max_n {
            return Err(ApiError::bad_request(
                "n",
                format!("n must be from 1 to {}, got {n}", limits.max_n),
            ));
        }
    }
    if let Some(max_tokens) = sampling.max_tokens {
        if max_tokens == 0 || max_tokens as usize > limits.max_tokens_cap {
            return Err(ApiError::bad_request(
                "max_tokens",
                format!(
                    "max_tokens must be from 1 to {}, got {max_tokens}",
                    limits.max_tokens_cap
                ),
            ));
        }
    }
    let engine = state.engine(Some(model))?;
    let (request, prompt_tokens) = engine
        .generation_request(prompt, &sampling, json_schema)
        .await
        .map_err(|e| match e {
            Error::PromptTooLong { .. } => ApiError::bad_request(prompt_param, e.to_string()),
            Error::InvalidField { field, message } => ApiError::bad_request(field, message),
            other => ApiError::internal(other),
        })?;
    Ok(Prepared {
        engine,
        request,
        prompt_tokens,
    })
}

/// Runs a prepared request to the end within the request timeout.
pub async fn run_to_end(state: &AppState, prepared: Prepared) -> Result<Collected, ApiError> {
    let _slot = state.admission.admit().await?;
    let limit = state.config.limits.request_timeout;
    let outcome = tokio::time::timeout(
        limit,
        collect(
            prepared.engine.as_ref(),
            prepared.request,
            prepared.prompt_tokens,
        ),
    )
    .await;
    match outcome {
        Err(_) => Err(ApiError::timeout(limit.as_secs_f64())),
        Ok(Err(message)) => Err(ApiError::internal(message)),
        Ok(Ok(collected)) => {
            let usage = &collected.usage;
            state
                .metrics
                .add_tokens(usage.prompt_tokens, usage.completion_tokens);
            Ok(collected)
        }
    }
}

/// Builds the JSON of one stream chunk: (text delta, finish reason, usage on the last chunk,
/// the log-probabilities of the chunk's tokens in the endpoint's shape).
pub type ChunkBuilder =
    Box<dyn Fn(Option<&str>, Option<&str>, Option<chat::Usage>, Option<Value>) -> Value + Send>;

/// Which `logprobs` shape a stream's chunks carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogprobsShape {
    /// Chat's `{"content": [...]}`.
    Chat,
    /// A legacy completion's `{"tokens", "token_logprobs", "top_logprobs", "text_offset"}`.
    Completion,
}

struct StreamState {
    generation: Generation,
    _slot: Slot,
    state: AppState,
    chunk: ChunkBuilder,
    deadline: Instant,
    phase: Phase,
    /// Set when the request asked for log-probabilities.
    logprobs: Option<LogprobsShape>,
    aligner: Aligner,
    engine: Arc<dyn ServedModel>,
    /// Bytes of answer sent so far.
    sent: usize,
}

impl StreamState {
    /// The log-probabilities of the tokens whose text is now out, in the stream's shape.
    fn logprobs(&mut self) -> Option<Value> {
        let shape = self.logprobs?;
        let chosen = self.generation.chosen();
        let tokens = self.engine.token_text();
        let rendered =
            self.aligner
                .take(tokens, &chosen, self.sent)
                .and_then(|pieces| match shape {
                    LogprobsShape::Chat => {
                        chat_logprobs(tokens, &pieces).map(|l| serde_json::to_value(l).ok())
                    }
                    LogprobsShape::Completion => {
                        let mut out = chat::CompletionLogprobs::default();
                        completion_logprobs(tokens, &pieces, 0, &mut out)
                            .map(|()| serde_json::to_value(out).ok())
                    }
                });
        match rendered {
            Ok(value) => value,
            Err(error) => Some(error.body_json()),
        }
    }
}

enum Phase {
    Streaming,
    Done,
    Closed,
}

/// Starts a prepared request and streams it as server-sent events ending in `data: [DONE]`.
/// Dropping the response (client gone) drops the generation, which cancels it in the engine.
pub async fn stream(
    state: &AppState,
    prepared: Prepared,
    first: Option<Value>,
    chunk: ChunkBuilder,
    logprobs: Option<LogprobsShape>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let slot = state.admission.admit().await?;
    let generation = prepared
        .engine
        .generate(prepared.request, prepared.prompt_tokens)
        .await
        .map_err(ApiError::internal)?;
    let start = StreamState {
        generation,
        _slot: slot,
        state: state.clone(),
        chunk,
        deadline: Instant::now() + state.config.limits.request_timeout,
        phase: Phase::Streaming,
        logprobs,
        aligner: Aligner::new(logprobs == Some(LogprobsShape::Chat)),
        engine: prepared.engine.clone(),
        sent: 0,
    };
    let opening =
        futures::stream::iter(first.map(|value| Ok(SseEvent::default().data(value.to_string()))));
    let body = futures::stream::unfold(start, |mut s| async move {
        match s.phase {
            Phase::Closed => None,
            Phase::Done => {
                s.phase = Phase::Closed;
                Some((Ok(SseEvent::default().data("[DONE]")), s))
            }
            Phase::Streaming => {
                let next = tokio::time::timeout_at(s.deadline.into(), s.generation.next()).await;
                let event = match next {
                    Ok(Some(Ok(Event::Text(text)))) => {
                        s.sent += text.len();
                        let logprobs = s.logprobs();
                        (s.chunk)(Some(&text), None, None, logprobs)
                    }
                    Ok(Some(Ok(Event::Finished { reason, usage }))) => {
                        s.state
                            .metrics
                            .add_tokens(usage.prompt_tokens, usage.completion_tokens);
                        s.phase = Phase::Done;
                        (s.chunk)(None, Some(&reason), Some(usage), None)
                    }
                    Ok(Some(Err(message))) => {
                        s.phase = Phase::Done;
                        ApiError::internal(message).body_json()
                    }
                    Ok(None) => {
                        s.phase = Phase::Closed;
                        return Some((Ok(SseEvent::default().data("[DONE]")), s));
                    }
                    Err(_) => {
                        s.phase = Phase::Done;
                        ApiError::timeout(s.state.config.limits.request_timeout.as_secs_f64())
                            .body_json()
                    }
                };
                Some((Ok(SseEvent::default().data(event.to_string())), s))
            }
        }
    });
    Ok(Sse::new(futures::StreamExt::chain(opening, body)).keep_alive(KeepAlive::default()))
}

impl ApiError {
    /// The error body as a JSON value (for errors inside a stream).
    pub fn body_json(&self) -> Value {
        serde_json::to_value(self.body()).unwrap_or(Value::Null)
    }
}

/// Seconds since the Unix epoch.
pub fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh response id with `prefix`.
pub fn response_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        unix_time(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
