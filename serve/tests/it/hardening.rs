//! The hardening rules that need the real model: the API key in front of an answer, a prompt over
//! the context, the queue limit, the timeout and a client leaving mid-stream. Bad input refused
//! before a model is asked is in `refusals`.

use std::time::Duration;

use serde_json::json;
use serve::config::{Limits, ServeConfig};

use crate::support::{chat_body, post, post_raw, start, state, RUNTIME};

fn limited(limits: Limits) -> ServeConfig {
    ServeConfig {
        api_keys: Vec::new(),
        limits,
    }
}

fn assert_openai_error(body: &serde_json::Value) {
    assert!(
        body["error"]["message"].is_string() && body["error"]["type"].is_string(),
        "not an OpenAI error: {body}"
    );
}

#[test]
fn missing_or_wrong_api_key_is_401() {
    let _serial = crate::support::serial();
    let config = ServeConfig {
        api_keys: vec!["k1".into(), "k2".into()],
        limits: Limits::default(),
    };
    let state = state(config);
    let base = start(state);
    let url = format!("{base}/v1/chat/completions");
    let (status, body) = post(&url, &chat_body("hi", 2), None);
    assert_eq!(status, 401);
    assert_openai_error(&body);
    assert_eq!(post(&url, &chat_body("hi", 2), Some("nope")).0, 401);
    assert_eq!(post(&url, &chat_body("hi", 2), Some("k2")).0, 200);
    // Probes stay open.
    let health = RUNTIME.block_on(async {
        reqwest::get(format!("{base}/health"))
            .await
            .map(|r| r.status().as_u16())
    });
    assert_eq!(health.ok(), Some(200));
}

#[test]
fn prompt_over_the_context_is_400() {
    let _serial = crate::support::serial();
    let state = state(limited(Limits {
        max_body_bytes: 4 << 20,
        ..Limits::default()
    }));
    let url = format!("{}/v1/chat/completions", start(state));
    let long = "word ".repeat(20_000);
    let (status, body) = post(&url, &chat_body(&long, 8), None);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("context"),
        "{body}"
    );
}

#[test]
fn requests_over_the_queue_limit_are_429_with_retry_after() {
    let _serial = crate::support::serial();
    let state = state(limited(Limits {
        max_in_flight: 1,
        max_queue: 0,
        ..Limits::default()
    }));
    let url = format!("{}/v1/chat/completions", start(state));
    let busy = {
        let url = url.clone();
        RUNTIME.spawn(async move {
            reqwest::Client::new()
                .post(&url)
                .json(&chat_body("Tell a long story.", 200))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let (status, body, headers) = post_raw(
        &url,
        serde_json::to_vec(&chat_body("hi", 2)).unwrap_or_default(),
    );
    assert_eq!(status, 429, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(RUNTIME.block_on(busy).ok().and_then(|r| r.ok()), Some(200));
}

#[test]
fn generation_over_the_timeout_is_504_and_the_server_keeps_serving() {
    let _serial = crate::support::serial();
    let state = state(limited(Limits {
        request_timeout: Duration::from_secs(2),
        ..Limits::default()
    }));
    let url = format!("{}/v1/chat/completions", start(state));
    let (status, body) = post(
        &url,
        &chat_body("Write a very long essay about the sea.", 2000),
        None,
    );
    assert_eq!(status, 504, "{body}");
    assert_openai_error(&body);
    let (status, body) = post(&url, &chat_body("hi", 1), None);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn client_disconnect_mid_stream_cancels_the_generation() {
    let _serial = crate::support::serial();
    let state = state(limited(Limits {
        max_in_flight: 1,
        max_queue: 4,
        ..Limits::default()
    }));
    let base = start(state);
    let url = format!("{base}/v1/chat/completions");
    let mut body = chat_body("Write a very long essay about the sea.", 3000);
    body["stream"] = json!(true);
    RUNTIME.block_on(async {
        let mut response = reqwest::Client::new()
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..3 {
            let _ = response.chunk().await;
        }
        drop(response);
    });
    // The single slot is freed: a short request is answered and the in-flight gauge returns to
    // 0; no tokens of the cancelled generation are counted as delivered.
    let (status, body) = post(&url, &chat_body("hi", 2), None);
    assert_eq!(status, 200, "{body}");
    let delivered = body["usage"]["completion_tokens"].as_u64().unwrap_or(0);
    let metrics = RUNTIME.block_on(async {
        reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_default()
    });
    assert!(metrics.contains("r2l_in_flight 0"), "{metrics}");
    assert!(
        metrics.contains("r2l_requests_total{route=\"/v1/chat/completions\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("r2l_tokens_out_total {delivered}\n")),
        "only the short request's {delivered} token(s) count as delivered: {metrics}"
    );
}
