//! `POST /v1/chat/completions` (JSON or `stream: true` server-sent events).

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chat::{ChatChoice, ChatChunk, ChatRequest, ChatResponse, ChunkChoice, Delta, Message, Role};
use serde_json::json;

use super::error::ApiError;
use super::generate::{prepare, response_id, run_to_end, stream, unix_time, Sampling};
use super::request::read_json;
use super::state::AppState;
use crate::engine::{json_schema_of, Prompt};

/// Answers a chat completion.
pub async fn chat_completions(
    State(state): State<AppState>,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ChatRequest = read_json(body, state.config.limits.max_body_bytes).await?;
    let limits = &state.config.limits;
    if request.messages.is_empty() {
        return Err(ApiError::bad_request(
            "messages",
            "`messages` must hold at least one message",
        ));
    }
    if request.messages.len() > limits.max_messages {
        return Err(ApiError::bad_request(
            "messages",
            format!(
                "{} messages; at most {} are accepted",
                request.messages.len(),
                limits.max_messages
            ),
        ));
    }
    let json_schema = json_schema_of(request.response_format.as_ref());
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
        Prompt::Chat(request.messages.clone()),
        "messages",
        sampling,
        json_schema,
    )
    .await?;
    let model = prepared.engine.info().id.clone();
    let id = response_id("chatcmpl");
    let created = unix_time();
    if request.stream == Some(true) {
        let chunk = move |id: String,
                          model: String,
                          delta: Delta,
                          finish: Option<String>,
                          usage: Option<chat::Usage>| ChatChunk {
            id,
            object: "chat.completion.chunk".to_string(),
            created,
            model,
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish,
            }],
            usage,
        };
        let first = chunk(
            id.clone(),
            model.clone(),
            Delta {
                role: Some(Role::Assistant),
                content: Some(String::new()),
            },
            None,
            None,
        );
        let builder = Box::new(
            move |text: Option<&str>, finish: Option<&str>, usage: Option<chat::Usage>| {
                let delta = Delta {
                    role: None,
                    content: text.map(str::to_string),
                };
                json!(chunk(
                    id.clone(),
                    model.clone(),
                    delta,
                    finish.map(str::to_string),
                    usage
                ))
            },
        );
        let sse = stream(&state, prepared, Some(json!(first)), builder).await?;
        return Ok(sse.into_response());
    }
    let (text, reason, usage) = run_to_end(&state, prepared).await?;
    let response = ChatResponse {
        id,
        object: "chat.completion".to_string(),
        created,
        model,
        choices: vec![ChatChoice {
            index: 0,
            message: Message::assistant(text),
            finish_reason: Some(reason),
        }],
        usage: Some(usage),
    };
    Ok(axum::Json(response).into_response())
}
