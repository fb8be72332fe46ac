//! The HTTP API: an axum `Router` over [`AppState`], kept apart from `main` so tests drive it
//! with `oneshot` as well as over TCP.

mod absa;
mod chat_completions;
mod completions;
mod error;
mod generate;
mod logprobs;
mod metrics;
mod models;
mod request;
mod state;
mod tokenize;

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;
pub use metrics::Metrics;
pub use request::decode_json;
pub use state::{Admission, AppState};

/// The app: OpenAI routes (behind the API key when keys are configured), `/v1/absa`,
/// `/tokenize`, `/detokenize` and `/tokenizer_info`, and the
/// open operational routes `/health`, `/ready`, `/metrics`.
pub fn app(state: AppState) -> Router {
    let protected = Router::new()
        .route(
            "/v1/chat/completions",
            post(chat_completions::chat_completions),
        )
        .route("/v1/completions", post(completions::completions))
        .route("/v1/models", get(models::list_models))
        .route("/v1/absa", post(absa::absa))
        .route("/tokenize", post(tokenize::tokenize))
        .route("/detokenize", post(tokenize::detokenize))
        .route("/tokenizer_info", get(tokenize::tokenizer_info))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .merge(protected)
        .route("/health", get(models::health))
        .route("/ready", get(models::ready))
        .route("/metrics", get(models::metrics))
        .fallback(|| async { ApiError::no_route() })
        .method_not_allowed_fallback(|| async { ApiError::wrong_method() })
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

/// 401 unless the request carries one of the configured keys (open when none are configured).
async fn require_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let keys = &state.config.api_keys;
    if keys.is_empty() {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(given) if keys.iter().any(|key| same_key(key, given)) => next.run(request).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

/// Compares keys without an early exit on the first differing byte.
fn same_key(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Counts every request by route and status and records its latency.
async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || "(unmatched)".to_string(),
        |path| path.as_str().to_string(),
    );
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.observe(
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
