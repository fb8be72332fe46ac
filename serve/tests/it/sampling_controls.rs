//! `logit_bias`, the penalties, `top_k` and `min_p` with the real default model, on chat and
//! text completions, greedy, seeded, unseeded and with log-probabilities (every path by which
//! r2l or mistral.rs chooses a token), and the in-process client; out-of-range values are
//! refused naming the field by the in-process client (and over HTTP in `refusals`).

use chat::ChatClient;
use serde_json::{json, Value};

use crate::support::{engine, merge, post, start, state, stream_chunks, RUNTIME};

/// A chat prompt and a text prompt the default model answers greedily by repeating itself.
const REPEATING_CHAT: &str = "List twenty fruits, separated by commas.";
const REPEATING_TEXT: &str = "List of fruits: apple, banana,";

fn chat(base: &str, content: &str, extra: Value) -> (String, Value) {
    let mut body = json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 16,
        "temperature": 0.0
    });
    merge(&mut body, &extra);
    let (status, answer) = post(&format!("{base}/v1/chat/completions"), &body, None);
    assert_eq!(status, 200, "{body}: {answer}");
    let text = answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_else(|| panic!("no content in {answer}"))
        .to_string();
    (text, answer)
}

fn complete(base: &str, prompt: &str, extra: Value) -> (String, Value) {
    let mut body =
        json!({"model": "smollm2", "prompt": prompt, "max_tokens": 16, "temperature": 0.0});
    merge(&mut body, &extra);
    let (status, answer) = post(&format!("{base}/v1/completions"), &body, None);
    assert_eq!(status, 200, "{body}: {answer}");
    let text = answer["choices"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {answer}"))
        .to_string();
    (text, answer)
}

/// The id of `text`, which must be one token.
fn token_id(base: &str, text: &str) -> u32 {
    let (status, answer) = post(
        &format!("{base}/tokenize"),
        &json!({"content": text, "add_special": false}),
        None,
    );
    assert_eq!(status, 200, "{answer}");
    match answer["tokens"].as_array().map(Vec::as_slice) {
        Some([id]) => id
            .as_u64()
            .map_or_else(|| panic!("{answer}"), |id| id as u32),
        _ => panic!("{text:?} is not one token: {answer}"),
    }
}

/// How often the most frequent word of `text` occurs.
fn most_repeated(text: &str) -> usize {
    let mut counts = std::collections::HashMap::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    counts.into_values().max().unwrap_or(0)
}

/// The paths that choose a token differently without controls: greedy (mistral.rs), a seeded
/// draw (r2l), an unseeded draw (mistral.rs) and log-probabilities (r2l's recorder).
fn paths(logprobs: Value) -> [Value; 4] {
    [
        json!({"temperature": 0.0}),
        json!({"temperature": 1.0, "seed": 3}),
        json!({"temperature": 1.0}),
        {
            let mut greedy = json!({"temperature": 0.0});
            merge(&mut greedy, &logprobs);
            greedy
        },
    ]
}

#[test]
fn logit_bias_forces_or_bans_a_token_on_every_path() {
    let _serial = crate::support::serial();
    let base = start(state(Default::default()));
    let hello = token_id(&base, "Hello");
    let forced = json!({"max_tokens": 3, "logit_bias": {hello.to_string(): 100}});
    for path in paths(json!({"logprobs": true})) {
        let mut extra = forced.clone();
        merge(&mut extra, &path);
        let (text, _) = chat(&base, "Name three colours.", extra.clone());
        assert_eq!(text, "HelloHelloHello", "chat {path}");
    }
    for path in paths(json!({"logprobs": 1})) {
        let mut extra = forced.clone();
        merge(&mut extra, &path);
        let (text, _) = complete(&base, REPEATING_TEXT, extra);
        assert_eq!(text, "HelloHelloHello", "completion {path}");
    }
    // The in-process client honours the bias too.
    let request: chat::ChatRequest = serde_json::from_value(json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Name three colours."}],
        "max_tokens": 3,
        "temperature": 0.0,
        "logit_bias": {hello.to_string(): 100}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let local = RUNTIME
        .block_on(engine().chat(&request))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(local.text(), "HelloHelloHello", "in-process");

    // −100 on the greedy answer's first token: no path starts with it.
    let first_token = |answer: &Value, chat: bool| -> String {
        let token = if chat {
            &answer["choices"][0]["logprobs"]["content"][0]["token"]
        } else {
            &answer["choices"][0]["logprobs"]["tokens"][0]
        };
        token
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"))
            .to_string()
    };
    let (_, greedy) = chat(&base, REPEATING_CHAT, json!({"logprobs": true}));
    let banned = first_token(&greedy, true);
    let ban = json!({"logprobs": true, "logit_bias": {token_id(&base, &banned).to_string(): -100}});
    for seed in [json!({}), json!({"temperature": 1.0, "seed": 3})] {
        let mut extra = ban.clone();
        merge(&mut extra, &seed);
        let (_, answer) = chat(&base, REPEATING_CHAT, extra);
        assert_ne!(first_token(&answer, true), banned, "chat {seed}");
    }
    let (_, greedy) = complete(&base, REPEATING_TEXT, json!({"logprobs": 0}));
    let banned = first_token(&greedy, false);
    let ban = json!({"logprobs": 0, "logit_bias": {token_id(&base, &banned).to_string(): -100}});
    for seed in [json!({}), json!({"temperature": 1.0, "seed": 3})] {
        let mut extra = ban.clone();
        merge(&mut extra, &seed);
        let (_, answer) = complete(&base, REPEATING_TEXT, extra);
        assert_ne!(first_token(&answer, false), banned, "completion {seed}");
    }
}

#[test]
fn top_k_1_and_min_p_1_sample_the_greedy_answer() {
    let _serial = crate::support::serial();
    let base = start(state(Default::default()));
    let prompt = "Tell me a short story about a cat.";
    let (greedy, _) = chat(&base, prompt, json!({}));
    for keep_one in [json!({"top_k": 1}), json!({"min_p": 1.0})] {
        for seed in [json!({"seed": 1}), json!({"seed": 2}), json!({})] {
            let mut extra = json!({"temperature": 1.0});
            merge(&mut extra, &keep_one);
            merge(&mut extra, &seed);
            let (text, _) = chat(&base, prompt, extra);
            assert_eq!(text, greedy, "chat {keep_one} {seed}");
        }
    }
    let (greedy, _) = complete(&base, REPEATING_TEXT, json!({}));
    let (text, _) = complete(
        &base,
        REPEATING_TEXT,
        json!({"temperature": 1.0, "seed": 5, "top_k": 1}),
    );
    assert_eq!(text, greedy, "completion top_k 1");
    // A sampled answer without them differs (the test would pass vacuously otherwise).
    let (sampled, _) = chat(&base, prompt, json!({"temperature": 1.0, "seed": 1}));
    assert_ne!(sampled, chat(&base, prompt, json!({})).0);
}

#[test]
fn penalties_reduce_repetition_and_are_reproducible() {
    let _serial = crate::support::serial();
    let base = start(state(Default::default()));
    let long = json!({"max_tokens": 40});
    let (greedy, _) = chat(&base, REPEATING_CHAT, long.clone());
    let repeats = most_repeated(&greedy);
    assert!(repeats >= 6, "the greedy answer should repeat: {greedy:?}");
    for penalty in [
        json!({"frequency_penalty": 1.0}),
        json!({"presence_penalty": 2.0}),
        json!({"repetition_penalty": 1.5}),
    ] {
        let mut extra = long.clone();
        merge(&mut extra, &penalty);
        let (text, _) = chat(&base, REPEATING_CHAT, extra.clone());
        assert_ne!(text, greedy, "{penalty}");
        assert!(
            most_repeated(&text) < repeats,
            "{penalty}: {text:?} repeats as much as {greedy:?}"
        );
        // Again (its prompt now in the prefix cache), and by the recorder that also returns
        // log-probabilities, and streamed: the same answer.
        assert_eq!(chat(&base, REPEATING_CHAT, extra.clone()).0, text, "again");
        let mut with_logprobs = extra.clone();
        merge(&mut with_logprobs, &json!({"logprobs": true}));
        assert_eq!(
            chat(&base, REPEATING_CHAT, with_logprobs).0,
            text,
            "logprobs"
        );
        let mut body = json!({"model": "smollm2", "messages": [{"role": "user", "content": REPEATING_CHAT}], "temperature": 0.0});
        merge(&mut body, &extra);
        let streamed: String = stream_chunks(&format!("{base}/v1/chat/completions"), &body)
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(streamed, text, "streamed {penalty}");
    }
    let (greedy, _) = complete(&base, REPEATING_TEXT, long.clone());
    let penalised = json!({"max_tokens": 40, "frequency_penalty": 1.0});
    let (text, _) = complete(&base, REPEATING_TEXT, penalised.clone());
    assert!(
        most_repeated(&text) < most_repeated(&greedy),
        "{text:?} vs {greedy:?}"
    );
    assert_eq!(complete(&base, REPEATING_TEXT, penalised).0, text, "again");
}

#[test]
fn out_of_range_controls_are_refused_in_process() {
    let _serial = crate::support::serial();
    let cases = crate::support::out_of_range_controls();
    for (extra, field) in cases {
        let mut chat_body =
            json!({"model": "smollm2", "messages": [{"role": "user", "content": "hi"}]});
        merge(&mut chat_body, &extra);
        let request: chat::ChatRequest =
            serde_json::from_value(chat_body).unwrap_or_else(|e| panic!("{e}"));
        let refused = RUNTIME.block_on(engine().chat(&request));
        assert!(
            matches!(&refused, Err(chat::ChatError::InvalidRequest(m)) if m.contains(field)),
            "in-process {extra}: {refused:?}"
        );
    }
}
