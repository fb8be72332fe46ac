//! The OpenAI routes and `/v1/absa` with the real model.

use serde_json::json;

use crate::support::{chat_body, post, start, state, RUNTIME};

#[test]
fn chat_completion_in_vietnamese() {
    let _serial = crate::support::serial();
    let state = state(Default::default());
    let url = format!("{}/v1/chat/completions", start(state));
    let (status, body) = post(&url, &chat_body("Xin chào! Bạn có khỏe không?", 24), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "smollm2");
    let text = body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(!text.trim().is_empty(), "empty answer: {body}");
    assert!(
        body["usage"]["prompt_tokens"].as_u64().unwrap_or(0) > 5,
        "{body}"
    );
    let completion = body["usage"]["completion_tokens"].as_u64().unwrap_or(0);
    assert!((1..=24).contains(&completion), "{body}");
}

#[test]
fn chat_completion_in_swedish() {
    let _serial = crate::support::serial();
    let state = state(Default::default());
    let url = format!("{}/v1/chat/completions", start(state));
    let (status, body) = post(
        &url,
        &chat_body("Hej! Vad heter Sveriges huvudstad?", 24),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(!body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .is_empty());
    assert!(matches!(
        body["choices"][0]["finish_reason"].as_str(),
        Some("stop") | Some("length")
    ));
}

#[test]
fn max_tokens_bounds_the_answer_and_reports_length() {
    let _serial = crate::support::serial();
    let state = state(Default::default());
    let url = format!("{}/v1/chat/completions", start(state));
    let (status, body) = post(
        &url,
        &chat_body("Write a long story about a dragon.", 5),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 5);
}

#[test]
fn streaming_sends_chunks_and_done() {
    let _serial = crate::support::serial();
    let state = state(Default::default());
    let url = format!("{}/v1/chat/completions", start(state));
    let mut body = chat_body("Count from one to five.", 16);
    body["stream"] = json!(true);
    let text = RUNTIME.block_on(async {
        let response = reqwest::Client::new()
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream"));
        response.text().await.unwrap_or_default()
    });
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<serde_json::Value> = events[..events.len() - 1]
        .iter()
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect();
    assert!(chunks.len() >= 3, "{text}");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!content.trim().is_empty(), "{text}");
    let last = chunks.last().cloned().unwrap_or_default();
    assert!(last["choices"][0]["finish_reason"].is_string(), "{last}");
    assert!(
        last["usage"]["completion_tokens"].as_u64().unwrap_or(0) >= 1,
        "{last}"
    );
}

#[test]
fn text_completion_and_model_list() {
    let _serial = crate::support::serial();
    let state = state(Default::default());
    let base = start(state);
    let (status, body) = post(
        &format!("{base}/v1/completions"),
        &json!({"model": "smollm2", "prompt": "The capital of France is", "max_tokens": 6}),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "text_completion");
    assert!(
        !body["choices"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{body}"
    );
    let models: serde_json::Value = RUNTIME.block_on(async {
        reqwest::get(format!("{base}/v1/models"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_default()
    });
    let model = &models["data"][0];
    assert_eq!(model["id"], "smollm2");
    assert_eq!(model["status"], "loaded");
    assert_eq!(model["quantization"], "ISQ Q8_0");
    assert_eq!(model["context_length"], 8192);
    assert_eq!(model["sha256"].as_str().map(str::len), Some(64));
}

#[test]
fn json_object_response_format_yields_json() {
    let _serial = crate::support::serial();
    let state = state(Default::default());
    let url = format!("{}/v1/chat/completions", start(state));
    let mut body = chat_body("Give the name and age of a person as JSON.", 96);
    body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "person", "schema": {
        "type": "object", "properties": {"name": {"type": "string", "maxLength": 24}, "age": {"type": "integer"}},
        "required": ["name", "age"], "additionalProperties": false}}});
    let (status, reply) = post(&url, &body, None);
    assert_eq!(status, 200, "{reply}");
    let text = reply["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    let parsed: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert!(
        parsed["name"].is_string() && parsed["age"].is_i64(),
        "{parsed}"
    );
    // Regression: the answer ends with the grammar, not at max_tokens. llguidance ends a
    // grammar with <|endoftext|>, SmolLM2 stops on <|im_end|>, and every constrained answer
    // used to run on (invisibly) to its whole budget.
    assert_eq!(reply["choices"][0]["finish_reason"], "stop", "{reply}");
    assert!(
        reply["usage"]["completion_tokens"].as_u64().unwrap_or(96) < 96,
        "{reply}"
    );
}

#[test]
fn absa_route_uses_the_harness_prompt_and_parser_on_uit_visfd_sentences() {
    let _serial = crate::support::serial();
    let state = state(Default::default());
    let url = format!("{}/v1/absa", start(state));
    let data = harness::data::find_data_dir(None)
        .or_else(|_| {
            harness::data::find_data_dir(Some(std::path::Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/data"
            ))))
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let dataset = harness::data::load(harness::data::DatasetName::UitVisfd, "test", &data)
        .unwrap_or_else(|e| panic!("loading UIT-ViSFD test: {e}"));
    let labels = harness::data::DatasetName::UitVisfd.aspect_labels();
    for sample in dataset.samples.iter().take(3) {
        let (status, body) = post(
            &url,
            &json!({"text": sample.input, "task": "uit-visfd"}),
            None,
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["task"], "uit-visfd");
        assert!(body["raw"].is_string());
        for aspect in body["aspects"].as_array().cloned().unwrap_or_default() {
            assert!(
                aspect["aspect"].is_string() && aspect["polarity"].is_string(),
                "{aspect}"
            );
        }
        // Whatever the model said, the route parsed it exactly as the harness scorer would.
        let expected =
            harness::scoring::parse_absa(body["raw"].as_str().unwrap_or_default(), labels);
        let got: Vec<harness::data::AspectPair> = serde_json::from_value(body["aspects"].clone())
            .unwrap_or_else(|e| panic!("{e}: {body}"));
        let mut expected = expected.unwrap_or_default();
        expected.sort();
        expected.dedup();
        assert_eq!(got, expected);
    }
}
