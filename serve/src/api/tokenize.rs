//! `POST /tokenize` and `POST /detokenize`, accepting llama.cpp's request shape (`content`,
//! `add_special`) and vLLM's (`model`, `prompt` or `messages`), and answering with both's fields;
//! `GET /tokenizer_info` in vLLM's shape (what lm-eval's remote tokenizer reads first).

use axum::body::Body;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::request::read_json;
use super::state::AppState;
use crate::engine::Prompt;

/// A tokenize request: text (`content` or `prompt`) or a conversation (`messages`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizeRequest {
    /// The model (the default one when absent).
    #[serde(default)]
    model: Option<String>,
    /// Text (llama.cpp).
    #[serde(default)]
    content: Option<String>,
    /// Text (vLLM).
    #[serde(default)]
    prompt: Option<String>,
    /// A conversation, rendered with the model's chat template and generation prompt.
    #[serde(default)]
    messages: Option<Vec<chat::Message>>,
    /// Add the tokenizer's special tokens (BOS...) to text, as the engine does for a
    /// completion (default true, as vLLM's `add_special_tokens`).
    #[serde(default, alias = "add_special_tokens")]
    add_special: Option<bool>,
}

/// A detokenize request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetokenizeRequest {
    /// The model (the default one when absent).
    #[serde(default)]
    model: Option<String>,
    /// The ids.
    tokens: Vec<u32>,
}

/// The ids the model reads for a text or a conversation.
pub async fn tokenize(State(state): State<AppState>, body: Body) -> Result<Json<Value>, ApiError> {
    let request: TokenizeRequest = read_json(body, state.config.limits.max_body_bytes).await?;
    let engine = state.engine(request.model.as_deref())?;
    let text = request.content.or(request.prompt);
    let ids = match (text, request.messages) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "messages",
                "send either text (`content` or `prompt`) or `messages`, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "content",
                "nothing to tokenize: send `content`, `prompt` or `messages`",
            ))
        }
        (None, Some(messages)) => engine
            .prompt_ids(&Prompt::Chat(messages))
            .await
            .map_err(ApiError::internal)?,
        (Some(text), None) if request.add_special.unwrap_or(true) => engine
            .prompt_ids(&Prompt::Text(text))
            .await
            .map_err(ApiError::internal)?,
        (Some(text), None) => engine
            .token_text()
            .encode(&text)
            .map_err(ApiError::internal)?,
    };
    Ok(Json(json!({
        "tokens": ids,
        "count": ids.len(),
        "max_model_len": engine.info().context_length,
    })))
}

/// The text of token ids (special tokens kept as written).
pub async fn detokenize(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let request: DetokenizeRequest = read_json(body, state.config.limits.max_body_bytes).await?;
    let engine = state.engine(request.model.as_deref())?;
    let vocab = engine.token_text().vocab_size();
    if let Some(at) = request.tokens.iter().position(|&id| id as usize >= vocab) {
        return Err(ApiError::bad_request(
            "tokens",
            format!(
                "token id {} (position {at}) is outside the model's vocabulary of {vocab}",
                request.tokens[at]
            ),
        ));
    }
    let text = engine
        .token_text()
        .decode(&request.tokens)
        .map_err(ApiError::internal)?;
    Ok(Json(json!({"content": text, "prompt": text})))
}

/// The default model's tokenizer facts: its special tokens and context length.
pub async fn tokenizer_info(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let engine = state.engine(None)?;
    let tokens = engine.token_text();
    Ok(Json(json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": tokens.bos(),
        "eos_token": tokens.eos(),
        "pad_token": null,
        "model_max_length": engine.info().context_length,
        "vocab_size": tokens.vocab_size(),
    })))
}
