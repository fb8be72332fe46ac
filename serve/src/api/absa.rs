//! `POST /v1/absa`: aspect-based sentiment of one text with a harness ABSA task's own prompt and
//! parser (imported from the harness, not copied), so served answers score like evaluated ones.

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use harness::data::{DatasetName, Sample, Target, TaskFamily};
use harness::scoring::{pair_set, parse_absa, Scorer};
use harness::task::{request as task_request, resolve_task, Task};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::generate::{prepare, run_to_end};
use super::request::read_json;
use super::state::AppState;
use crate::engine::{Prompt, Sampling};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AbsaRequest {
    text: String,
    task: String,
    #[serde(default)]
    model: Option<String>,
}

/// The task `/v1/absa` serves under `name`: the default task of an ABSA dataset.
fn absa_task(name: &str) -> Result<Task, ApiError> {
    let absa_tasks = DatasetName::names_where(|family| family == TaskFamily::Absa);
    if !absa_tasks.contains(&name) {
        return Err(ApiError::bad_request(
            "task",
            format!(
                "unknown ABSA task `{name}`; valid: {}",
                absa_tasks.join(", ")
            ),
        ));
    }
    resolve_task(name).map_err(ApiError::internal)
}

/// Extracts (aspect, polarity) pairs from `text`.
pub async fn absa(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let request: AbsaRequest = read_json(body, state.config.limits.max_body_bytes).await?;
    let text: String = {
        use unicode_normalization::UnicodeNormalization;
        request.text.trim().nfc().collect()
    };
    if text.is_empty() {
        return Err(ApiError::bad_request("text", "`text` is empty"));
    }
    let task = absa_task(&request.task)?;
    let Scorer::AbsaF1 { labels } = &task.scorer else {
        return Err(ApiError::internal(format!(
            "task {} is not an ABSA task",
            task.name
        )));
    };
    let sample = Sample {
        id: "request".to_string(),
        input: text,
        choices: Vec::new(),
        target: Target::Aspects { labels: Vec::new() },
        meta: Default::default(),
    };
    // The request `r2l eval` sends for this text: the task's prompt and every generation
    // setting (stop sequences and seed included), built by the harness, not rebuilt here.
    let model = request.model.unwrap_or_default();
    let chat_request = task_request(&task, &model, &sample, &[]);
    let sampling = Sampling::of_chat(&chat_request)?;
    let prepared = prepare(
        &state,
        &model,
        Prompt::Chat(chat_request.messages.clone()),
        "text",
        sampling,
        None,
    )
    .await?;
    let model_id = prepared.engine.info().id.clone();
    let collected = run_to_end(&state, prepared).await?;
    let (raw, usage) = (collected.text, collected.usage);
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let (aspects, parse_error) = match parse_absa(&raw, &label_refs) {
        Ok(pairs) => (pair_set(pairs), None),
        Err(reason) => (Vec::new(), Some(reason)),
    };
    Ok(axum::Json(json!({
        "aspects": aspects,
        "raw": raw,
        "model": model_id,
        "task": task.name,
        "parse_error": parse_error,
        "usage": usage,
    }))
    .into_response())
}
