//! `EndpointPool`: spreads requests over several endpoints (least in flight first) and takes an
//! endpoint that keeps failing out of rotation, so a fleet of replicas serves one run.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::client::ChatClient;
use crate::error::ChatError;
use crate::wire::{ChatRequest, ChatResponse, CompletionRequest, CompletionResponse};

struct Endpoint {
    client: Arc<dyn ChatClient>,
    in_flight: AtomicUsize,
    consecutive_failures: AtomicU32,
    removed: AtomicBool,
    served: AtomicU64,
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// How one endpoint of a pool fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointReport {
    /// The endpoint (its base URL).
    pub endpoint: String,
    /// Requests it answered.
    pub served: u64,
    /// Requests that failed on it (after its own retries).
    pub failed: u64,
    /// Whether it was taken out of rotation.
    pub removed: bool,
    /// Its last error, if any.
    pub last_error: Option<String>,
}

/// Several clients behind one [`ChatClient`].
pub struct EndpointPool {
    endpoints: Vec<Endpoint>,
    max_consecutive_failures: u32,
}

impl EndpointPool {
    /// A pool over `clients`; an endpoint is removed after `max_consecutive_failures` failed
    /// requests in a row (each already retried by the client itself).
    pub fn new(clients: Vec<Arc<dyn ChatClient>>, max_consecutive_failures: u32) -> EndpointPool {
        EndpointPool {
            endpoints: clients
                .into_iter()
                .map(|client| Endpoint {
                    client,
                    in_flight: AtomicUsize::new(0),
                    consecutive_failures: AtomicU32::new(0),
                    removed: AtomicBool::new(false),
                    served: AtomicU64::new(0),
                    failed: AtomicU64::new(0),
                    last_error: Mutex::new(None),
                })
                .collect(),
            max_consecutive_failures: max_consecutive_failures.max(1),
        }
    }

    /// Per-endpoint counts, in the order the endpoints were given.
    pub fn report(&self) -> Vec<EndpointReport> {
        self.endpoints
            .iter()
            .map(|endpoint| EndpointReport {
                endpoint: endpoint.client.describe(),
                served: endpoint.served.load(Ordering::Relaxed),
                failed: endpoint.failed.load(Ordering::Relaxed),
                removed: endpoint.removed.load(Ordering::Relaxed),
                last_error: endpoint.last_error.lock().ok().and_then(|e| e.clone()),
            })
            .collect()
    }

    fn pick(&self) -> Option<&Endpoint> {
        self.endpoints
            .iter()
            .filter(|endpoint| !endpoint.removed.load(Ordering::Relaxed))
            .min_by_key(|endpoint| endpoint.in_flight.load(Ordering::Relaxed))
    }
}

/// Errors that say the endpoint is unwell (as opposed to the request being wrong).
fn is_endpoint_failure(error: &ChatError) -> bool {
    match error {
        ChatError::GaveUp { .. } => true,
        other => other.is_retryable(),
    }
}

/// What a [`ChatClient`] method returns (an `async_trait` future).
type ClientFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ChatError>> + Send + 'a>>;

impl EndpointPool {
    /// Runs `call` on the least-loaded live endpoint, moving on to another when an endpoint
    /// fails (an endpoint failing `max_consecutive_failures` times in a row is removed); a
    /// request error (the request is wrong) is returned at once.
    async fn route<'r, T, F>(&'r self, call: F) -> Result<T, ChatError>
    where
        F: Fn(&'r Arc<dyn ChatClient>) -> ClientFuture<'r, T>,
    {
        let budget = self.endpoints.len() * self.max_consecutive_failures as usize + 1;
        let mut last_error = None;
        for _ in 0..budget {
            let Some(endpoint) = self.pick() else { break };
            endpoint.in_flight.fetch_add(1, Ordering::Relaxed);
            let outcome = call(&endpoint.client).await;
            endpoint.in_flight.fetch_sub(1, Ordering::Relaxed);
            match outcome {
                Ok(response) => {
                    endpoint.consecutive_failures.store(0, Ordering::Relaxed);
                    endpoint.served.fetch_add(1, Ordering::Relaxed);
                    return Ok(response);
                }
                Err(error) if is_endpoint_failure(&error) => {
                    endpoint.failed.fetch_add(1, Ordering::Relaxed);
                    let failures = endpoint
                        .consecutive_failures
                        .fetch_add(1, Ordering::Relaxed)
                        + 1;
                    if failures >= self.max_consecutive_failures {
                        endpoint.removed.store(true, Ordering::Relaxed);
                    }
                    if let Ok(mut last) = endpoint.last_error.lock() {
                        *last = Some(error.to_string());
                    }
                    last_error = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(ChatError::NoEndpoint(last_error.map_or_else(
            || "all endpoints were removed".to_string(),
            |e| e.to_string(),
        )))
    }
}

#[async_trait]
impl ChatClient for EndpointPool {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ChatError> {
        self.route(|client| client.chat(request)).await
    }

    async fn complete(&self, request: &CompletionRequest) -> Result<CompletionResponse, ChatError> {
        self.route(|client| client.complete(request)).await
    }

    fn describe(&self) -> String {
        self.endpoints
            .iter()
            .map(|e| e.client.describe())
            .collect::<Vec<_>>()
            .join(",")
    }
}
