//! `HttpClient`: any OpenAI-compatible endpoint, with timeouts, retries and a concurrency limit.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::client::ChatClient;
use crate::error::ChatError;
use crate::retry::{parse_retry_after, with_retries, RetryPolicy};
use crate::wire::{ChatRequest, ChatResponse, CompletionRequest, CompletionResponse};

/// Settings of an [`HttpClient`].
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The OpenAI base URL, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<String>,
    /// Time allowed for one attempt (connect + answer).
    pub timeout: Duration,
    /// Retry policy for connection errors, timeouts, 429 and 5xx.
    pub retry: RetryPolicy,
    /// Most requests in flight at once through this client.
    pub concurrency: usize,
}

impl HttpConfig {
    /// Defaults for `base_url`: no key, 300 s timeout, 4 retries, 64 in flight.
    pub fn new(base_url: impl Into<String>) -> HttpConfig {
        HttpConfig {
            base_url: base_url.into(),
            api_key: None,
            timeout: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            concurrency: 64,
        }
    }
}

/// A client for one OpenAI-compatible endpoint.
#[derive(Clone)]
pub struct HttpClient {
    config: HttpConfig,
    url: String,
    http: reqwest::Client,
    permits: Arc<Semaphore>,
}

impl HttpClient {
    /// Builds a client; fails on a base URL that is not http(s).
    pub fn new(config: HttpConfig) -> Result<HttpClient, ChatError> {
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ChatError::InvalidRequest(format!(
                "endpoint `{}` must start with http:// or https:// (e.g. http://127.0.0.1:8080/v1)",
                config.base_url
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .pool_max_idle_per_host(config.concurrency.max(1))
            .build()
            .map_err(|error| ChatError::InvalidRequest(format!("HTTP client: {error}")))?;
        Ok(HttpClient {
            url: format!("{base}/chat/completions"),
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config,
            http,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// `{base}/completions` beside `{base}/chat/completions`.
    fn completions_url(&self) -> String {
        self.url.trim_end_matches("/chat/completions").to_string() + "/completions"
    }

    async fn attempt<B, R>(&self, url: &str, request: &B) -> Result<R, ChatError>
    where
        B: serde::Serialize + Sync,
        R: serde::de::DeserializeOwned,
    {
        let mut builder = self.http.post(url).json(request);
        if let Some(key) = &self.config.api_key {
            builder = builder.bearer_auth(key);
        }
        let response = builder
            .send()
            .await
            .map_err(|error| self.transport_error(url, error))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let body = response
            .bytes()
            .await
            .map_err(|error| self.transport_error(url, error))?;
        if !status.is_success() {
            return Err(ChatError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                body: excerpt(&body),
                retry_after,
            });
        }
        serde_json::from_slice(&body).map_err(|error| ChatError::Decode {
            url: url.to_string(),
            message: format!("{error}; body starts: {}", excerpt(&body)),
        })
    }

    fn transport_error(&self, url: &str, error: reqwest::Error) -> ChatError {
        if error.is_timeout() {
            ChatError::Timeout {
                url: url.to_string(),
                timeout: self.config.timeout,
            }
        } else {
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(inner) = source {
                message.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            ChatError::Connect {
                url: url.to_string(),
                message,
            }
        }
    }
}

/// The first 500 bytes of a body, lossily decoded.
fn excerpt(body: &[u8]) -> String {
    let end = body.len().min(500);
    String::from_utf8_lossy(&body[..end]).into_owned()
}

#[async_trait]
impl ChatClient for HttpClient {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ChatError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ChatError::Engine("the client was shut down".to_string()))?;
        with_retries(
            &self.config.retry,
            || self.attempt(&self.url, request),
            |_| {},
        )
        .await
    }

    async fn complete(&self, request: &CompletionRequest) -> Result<CompletionResponse, ChatError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ChatError::Engine("the client was shut down".to_string()))?;
        let url = self.completions_url();
        with_retries(&self.config.retry, || self.attempt(&url, request), |_| {}).await
    }

    fn describe(&self) -> String {
        self.config.base_url.clone()
    }
}
