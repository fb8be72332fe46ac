//! `GET /v1/models`, `GET /health`, `GET /ready` and `GET /metrics`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::generate::unix_time;
use super::state::AppState;

/// Lists the configured models with their state, context length, quantization and file hash.
pub async fn list_models(State(state): State<AppState>) -> Response {
    let created = unix_time();
    let data: Vec<_> = state
        .registry
        .infos()
        .into_iter()
        .map(|(id, status, info)| {
            json!({
                "id": id,
                "object": "model",
                "created": created,
                "owned_by": "r2l",
                "status": status,
                "context_length": info.as_ref().map(|i| i.context_length),
                "quantization": info.as_ref().map(|i| i.quantization.clone()),
                "sha256": info.as_ref().map(|i| i.sha256.clone()),
            })
        })
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// Liveness: 200 as long as the process serves HTTP.
pub async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// Readiness: 200 only when every configured model is loaded, 503 before.
pub async fn ready(State(state): State<AppState>) -> Response {
    let models: Vec<_> = state
        .registry
        .infos()
        .into_iter()
        .map(|(id, status, _)| json!({"id": id, "status": status}))
        .collect();
    let status = if state.registry.all_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({"ready": status == StatusCode::OK, "models": models})),
    )
        .into_response()
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(
        state.admission.queue_depth(),
        state.admission.in_flight(),
        &crate::engine::prefix_cache::stats(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
