//! Shared fixtures: one runtime and one loaded engine per test binary, and servers on 127.0.0.1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, OnceLock};

use serve::api::{app, AppState};
use serve::config::ServeConfig;
use serve::engine::{Engine, Isq, ModelSpec};
use serve::registry::ModelRegistry;

/// The runtime every test runs on (the engine's background work lives on it).
pub static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
});

/// The converted default model directory (written by `scripts/setup.sh`).
pub fn default_model_dir() -> PathBuf {
    let home = std::env::var_os("R2L_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache")
                .join("r2l")
        });
    home.join("models").join("SmolLM2-135M-Instruct")
}

/// The default model's spec; the tests fail when setup has not run.
pub fn default_spec() -> ModelSpec {
    let dir = default_model_dir();
    assert!(
        dir.join("config.json").is_file(),
        "{} not found: run scripts/setup.sh",
        dir.display()
    );
    ModelSpec::new("smollm2", dir, Some(Isq::Q8_0))
}

static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Held for the whole of a test that generates: tests share one engine on two cores, and the
/// timing rules (timeouts, queue limits, cancellation) are only meaningful one test at a time.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The shared engine (loaded once).
pub fn engine() -> Arc<Engine> {
    ENGINE
        .get_or_init(|| {
            Arc::new(
                RUNTIME
                    .block_on(Engine::load(&default_spec()))
                    .unwrap_or_else(|e| panic!("loading the default model: {e}")),
            )
        })
        .clone()
}

/// App state over the shared engine with `config`.
pub fn state(config: ServeConfig) -> AppState {
    AppState::new(
        Arc::new(ModelRegistry::with_engine(default_spec(), engine())),
        config,
    )
}

/// A server on an ephemeral 127.0.0.1 port; returns its base URL (`http://127.0.0.1:P`).
pub fn start(state: AppState) -> String {
    let address: SocketAddr = RUNTIME.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app(state)).await;
        });
        address
    });
    format!("http://{address}")
}

/// An HTTP client with a bounded timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

/// POSTs JSON and returns (status, body as JSON).
pub fn post(url: &str, body: &serde_json::Value, key: Option<&str>) -> (u16, serde_json::Value) {
    RUNTIME.block_on(async {
        let mut request = client().post(url).json(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = response.status().as_u16();
        let json = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, json)
    })
}

/// POSTs raw bytes (for malformed bodies) and returns (status, body as JSON, headers).
pub fn post_raw(url: &str, body: Vec<u8>) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    RUNTIME.block_on(async {
        let response = client()
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let json = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, json, headers)
    })
}

/// POSTs `body` with `stream: true` and returns the JSON of every server-sent event, in order
/// (the closing `[DONE]` left out).
pub fn stream_chunks(url: &str, body: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut body = body.clone();
    body["stream"] = serde_json::json!(true);
    let raw = RUNTIME.block_on(async {
        reqwest::Client::new()
            .post(url)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"))
            .text()
            .await
            .unwrap_or_default()
    });
    raw.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect()
}

/// A short chat request.
pub fn chat_body(text: &str, max_tokens: u32) -> serde_json::Value {
    serde_json::json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
        "temperature": 0.0
    })
}

/// Adds the members of `extra` to the JSON object `body`.
pub fn merge(body: &mut serde_json::Value, extra: &serde_json::Value) {
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
}

/// Sampling controls out of range, each with the request field its 400 must name (the default
/// model's tokenizer: id 49152 is the first outside its vocabulary).
pub fn out_of_range_controls() -> Vec<(serde_json::Value, &'static str)> {
    use serde_json::json;
    let many: serde_json::Map<String, serde_json::Value> =
        (0..301).map(|id| (id.to_string(), json!(1))).collect();
    vec![
        (json!({"presence_penalty": 2.5}), "presence_penalty"),
        (json!({"frequency_penalty": -3}), "frequency_penalty"),
        (json!({"repetition_penalty": 0}), "repetition_penalty"),
        (json!({"top_k": -2}), "top_k"),
        (json!({"min_p": 1.5}), "min_p"),
        (json!({"logit_bias": {"hello": 5}}), "logit_bias"),
        (json!({"logit_bias": {"49152": 5}}), "logit_bias"),
        (json!({"logit_bias": {"42": 101}}), "logit_bias"),
        (json!({"logit_bias": many}), "logit_bias"),
    ]
}
