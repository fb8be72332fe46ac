//! Requests refused before any model is asked — malformed bodies, wrong types, an unknown model
//! or task, the server's limits, fields it does not honour, out-of-range sampling controls — are
//! a 4xx naming the field, through `oneshot` on the app over [`UnaskedModel`]: a model that
//! answers what the checks read (its id, context and tokenizer) and is never asked to tokenize a
//! prompt, generate or score. The same requests that are accepted are answered by the real
//! default model in the other test modules.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};
use serve::api::{app, AppState};
use serve::config::{Limits, ServeConfig};
use serve::engine::{
    Generation, GenerationRequest, ModelFormat, ModelInfo, Prompt, ScoredPrompt, ServedModel,
    TokenText,
};
use serve::registry::ModelRegistry;
use tower::ServiceExt;

use crate::support::{chat_body, default_spec, merge, RUNTIME};

/// A model with the default model's id, context length and tokenizer, and no weights: the
/// requests sent to it must be refused before a model is asked, so asking it to tokenize a
/// prompt, generate or score records the question and fails.
struct UnaskedModel {
    info: ModelInfo,
    tokens: TokenText,
    asked: Mutex<Vec<&'static str>>,
}

impl UnaskedModel {
    fn new() -> UnaskedModel {
        let spec = default_spec();
        let tokens = TokenText::load(&spec.path, ModelFormat::Safetensors)
            .unwrap_or_else(|e| panic!("the default model's tokenizer: {e}"));
        UnaskedModel {
            info: ModelInfo {
                id: spec.id,
                path: spec.path.display().to_string(),
                quantization: "none (no weights loaded)".to_string(),
                context_length: 8192,
                sha256: String::new(),
            },
            tokens,
            asked: Mutex::new(Vec::new()),
        }
    }

    /// Records that the model was asked to `what`, and fails.
    fn ask<T>(&self, what: &'static str) -> serve::Result<T> {
        self.asked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(what);
        Err(serve::Error::Engine(format!(
            "asked to {what} for a request that should have been refused"
        )))
    }

    /// What the model was asked so far.
    fn asked(&self) -> Vec<&'static str> {
        self.asked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

#[async_trait]
impl ServedModel for UnaskedModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn token_text(&self) -> &TokenText {
        &self.tokens
    }

    async fn prompt_ids(&self, _prompt: &Prompt) -> serve::Result<Vec<u32>> {
        self.ask("tokenize a prompt")
    }

    async fn generate(
        &self,
        _request: GenerationRequest,
        _prompt_tokens: usize,
    ) -> serve::Result<Generation> {
        self.ask("generate")
    }

    async fn score_prompt(&self, _prompt: &Prompt, _top: usize) -> serve::Result<ScoredPrompt> {
        self.ask("score a prompt")
    }
}

/// The app over an [`UnaskedModel`] with `limits`, and the model (to read what it was asked).
struct Refusing {
    state: AppState,
    model: Arc<UnaskedModel>,
}

impl Refusing {
    fn new(limits: Limits) -> Refusing {
        let model = Arc::new(UnaskedModel::new());
        let registry = ModelRegistry::with_engine(default_spec(), model.clone());
        let config = ServeConfig {
            api_keys: Vec::new(),
            limits,
        };
        Refusing {
            state: AppState::new(Arc::new(registry), config),
            model,
        }
    }

    /// POSTs `body` to `path` through `oneshot`: (status, body as JSON).
    fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        RUNTIME.block_on(async {
            let request = Request::post(path)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap_or_else(|e| panic!("{e}"));
            let response = app(self.state.clone())
                .oneshot(request)
                .await
                .unwrap_or_else(|e| panic!("POST {path}: {e}"));
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap_or_else(|e| panic!("reading the answer to POST {path}: {e}"));
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }

    /// Asserts that `body` POSTed to `path` is refused with `status` and an OpenAI-shaped error
    /// naming `param` (None: no field named), before the model was asked; returns the error.
    fn refuses(&self, path: &str, body: Vec<u8>, status: u16, param: Option<&str>) -> Value {
        let shown = String::from_utf8_lossy(&body)
            .chars()
            .take(200)
            .collect::<String>();
        let (got, error) = self.post_raw(path, body);
        assert_eq!(got, status, "{path} {shown}: {error}");
        assert!(
            error["error"]["message"].is_string() && error["error"]["type"].is_string(),
            "not an OpenAI error: {error}"
        );
        if let Some(param) = param {
            assert_eq!(error["error"]["param"], param, "{path} {shown}: {error}");
        }
        assert_eq!(
            self.model.asked(),
            Vec::<&str>::new(),
            "{path} {shown}: the model was asked"
        );
        error
    }

    /// [`Refusing::refuses`] for a JSON body.
    fn refuses_json(&self, path: &str, body: &Value, status: u16, param: Option<&str>) -> Value {
        self.refuses(path, body.to_string().into_bytes(), status, param)
    }
}

#[test]
fn oversized_body_is_413() {
    let app = Refusing::new(Limits {
        max_body_bytes: 1024,
        ..Limits::default()
    });
    let body = chat_body(&"a".repeat(4096), 2);
    app.refuses_json("/v1/chat/completions", &body, 413, None);
}

#[test]
fn too_many_messages_is_400() {
    let app = Refusing::new(Limits {
        max_messages: 3,
        ..Limits::default()
    });
    let messages: Vec<_> = (0..4)
        .map(|i| json!({"role": "user", "content": format!("m{i}")}))
        .collect();
    let body = json!({"model": "smollm2", "messages": messages});
    app.refuses_json("/v1/chat/completions", &body, 400, Some("messages"));
}

#[test]
fn max_tokens_over_the_cap_is_400() {
    let app = Refusing::new(Limits {
        max_tokens_cap: 64,
        ..Limits::default()
    });
    let body = chat_body("hi", 65);
    app.refuses_json("/v1/chat/completions", &body, 400, Some("max_tokens"));
}

#[test]
fn unknown_model_is_404() {
    let app = Refusing::new(Limits::default());
    let mut body = chat_body("hi", 2);
    body["model"] = json!("gpt-9");
    let error = app.refuses_json("/v1/chat/completions", &body, 404, Some("model"));
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("smollm2"),
        "the served models are listed: {error}"
    );
}

#[test]
fn malformed_json_wrong_types_and_invalid_utf8_are_4xx() {
    let app = Refusing::new(Limits::default());
    let url = "/v1/chat/completions";
    let truncated = b"{\"model\": \"smollm2\", \"messages\": [".to_vec();
    app.refuses(url, truncated, 400, None);
    let not_a_list = br#"{"model": "smollm2", "messages": "hello"}"#.to_vec();
    app.refuses(url, not_a_list, 422, Some("messages"));
    let hot = br#"{"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}"#;
    app.refuses(url, hot.to_vec(), 422, Some("temperature"));
    app.refuses(url, vec![b'{', 0xff, 0xfe, b'}'], 400, None);
    // n over the default cap of 8.
    let nine = br#"{"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "n": 9}"#;
    app.refuses(url, nine.to_vec(), 400, Some("n"));
}

#[test]
fn fields_the_server_does_not_honour_are_refused_by_name() {
    let app = Refusing::new(Limits::default());
    let chat = "/v1/chat/completions";
    let completions = "/v1/completions";
    let messages = json!([{"role": "user", "content": "hi"}]);
    let cases = [
        (
            chat,
            json!({"model": "smollm2", "messages": messages, "tools": []}),
            "tools",
        ),
        (
            chat,
            json!({"model": "smollm2", "messages": messages, "logprobs": true, "top_logprobs": 21}),
            "top_logprobs",
        ),
        (
            completions,
            json!({"model": "smollm2", "prompt": "hi", "suffix": "!"}),
            "suffix",
        ),
        (
            completions,
            json!({"model": "smollm2", "prompt": "hi", "max_tokens": 0}),
            "max_tokens",
        ),
        (
            completions,
            json!({"model": "smollm2", "prompt": [1, 2, 999999], "max_tokens": 1}),
            "prompt",
        ),
        (
            completions,
            json!({"model": "smollm2", "prompt": "hi", "logprobs": 21}),
            "logprobs",
        ),
    ];
    for (path, body, field) in cases {
        app.refuses_json(path, &body, 400, Some(field));
    }
}

#[test]
fn out_of_range_controls_are_refused_by_name() {
    let app = Refusing::new(Limits::default());
    // The default model's tokenizer: id 49152 is the first outside its vocabulary.
    assert_eq!(app.model.token_text().vocab_size(), 49152);
    let cases = crate::support::out_of_range_controls();
    for (extra, field) in cases {
        let mut chat = json!({"model": "smollm2", "messages": [{"role": "user", "content": "hi"}]});
        merge(&mut chat, &extra);
        let mut text = json!({"model": "smollm2", "prompt": "hi"});
        merge(&mut text, &extra);
        app.refuses_json("/v1/chat/completions", &chat, 400, Some(field));
        app.refuses_json("/v1/completions", &text, 400, Some(field));
    }
    // A control of the wrong type: 422 naming it, on completions too.
    let wrong_type = json!({"model": "smollm2", "prompt": "hi", "top_k": "five"});
    app.refuses_json("/v1/completions", &wrong_type, 422, Some("top_k"));
}

#[test]
fn tokenize_and_detokenize_refuse_what_they_cannot_serve() {
    let app = Refusing::new(Limits::default());
    let outside = json!({"tokens": [1, 999999]});
    app.refuses_json("/detokenize", &outside, 400, Some("tokens"));
    let nothing = json!({"add_special": true});
    app.refuses_json("/tokenize", &nothing, 400, Some("content"));
}

#[test]
fn absa_refuses_a_task_that_is_not_absa() {
    let app = Refusing::new(Limits::default());
    let body = json!({"text": "pin tốt", "task": "imdb"});
    app.refuses_json("/v1/absa", &body, 400, Some("task"));
}
