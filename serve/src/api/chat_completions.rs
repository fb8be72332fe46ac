//! `POST /v1/chat/completions` (JSON or `stream: true` server-sent events).

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chat::{ChatChoice, ChatChunk, ChatRequest, ChatResponse, ChunkChoice, Delta, Message, Role};
use serde_json::json;

use super::error::ApiError;
use super::generate::{
    prepare, response_id, run_to_end, stream, unix_time, ChoicesUsage, LogprobsShape,
};
use super::logprobs::{chat_logprobs, Aligner};
use super::request::{read_json, refuse_unsupported};
use super::state::AppState;
use crate::engine::{json_schema_of, Prompt, Sampling};

/// Answers a chat completion.
pub async fn chat_completions(
    State(state): State<AppState>,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ChatRequest = read_json(body, state.config.limits.max_body_bytes).await?;
    let limits = &state.config.limits;
    refuse_unsupported(&request.other)?;
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
    let sampling = Sampling::of_chat(&request)?;
    let logprobs = sampling.logprobs.is_some();
    let prepared = prepare(
        &state,
        &request.model,
        Prompt::Chat(request.messages.clone()),
        "messages",
        sampling.choice(0),
        json_schema.clone(),
    )
    .await?;
    let model = prepared.engine.info().id.clone();
    let n = sampling.choices();
    let id = response_id("chatcmpl");
    let created = unix_time();
    if request.stream == Some(true) {
        if n > 1 {
            return Err(ApiError::bad_request("n", "a streamed answer serves n = 1"));
        }
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
                logprobs: None,
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
            move |text: Option<&str>,
                  finish: Option<&str>,
                  usage: Option<chat::Usage>,
                  logprobs: Option<serde_json::Value>| {
                let delta = Delta {
                    role: None,
                    content: text.map(str::to_string),
                };
                let mut value = json!(chunk(
                    id.clone(),
                    model.clone(),
                    delta,
                    finish.map(str::to_string),
                    usage
                ));
                if let Some(logprobs) = logprobs {
                    value["choices"][0]["logprobs"] = logprobs;
                }
                value
            },
        );
        let shape = logprobs.then_some(LogprobsShape::Chat);
        let sse = stream(&state, prepared, Some(json!(first)), builder, shape).await?;
        return Ok(sse.into_response());
    }
    let engine = prepared.engine.clone();
    let mut choices = Vec::with_capacity(n);
    let mut usage = ChoicesUsage::default();
    let mut next = Some(prepared);
    for index in 0..n {
        let prepared = match next.take() {
            Some(prepared) => prepared,
            None => {
                prepare(
                    &state,
                    &request.model,
                    Prompt::Chat(request.messages.clone()),
                    "messages",
                    sampling.choice(index),
                    json_schema.clone(),
                )
                .await?
            }
        };
        let collected = run_to_end(&state, prepared).await?;
        let logprobs = if logprobs {
            let tokens = engine.token_text();
            let pieces =
                Aligner::new(true).take(tokens, &collected.chosen, collected.text.len())?;
            Some(chat_logprobs(tokens, &pieces)?)
        } else {
            None
        };
        usage.add(&collected.usage);
        choices.push(ChatChoice {
            index: index as u32,
            message: Message::assistant(collected.text),
            finish_reason: Some(collected.reason),
            logprobs,
        });
    }
    let response = ChatResponse {
        id,
        object: "chat.completion".to_string(),
        created,
        model,
        choices,
        usage: Some(usage.total()),
    };
    Ok(axum::Json(response).into_response())
}
