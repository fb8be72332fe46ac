//! `POST /v1/completions`: raw-text completion without the chat template, with OpenAI's
//! `logprobs` (the generated tokens' and, with `echo`, the prompt's) and several prompts or
//! token-id prompts in one request (answered one after the other, one choice each).

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chat::{
    CompletionChoice, CompletionLogprobs, CompletionRequest, CompletionResponse,
    Prompt as WirePrompt, SamplingControls, Usage,
};
use serde_json::json;

use super::error::ApiError;
use super::generate::{
    prepare, response_id, run_to_end, stream, unix_time, ChoicesUsage, LogprobsShape,
};
use super::logprobs::{completion_logprobs, Aligner};
use super::request::{read_json, refuse_unsupported};
use super::state::AppState;
use crate::engine::{Controls, Prompt, Sampling, ScoredPrompt, ServedModel};

/// Most prompts in one request (lm-eval sends one per request unless told to batch).
const MAX_PROMPTS: usize = 64;

/// Answers a text completion.
pub async fn completions(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let mut request: CompletionRequest =
        read_json(body, state.config.limits.max_body_bytes).await?;
    let controls = SamplingControls::take_from(&mut request.other).map_err(|(field, error)| {
        ApiError::unprocessable(Some(field.to_string()), error.to_string())
    })?;
    refuse_unsupported(&request.other)?;
    let prompts = prompts_of(&request.prompt)?;
    let sampling = Sampling::of_completion(&request, controls)?;
    let echo = request.echo == Some(true);
    let generate = request.max_tokens != Some(0);
    if !generate && !echo {
        return Err(ApiError::bad_request(
            "max_tokens",
            "max_tokens 0 is only served with `echo: true` (the prompt's log-probabilities)",
        ));
    }
    let max_n = state.config.limits.max_n;
    if sampling.choices() == 0 || sampling.choices() > max_n {
        return Err(ApiError::bad_request(
            "n",
            format!("n must be from 1 to {max_n}, got {}", sampling.choices()),
        ));
    }
    let engine = state.engine(Some(&request.model))?;
    // Checked here too (not only when generating): an echo-only request must not accept them.
    Controls::check(&sampling.controls, engine.token_text().vocab_size())?;
    for (index, prompt) in prompts.iter().enumerate() {
        check_prompt(engine.as_ref(), prompt, index, prompts.len())?;
    }
    let model = engine.info().id.clone();
    let id = response_id("cmpl");
    let created = unix_time();
    if request.stream == Some(true) {
        if prompts.len() > 1 || echo || sampling.choices() > 1 {
            return Err(ApiError::bad_request(
                "stream",
                "a streamed completion serves one prompt, n = 1, without `echo`",
            ));
        }
        let Some(prompt) = prompts.into_iter().next() else {
            return Err(ApiError::bad_request("prompt", "`prompt` is empty"));
        };
        let prepared = prepare(
            &state,
            &request.model,
            prompt,
            "prompt",
            sampling.clone(),
            None,
        )
        .await?;
        let builder = Box::new(
            move |text: Option<&str>,
                  finish: Option<&str>,
                  usage: Option<chat::Usage>,
                  logprobs: Option<serde_json::Value>| {
                json!({
                    "id": id,
                    "object": "text_completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "text": text.unwrap_or(""), "finish_reason": finish, "logprobs": logprobs}],
                    "usage": usage,
                })
            },
        );
        let shape = sampling.logprobs.map(|_| LogprobsShape::Completion);
        return Ok(stream(&state, prepared, None, builder, shape)
            .await?
            .into_response());
    }
    let n = sampling.choices();
    let mut choices = Vec::with_capacity(prompts.len() * n);
    let mut usage = Usage::default();
    for (p, prompt) in prompts.into_iter().enumerate() {
        // The echoed prompt (its text, and its tokens' log-probabilities when asked for), the
        // same before each of the prompt's choices.
        let mut echoed = String::new();
        let mut echoed_logprobs = CompletionLogprobs::default();
        let mut prompt = prompt;
        let mut prompt_usage = Usage::default();
        if echo {
            let scored = score_prompt(&state, engine.as_ref(), &prompt, sampling.logprobs).await?;
            echoed = scored.text;
            if sampling.logprobs.is_some() {
                echoed_logprobs = scored.logprobs;
            }
            let count = scored.ids.len() as u64;
            prompt_usage = Usage {
                prompt_tokens: count,
                completion_tokens: 0,
                total_tokens: count,
            };
            // The answer continues exactly the ids scored.
            prompt = Prompt::Tokens(scored.ids);
        }
        let mut choice_usage = ChoicesUsage::default();
        for i in 0..n {
            let mut text = echoed.clone();
            let mut logprobs = echoed_logprobs.clone();
            let mut reason = "length".to_string();
            if generate {
                let prepared = prepare(
                    &state,
                    &request.model,
                    prompt.clone(),
                    "prompt",
                    sampling.choice(i),
                    None,
                )
                .await?;
                let collected = run_to_end(&state, prepared).await?;
                if sampling.logprobs.is_some() {
                    let pieces = Aligner::new(false).take(
                        engine.token_text(),
                        &collected.chosen,
                        collected.text.len(),
                    )?;
                    completion_logprobs(engine.token_text(), &pieces, text.len(), &mut logprobs)?;
                }
                text.push_str(&collected.text);
                reason = collected.reason;
                choice_usage.add(&collected.usage);
            }
            choices.push(CompletionChoice {
                index: (p * n + i) as u32,
                text,
                finish_reason: Some(reason),
                logprobs: sampling.logprobs.map(|_| logprobs),
            });
        }
        usage.add(&if generate {
            choice_usage.total()
        } else {
            prompt_usage
        });
    }
    Ok(axum::Json(CompletionResponse {
        id,
        object: "text_completion".to_string(),
        created,
        model,
        choices,
        usage: Some(usage),
    })
    .into_response())
}

/// The request's prompts, at least one and at most [`MAX_PROMPTS`].
fn prompts_of(prompt: &WirePrompt) -> Result<Vec<Prompt>, ApiError> {
    let prompts: Vec<Prompt> = match prompt {
        WirePrompt::One(text) => vec![Prompt::Text(text.clone())],
        WirePrompt::Many(texts) => texts.iter().cloned().map(Prompt::Text).collect(),
        WirePrompt::Tokens(ids) => vec![Prompt::Tokens(ids.clone())],
        WirePrompt::ManyTokens(lists) => lists.iter().cloned().map(Prompt::Tokens).collect(),
    };
    if prompts.is_empty() {
        return Err(ApiError::bad_request("prompt", "`prompt` is an empty list"));
    }
    if prompts.len() > MAX_PROMPTS {
        return Err(ApiError::bad_request(
            "prompt",
            format!(
                "{} prompts; at most {MAX_PROMPTS} are served per request",
                prompts.len()
            ),
        ));
    }
    Ok(prompts)
}

/// 400 for an empty prompt or a token id outside the model's vocabulary, naming which prompt.
fn check_prompt(
    engine: &dyn ServedModel,
    prompt: &Prompt,
    index: usize,
    count: usize,
) -> Result<(), ApiError> {
    let param = if count == 1 {
        "prompt".to_string()
    } else {
        format!("prompt[{index}]")
    };
    match prompt {
        Prompt::Text(text) if text.is_empty() => {
            Err(ApiError::bad_request(param, "the prompt is empty"))
        }
        Prompt::Tokens(ids) if ids.is_empty() => {
            Err(ApiError::bad_request(param, "the prompt has no token ids"))
        }
        Prompt::Tokens(ids) => {
            let vocab = engine.token_text().vocab_size();
            match ids.iter().position(|&id| id as usize >= vocab) {
                Some(at) => Err(ApiError::bad_request(
                    param,
                    format!(
                        "token id {} (position {at}) is outside the model's vocabulary of {vocab}",
                        ids[at]
                    ),
                )),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// The prompt scored (its log-probabilities computed only when asked for), within the
/// admission limits and the request timeout.
async fn score_prompt(
    state: &AppState,
    engine: &dyn ServedModel,
    prompt: &Prompt,
    top: Option<usize>,
) -> Result<ScoredPrompt, ApiError> {
    let ids = engine
        .prompt_ids(prompt)
        .await
        .map_err(ApiError::internal)?;
    let Some(top) = top else {
        let text = engine
            .token_text()
            .decode(&ids)
            .map_err(ApiError::internal)?;
        return Ok(ScoredPrompt {
            ids,
            text,
            logprobs: Default::default(),
        });
    };
    let context = engine.info().context_length;
    if ids.len() > context {
        return Err(ApiError::bad_request(
            "prompt",
            format!(
                "the prompt takes {} tokens; the model's context is {context} tokens",
                ids.len()
            ),
        ));
    }
    let _slot = state.admission.admit().await?;
    let limit = state.config.limits.request_timeout;
    match tokio::time::timeout(limit, engine.score_prompt(&Prompt::Tokens(ids), top)).await {
        Err(_) => Err(ApiError::timeout(limit.as_secs_f64())),
        Ok(result) => result.map_err(ApiError::internal),
    }
}
