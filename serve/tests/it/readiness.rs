//! `/health` and `/ready` before and after the model loads, through `oneshot`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use serve::api::{app, AppState};
use serve::registry::ModelRegistry;
use tower::ServiceExt;

use crate::support::{default_spec, RUNTIME};

fn status(state: &AppState, path: &str) -> u16 {
    RUNTIME.block_on(async {
        let request = Request::builder()
            .uri(path)
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        app(state.clone())
            .oneshot(request)
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    })
}

#[test]
fn ready_is_503_while_loading_and_200_once_loaded() {
    let _serial = crate::support::serial();
    let spec = default_spec();
    let registry = Arc::new(ModelRegistry::new(vec![spec], 0));
    let state = AppState::new(registry.clone(), Default::default());
    assert_eq!(status(&state, "/health"), 200);
    assert_eq!(status(&state, "/ready"), 503);
    RUNTIME.block_on(registry.load_all());
    assert_eq!(status(&state, "/ready"), 200);
    assert_eq!(status(&state, "/no/such/route"), 404);
}
