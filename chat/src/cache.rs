//! `CachedClient`: a content-addressed cache of chat answers in front of any [`ChatClient`]
//! (uv-client's `CachedClient` pattern), shared by `r2l eval` and `r2l distill`.
//!
//! The key hashes the model id, the messages and the generation settings — not the endpoint, so
//! a fleet of replicas shares one cache. Entries are written atomically (temporary file +
//! rename), so a killed process never leaves half an entry, and an interrupted run resumes where
//! it stopped: every answer it already received is read back instead of asked again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::atomic::write_atomically;
use crate::client::ChatClient;
use crate::error::ChatError;
use crate::wire::{ChatRequest, ChatResponse, CompletionRequest, CompletionResponse};

/// How a [`CachedClient`] uses its cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Read answers from the cache; ask (and store) only on a miss.
    Use,
    /// Never read, always ask, and overwrite the stored answer (`--refresh`).
    Refresh,
    /// Neither read nor write (`--no-cache`).
    Off,
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerSource {
    /// Read from the cache: no request was sent.
    Cache,
    /// Asked of the wrapped client.
    Client,
}

/// A directory of cached answers, one JSON file per request hash (`<dir>/ab/abcd….json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatCache {
    dir: PathBuf,
}

impl ChatCache {
    /// A cache rooted at `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> ChatCache {
        ChatCache { dir: dir.into() }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The request's content hash (hex sha256 of the model id, the messages and every
    /// generation setting; `stream` and `n` are not part of it).
    pub fn key(request: &ChatRequest) -> String {
        let mut identity = json!({
            "model": request.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
            "stop": request.stop,
            "response_format": request.response_format,
        });
        // Only the controls a request sets: a request without them keeps the key it had before
        // they existed, so older cache entries stay valid.
        if let Some(members) = identity.as_object_mut() {
            members.extend(request.controls().members());
        }
        Sha256::digest(identity.to_string().as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// A text completion's content hash (hex sha256 of the whole request but `stream`, under a
    /// `completion` tag, so it never equals a chat request's).
    pub fn completion_key(request: &CompletionRequest) -> String {
        let mut request = request.clone();
        request.stream = None;
        let identity = json!({"completion": request});
        Sha256::digest(identity.to_string().as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir
            .join(key.get(..2).unwrap_or("00"))
            .join(format!("{key}.json"))
    }

    /// The cached answer for `key`, if present and readable (an unreadable entry is a miss).
    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores an answer atomically.
    pub fn put<T: serde::Serialize>(&self, key: &str, response: &T) -> Result<(), ChatError> {
        let path = self.path(key);
        let cache_error = |message: String| ChatError::Cache {
            path: path.display().to_string(),
            message,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| cache_error(e.to_string()))?;
        }
        let body = serde_json::to_vec(response).map_err(|e| cache_error(e.to_string()))?;
        write_atomically(&path, &body).map_err(|e| cache_error(e.to_string()))
    }
}

/// A [`ChatClient`] that answers from a [`ChatCache`] when it can and asks `inner` otherwise.
pub struct CachedClient {
    inner: Arc<dyn ChatClient>,
    cache: ChatCache,
    mode: CacheMode,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CachedClient {
    /// Wraps `inner` with `cache` used as `mode` says.
    pub fn new(inner: Arc<dyn ChatClient>, cache: ChatCache, mode: CacheMode) -> CachedClient {
        CachedClient {
            inner,
            cache,
            mode,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The wrapped client.
    pub fn inner(&self) -> &Arc<dyn ChatClient> {
        &self.inner
    }

    /// The cache mode.
    pub fn mode(&self) -> CacheMode {
        self.mode
    }

    /// The cached answer to `request`, when the mode reads the cache and it holds one (counted
    /// as a hit). Callers that ask the wrapped client themselves (e.g. to meter paid calls) pair
    /// it with [`CachedClient::store`].
    pub fn lookup(&self, request: &ChatRequest) -> Option<ChatResponse> {
        if self.mode != CacheMode::Use {
            return None;
        }
        let response = self.cache.get(&ChatCache::key(request))?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(response)
    }

    /// Stores the wrapped client's answer to `request` (unless the mode is Off), counted as a miss.
    pub fn store(&self, request: &ChatRequest, response: &ChatResponse) -> Result<(), ChatError> {
        self.misses.fetch_add(1, Ordering::Relaxed);
        if self.mode == CacheMode::Off {
            return Ok(());
        }
        self.cache.put(&ChatCache::key(request), response)
    }

    /// Answers `request` and says where the answer came from. A failed request is not cached.
    pub async fn chat_with_source(
        &self,
        request: &ChatRequest,
    ) -> Result<(ChatResponse, AnswerSource), ChatError> {
        if let Some(response) = self.lookup(request) {
            return Ok((response, AnswerSource::Cache));
        }
        let response = self.inner.chat(request).await;
        let response = response.inspect_err(|_| {
            self.misses.fetch_add(1, Ordering::Relaxed);
        })?;
        self.store(request, &response)?;
        Ok((response, AnswerSource::Client))
    }

    /// Answers a text completion from the cache when the mode reads it, else from the wrapped
    /// client (stored unless the mode is Off), and says where the answer came from.
    pub async fn complete_with_source(
        &self,
        request: &CompletionRequest,
    ) -> Result<(CompletionResponse, AnswerSource), ChatError> {
        let key = ChatCache::completion_key(request);
        if self.mode == CacheMode::Use {
            if let Some(response) = self.cache.get(&key) {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok((response, AnswerSource::Cache));
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let response = self.inner.complete(request).await?;
        if self.mode != CacheMode::Off {
            self.cache.put(&key, &response)?;
        }
        Ok((response, AnswerSource::Client))
    }

    /// Answers read from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Requests passed on to the wrapped client so far.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl ChatClient for CachedClient {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ChatError> {
        self.chat_with_source(request)
            .await
            .map(|(response, _)| response)
    }

    async fn complete(&self, request: &CompletionRequest) -> Result<CompletionResponse, ChatError> {
        self.complete_with_source(request)
            .await
            .map(|(response, _)| response)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted::ScriptedClient;
    use crate::wire::Message;

    fn request(text: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![Message::user(text)],
            ..Default::default()
        }
    }

    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .block_on(future)
    }

    #[test]
    fn keys_depend_on_content_not_endpoint() {
        let base = request("hi");
        let mut other = base.clone();
        other.stream = Some(true);
        assert_eq!(ChatCache::key(&base), ChatCache::key(&other));
        other.temperature = Some(0.7);
        assert_ne!(ChatCache::key(&base), ChatCache::key(&other));
        let mut penalised = base.clone();
        penalised.presence_penalty = Some(1.0);
        assert_ne!(ChatCache::key(&base), ChatCache::key(&penalised));
        let mut model = base.clone();
        model.model = "n".into();
        assert_ne!(ChatCache::key(&base), ChatCache::key(&model));
    }

    #[test]
    fn entries_round_trip() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cache = ChatCache::new(dir.path());
        let response = crate::response_for(&request("hi"), "hello".into(), "x".into());
        let key = ChatCache::key(&request("hi"));
        assert!(cache.get::<ChatResponse>(&key).is_none());
        cache.put(&key, &response).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.get(&key), Some(response));
    }

    fn counting_client() -> Arc<ScriptedClient> {
        Arc::new(ScriptedClient::new("count", |request| {
            Ok(format!("echo {}", request.messages[0].content))
        }))
    }

    #[test]
    fn a_second_identical_request_is_answered_from_the_cache() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let scripted = counting_client();
        let client =
            CachedClient::new(scripted.clone(), ChatCache::new(dir.path()), CacheMode::Use);
        let first =
            block_on(client.chat_with_source(&request("a"))).unwrap_or_else(|e| panic!("{e}"));
        let second =
            block_on(client.chat_with_source(&request("a"))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.1, AnswerSource::Client);
        assert_eq!(second.1, AnswerSource::Cache);
        assert_eq!(first.0, second.0);
        assert_eq!(
            (scripted.calls(), client.hits(), client.misses()),
            (1, 1, 1)
        );
    }

    #[test]
    fn refresh_asks_again_and_off_never_writes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let scripted = counting_client();
        let cache = ChatCache::new(dir.path());
        let refresh = CachedClient::new(scripted.clone(), cache.clone(), CacheMode::Refresh);
        for _ in 0..2 {
            let (_, source) =
                block_on(refresh.chat_with_source(&request("b"))).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(source, AnswerSource::Client);
        }
        assert!(cache
            .get::<ChatResponse>(&ChatCache::key(&request("b")))
            .is_some());
        let off = CachedClient::new(scripted.clone(), cache.clone(), CacheMode::Off);
        let _ = block_on(off.chat(&request("c")));
        assert!(cache
            .get::<ChatResponse>(&ChatCache::key(&request("c")))
            .is_none());
        assert_eq!(scripted.calls(), 3);
    }
}
