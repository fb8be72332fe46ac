//! Batched decoding equals serial decoding: a server whose engine decodes up to four sequences
//! together gives four concurrent greedy requests, token for token, the answers it gives them
//! one at a time; requests with sampling controls decoded together get the answers the shared
//! engine (one sequence at a time, prefix cache on) gives them.

use std::sync::Arc;

use serde_json::json;
use serve::api::AppState;
use serve::config::ServeConfig;
use serve::engine::{Engine, ModelSpec};
use serve::registry::ModelRegistry;

use crate::support::{default_spec, post, serial, start, state, RUNTIME};

const PROMPTS: [&str; 4] = [
    "Write one sentence about the sea.",
    "Name three fruits that are red, and say why you like them.",
    "What is the capital of France? Answer and then describe the city in a sentence.",
    "Count from one to ten in words.",
];

fn ask(url: &str, prompt: &str) -> (String, u64) {
    ask_with(url, prompt, json!({"temperature": 0.0}))
}

/// The answer to `prompt` with the sampling fields `sampling`, and its token count.
fn ask_with(url: &str, prompt: &str, sampling: serde_json::Value) -> (String, u64) {
    let mut body = json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 32,
    });
    if let (Some(body), Some(sampling)) = (body.as_object_mut(), sampling.as_object()) {
        body.extend(sampling.clone());
    }
    let (status, answer) = post(&format!("{url}/v1/chat/completions"), &body, None);
    assert_eq!(status, 200, "{answer}");
    let text = answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_else(|| panic!("no content in {answer}"))
        .to_string();
    (
        text,
        answer["usage"]["completion_tokens"].as_u64().unwrap_or(0),
    )
}

#[test]
fn batched_greedy_decoding_equals_serial_decoding() {
    let _serial = serial();
    // The prefix cache is off so that every request is decoded from its own prefill.
    let spec = ModelSpec {
        max_seqs: 4,
        prefix_cache_mb: 0,
        ..default_spec()
    };
    let engine = RUNTIME
        .block_on(Engine::load(&spec))
        .unwrap_or_else(|e| panic!("loading the default model: {e}"));
    let registry = ModelRegistry::with_engine(spec, Arc::new(engine));
    let url = start(AppState::new(Arc::new(registry), ServeConfig::default()));

    let one_at_a_time: Vec<(String, u64)> = PROMPTS.iter().map(|p| ask(&url, p)).collect();
    let together: Vec<(String, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = PROMPTS
            .iter()
            .map(|prompt| scope.spawn(|| ask(&url, prompt)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| panic!("a request thread panicked"))
            })
            .collect()
    });
    for ((prompt, serial), batched) in PROMPTS.iter().zip(&one_at_a_time).zip(&together) {
        assert!(
            serial.1 > 4,
            "{prompt}: too short an answer to compare: {serial:?}"
        );
        assert_eq!(serial, batched, "{prompt}");
    }

    // Penalised, biased and top-k draws: together on this engine, alone on the shared one.
    let controlled = [
        json!({"temperature": 0.0, "presence_penalty": 1.5}),
        json!({"temperature": 0.0, "repetition_penalty": 1.3, "logit_bias": {"28": -100}}),
        json!({"temperature": 1.0, "seed": 4, "top_k": 20, "frequency_penalty": 0.5}),
    ];
    let shared = start(state(ServeConfig::default()));
    let alone: Vec<(String, u64)> = PROMPTS
        .iter()
        .zip(&controlled)
        .map(|(prompt, sampling)| ask_with(&shared, prompt, sampling.clone()))
        .collect();
    let together: Vec<(String, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = PROMPTS
            .iter()
            .zip(&controlled)
            .map(|(prompt, sampling)| scope.spawn(|| ask_with(&url, prompt, sampling.clone())))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| panic!("a request thread panicked"))
            })
            .collect()
    });
    for ((sampling, alone), together) in controlled.iter().zip(&alone).zip(&together) {
        assert_eq!(alone, together, "{sampling}");
    }
}
