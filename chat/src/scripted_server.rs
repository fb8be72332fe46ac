//! A real HTTP server on 127.0.0.1 that answers like an OpenAI endpoint from a script: correct,
//! malformed, slow, 429, 500 or a dropped connection. It stands in for remote endpoints that
//! cannot run here (big teachers, vLLM fleets) in tests and benchmarks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use crate::scripted::response_for;
use crate::wire::ChatRequest;

/// What the server does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A well-formed completion with this text.
    Text(String),
    /// An error status, with an optional `Retry-After` (seconds).
    Status(u16, Option<u64>),
    /// A 200 whose body is not JSON.
    Malformed,
    /// Send headers, then drop the connection before the body is complete.
    Drop,
    /// Wait, then reply.
    Delayed(Duration, Box<Reply>),
}

/// The script: a function of the request and how many times this same request (same
/// messages) was seen before (0 on the first attempt).
pub type Script = dyn Fn(&ChatRequest, u32) -> Reply + Send + Sync;

struct Shared {
    script: Box<Script>,
    attempts: Mutex<HashMap<String, u32>>,
    requests: AtomicU64,
}

/// A running scripted server; it stops when dropped.
pub struct ScriptedServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ScriptedServer {
    /// Starts a server on an ephemeral 127.0.0.1 port (inside the current tokio runtime).
    pub async fn start(
        script: impl Fn(&ChatRequest, u32) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<ScriptedServer> {
        let shared = Arc::new(Shared {
            script: Box::new(script),
            attempts: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(answer))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(ScriptedServer {
            address,
            shared,
            shutdown: Some(shutdown),
        })
    }

    /// The OpenAI base URL, e.g. `http://127.0.0.1:41234/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// Requests received so far (every attempt counts).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn answer(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let number = shared.requests.fetch_add(1, Ordering::Relaxed);
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let key = serde_json::to_string(&request.messages).unwrap_or_default();
    let attempt = {
        let mut attempts = shared
            .attempts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = attempts.entry(key).or_insert(0);
        *count += 1;
        *count - 1
    };
    let mut reply = (shared.script)(&request, attempt);
    loop {
        match reply {
            Reply::Delayed(wait, next) => {
                tokio::time::sleep(wait).await;
                reply = *next;
            }
            Reply::Text(text) => {
                return axum::Json(response_for(&request, text, format!("scripted-{number}")))
                    .into_response()
            }
            Reply::Status(status, retry_after) => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let body = serde_json::json!({"error": {"message": "scripted failure", "type": "server_error", "param": null, "code": null}});
                let mut response = (status, axum::Json(body)).into_response();
                if let Some(seconds) = retry_after {
                    if let Ok(value) = seconds.to_string().parse() {
                        response.headers_mut().insert(header::RETRY_AFTER, value);
                    }
                }
                return response;
            }
            Reply::Malformed => {
                return (StatusCode::OK, "{\"choices\": [ this is not json").into_response()
            }
            Reply::Drop => {
                let chunks: Vec<Result<&'static str, std::io::Error>> = vec![
                    Ok("{\"choices\": ["),
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "scripted drop",
                    )),
                ];
                return Response::builder()
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::CONTENT_LENGTH, "4096")
                    .body(Body::from_stream(futures_lite_stream(chunks)))
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
            }
        }
    }
}

/// A stream over a fixed list of chunks.
fn futures_lite_stream(
    chunks: Vec<Result<&'static str, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<&'static str, std::io::Error>> + Send {
    ChunkStream {
        chunks: chunks.into_iter(),
    }
}

struct ChunkStream {
    chunks: std::vec::IntoIter<Result<&'static str, std::io::Error>>,
}

impl futures_core::Stream for ChunkStream {
    type Item = Result<&'static str, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.chunks.next())
    }
}
