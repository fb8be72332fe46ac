//! `POST /v1/completions`: raw-text completion without the chat template.

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chat::{CompletionChoice, CompletionRequest, CompletionResponse, Prompt as WirePrompt};
use serde_json::json;

use super::error::ApiError;
use super::generate::{prepare, response_id, run_to_end, stream, unix_time, Sampling};
use super::request::read_json;
use super::state::AppState;
use crate::engine::Prompt;

/// Answers a text completion.
pub async fn completions(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let request: CompletionRequest = read_json(body, state.config.limits.max_body_bytes).await?;
    let prompt = match &request.prompt {
        WirePrompt::One(text) => text.clone(),
        WirePrompt::Many(texts) if texts.len() == 1 => texts[0].clone(),
        WirePrompt::Many(texts) => {
            return Err(ApiError::bad_request(
                "prompt",
                format!("one prompt per request is served, got {}", texts.len()),
            ))
        }
    };
    if prompt.is_empty() {
        return Err(ApiError::bad_request("prompt", "`prompt` is empty"));
    }
    let sampling = Sampling {
        max_tokens: request.max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        seed: request.seed,
        n: request.n,
        stop: request.stop.as_ref(),
    };
    let prepared = prepare(
        &state,
        &request.model,
        Prompt::Text(prompt),
        "prompt",
        sampling,
        None,
    )
    .await?;
    let model = prepared.engine.info().id.clone();
    let id = response_id("cmpl");
    let created = unix_time();
    if request.stream == Some(true) {
        let builder = Box::new(
            move |text: Option<&str>, finish: Option<&str>, usage: Option<chat::Usage>| {
                json!({
                    "id": id,
                    "object": "text_completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "text": text.unwrap_or(""), "finish_reason": finish, "logprobs": null}],
                    "usage": usage,
                })
            },
        );
        return Ok(stream(&state, prepared, None, builder)
            .await?
            .into_response());
    }
    let (text, reason, usage) = run_to_end(&state, prepared).await?;
    Ok(axum::Json(CompletionResponse {
        id,
        object: "text_completion".to_string(),
        created,
        model,
        choices: vec![CompletionChoice {
            index: 0,
            text,
            finish_reason: Some(reason),
        }],
        usage: Some(usage),
    })
    .into_response())
}
