//! OpenAI wire types, the [`ChatClient`] trait, an HTTP client for any OpenAI-compatible
//! endpoint (retries, backoff, timeouts, concurrency limit), a pool over several endpoints, a
//! content-addressed answer cache in front of any client, and scripted stand-ins for tests.

mod atomic;
mod cache;
mod client;
mod controls;
mod error;
mod http;
mod pool;
mod retry;
mod scripted;
#[cfg(feature = "scripted-server")]
mod scripted_server;
mod wire;

pub use atomic::write_atomically;
pub use cache::{AnswerSource, CacheMode, CachedClient, ChatCache};
pub use client::ChatClient;
pub use controls::SamplingControls;
pub use error::ChatError;
pub use http::{HttpClient, HttpConfig};
pub use pool::{EndpointPool, EndpointReport};
pub use retry::{parse_retry_after, with_retries, RetryPolicy};
pub use scripted::{response_for, ScriptedClient};
#[cfg(feature = "scripted-server")]
pub use scripted_server::{Reply, ScriptedServer};
pub use wire::{
    ChatChoice, ChatChunk, ChatLogprobs, ChatRequest, ChatResponse, ChunkChoice, CompletionChoice,
    CompletionLogprobs, CompletionRequest, CompletionResponse, Delta, ErrorBody, ErrorDetail,
    JsonSchemaFormat, Message, Prompt, ResponseFormat, Role, Stop, TokenLogprob, TopLogprob, Usage,
};
