//! Stop sequences and seeds with the real model: the text ends before the stop string on every
//! path (chat, text completion, streaming, the in-process client), also when the stop string is
//! split over several tokens; a sampled request with a seed is reproducible.

use chat::ChatClient;
use serde_json::{json, Value};

use crate::support::{engine, post, start, state, stream_chunks, RUNTIME};

/// The concatenated deltas of a streamed answer and its finish reason.
fn streamed(url: &str, body: &Value, text_of: fn(&Value) -> Option<&str>) -> (String, String) {
    let chunks = stream_chunks(url, body);
    let text = chunks.iter().filter_map(text_of).collect();
    let finish = chunks
        .iter()
        .rev()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str())
        .unwrap_or_default()
        .to_string();
    (text, finish)
}

fn chat_delta(chunk: &Value) -> Option<&str> {
    chunk["choices"][0]["delta"]["content"].as_str()
}

fn completion_delta(chunk: &Value) -> Option<&str> {
    chunk["choices"][0]["text"].as_str()
}

/// A stop string that spans tokens: five characters from the middle of `text` (a token of this
/// model is rarely longer than four characters of such text).
fn spanning_stop(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let start = chars.len() / 2;
    chars[start..(start + 5).min(chars.len())].iter().collect()
}

#[test]
fn chat_answers_end_before_the_stop_string_on_every_path() {
    let _serial = crate::support::serial();
    let url = format!("{}/v1/chat/completions", start(state(Default::default())));
    let body = json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Write a short poem about the sea."}],
        "max_tokens": 48,
        "temperature": 0.0
    });
    let (status, free) = post(&url, &body, None);
    assert_eq!(status, 200, "{free}");
    let full = free["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        full.chars().count() > 20,
        "the answer is too short to cut: {full:?}"
    );
    // One character (a stop string within one token) and five characters (across tokens).
    let one_char: String = full
        .chars()
        .nth(full.chars().count() / 3)
        .into_iter()
        .collect();
    for stop in [one_char, spanning_stop(&full)] {
        let Some(at) = full.find(&stop) else {
            panic!("{stop:?} not in {full:?}")
        };
        let expected = &full[..at];
        let mut stopped = body.clone();
        stopped["stop"] = json!([stop]);
        let (status, answer) = post(&url, &stopped, None);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer["choices"][0]["message"]["content"], expected,
            "stop {stop:?}"
        );
        assert_eq!(answer["choices"][0]["finish_reason"], "stop");
        let (text, finish) = streamed(&url, &stopped, chat_delta);
        assert_eq!(text, expected, "streamed, stop {stop:?}");
        assert_eq!(finish, "stop");
        // The in-process client (what `r2l eval --local` and the distill agents use).
        let request: chat::ChatRequest =
            serde_json::from_value(stopped.clone()).unwrap_or_else(|e| panic!("{e}"));
        let local = RUNTIME
            .block_on(engine().chat(&request))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(local.text(), expected, "in-process, stop {stop:?}");
    }
}

#[test]
fn text_completions_end_before_the_stop_string() {
    let _serial = crate::support::serial();
    let url = format!("{}/v1/completions", start(state(Default::default())));
    let body = json!({
        "model": "smollm2",
        "prompt": "Question: What is 2 + 3?\nAnswer: 5\n\nQuestion: What is 4 + 4?\nAnswer:",
        "max_tokens": 24,
        "temperature": 0.0
    });
    let (status, free) = post(&url, &body, None);
    assert_eq!(status, 200, "{free}");
    let full = free["choices"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let stop = if full.contains("\n\n") {
        "\n\n".to_string()
    } else {
        spanning_stop(&full)
    };
    let at = full
        .find(&stop)
        .unwrap_or_else(|| panic!("{stop:?} not in {full:?}"));
    let mut stopped = body.clone();
    stopped["stop"] = json!(["Question:", stop]);
    let expected = &full[..full.find("Question:").map_or(at, |q| q.min(at))];
    let (status, answer) = post(&url, &stopped, None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["text"], expected);
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    let (text, finish) = streamed(&url, &stopped, completion_delta);
    assert_eq!((text.as_str(), finish.as_str()), (expected, "stop"));
}

#[test]
fn a_sampled_request_with_a_seed_gives_the_same_text_every_time() {
    let _serial = crate::support::serial();
    let url = format!("{}/v1/chat/completions", start(state(Default::default())));
    let body = |seed: u64| {
        json!({
            "model": "smollm2",
            "messages": [{"role": "user", "content": "Tell me a short story about a cat."}],
            "max_tokens": 24,
            "temperature": 1.0,
            "top_p": 0.95,
            "seed": seed
        })
    };
    let text = |seed: u64| {
        let (status, answer) = post(&url, &body(seed), None);
        assert_eq!(status, 200, "{answer}");
        answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let first = text(7);
    let other = text(8);
    let again = text(7);
    assert_eq!(
        first, again,
        "same seed, same text (another request ran in between)"
    );
    assert_ne!(first, other, "another seed samples another text");
}
