//! OpenAI log-probabilities with the real default model: a greedy answer's tokens are the top
//! alternatives at their positions (chat, streamed or not); echo scores a prompt as the model
//! scored the same tokens while generating them; fields that do not change the answer are
//! accepted (the fields the server does not honour are refused in `refusals`).

use serde_json::{json, Value};

use crate::support::{engine, post, start, state, stream_chunks, RUNTIME};
use serve::engine::Prompt;

fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

/// The chat `logprobs.content` entries of a streamed answer, in order.
fn streamed_content(url: &str, body: &Value) -> Vec<Value> {
    stream_chunks(url, body)
        .into_iter()
        .flat_map(|chunk| {
            chunk["choices"][0]["logprobs"]["content"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn a_greedy_chat_answer_is_the_top_alternative_at_every_position() {
    let _serial = crate::support::serial();
    let url = format!("{}/v1/chat/completions", start(state(Default::default())));
    let body = json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Name three colours."}],
        "max_tokens": 12,
        "temperature": 0.0,
        "logprobs": true,
        "top_logprobs": 5
    });
    let (status, answer) = post(&url, &body, None);
    assert_eq!(status, 200, "{answer}");
    let content = answer["choices"][0]["logprobs"]["content"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no logprobs: {answer}"));
    assert!(!content.is_empty());
    let text: String = content
        .iter()
        .map(|t| t["token"].as_str().unwrap_or_default())
        .collect();
    // A chat answer is delivered without the leading whitespace of its first token.
    assert_eq!(
        text.trim_start(),
        answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
    );
    for token in &content {
        let top = token["top_logprobs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(top.len(), 5, "{token}");
        assert_eq!(top[0]["token"], token["token"], "{token}");
        assert_eq!(number(&top[0]["logprob"]), number(&token["logprob"]));
        assert!(number(&token["logprob"]) <= 0.0);
        for pair in top.windows(2) {
            assert!(number(&pair[0]["logprob"]) >= number(&pair[1]["logprob"]));
        }
    }
    // Streamed, the chunks carry the same tokens and log-probabilities.
    let streamed = streamed_content(&url, &body);
    assert_eq!(streamed.len(), content.len());
    for (a, b) in streamed.iter().zip(&content) {
        assert_eq!(a["token"], b["token"]);
        assert!((number(&a["logprob"]) - number(&b["logprob"])).abs() < 1e-5);
    }
}

#[test]
fn echo_scores_the_tokens_as_they_were_generated() {
    let _serial = crate::support::serial();
    let url = format!("{}/v1/completions", start(state(Default::default())));
    let engine = engine();
    let prompt = "The three primary colours are";
    let prompt_ids = RUNTIME
        .block_on(engine.prompt_ids(&Prompt::Text(prompt.to_string())))
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, generated) = post(
        &url,
        &json!({"model": "smollm2", "prompt": prompt_ids, "max_tokens": 8, "temperature": 0.0,
                "logprobs": 2}),
        None,
    );
    assert_eq!(status, 200, "{generated}");
    let choice = &generated["choices"][0];
    let text = choice["text"].as_str().unwrap_or_default();
    let tokens: Vec<Value> = choice["logprobs"]["tokens"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let logprobs: Vec<f64> = choice["logprobs"]["token_logprobs"]
        .as_array()
        .map(|a| a.iter().map(number).collect())
        .unwrap_or_default();
    assert!(
        !tokens.is_empty() && tokens.len() == logprobs.len(),
        "{generated}"
    );
    let offsets: Vec<u64> = choice["logprobs"]["text_offset"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    assert_eq!(offsets[0], 0);
    // A text completion keeps its leading whitespace: it continues the prompt.
    let joined: String = tokens.iter().filter_map(Value::as_str).collect();
    assert!(text.starts_with(&joined), "{text:?} vs tokens {joined:?}");
    // The answer's ids, appended to the prompt's, scored in one pass with echo.
    let answer_ids = engine
        .token_text()
        .encode(text)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        answer_ids.len(),
        tokens.len(),
        "the answer re-tokenizes to other tokens: {answer_ids:?} {generated}"
    );
    let all: Vec<u32> = prompt_ids.iter().chain(&answer_ids).copied().collect();
    let (status, echoed) = post(
        &url,
        &json!({"model": "smollm2", "prompt": all, "max_tokens": 0, "echo": true, "logprobs": 2}),
        None,
    );
    assert_eq!(status, 200, "{echoed}");
    let echo = &echoed["choices"][0];
    assert_eq!(
        echo["text"].as_str().unwrap_or_default(),
        format!("{prompt}{text}")
    );
    let echo_lp = echo["logprobs"]["token_logprobs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(echo_lp.len(), all.len());
    assert!(
        echo_lp[0].is_null(),
        "the first prompt token has no log-probability"
    );
    assert!(echo["logprobs"]["top_logprobs"][0].is_null());
    // lm-eval's request: echo, one token, logprobs 1; it drops the last entry as the generated
    // one, so there is one entry per prompt token plus one, also when the token generated is the
    // end of sequence (no text).
    let (status, lm_eval) = post(
        &url,
        &json!({"model": "smollm2", "prompt": [all.clone()], "max_tokens": 1, "echo": true,
                "logprobs": 1, "temperature": 0, "seed": 1234}),
        None,
    );
    assert_eq!(status, 200, "{lm_eval}");
    let entries = lm_eval["choices"][0]["logprobs"]["token_logprobs"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(entries, all.len() + 1, "{lm_eval}");
    let echo_tokens = echo["logprobs"]["tokens"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, expected) in logprobs.iter().enumerate() {
        let at = prompt_ids.len() + i;
        assert_eq!(echo_tokens[at], tokens[i]);
        let got = number(&echo_lp[at]);
        assert!(
            (got - expected).abs() < 0.02,
            "token {i} ({}): echo {got} vs generated {expected}",
            tokens[i]
        );
    }
}

#[test]
fn fields_that_do_not_change_the_answer_are_accepted() {
    let _serial = crate::support::serial();
    let chat = format!("{}/v1/chat/completions", start(state(Default::default())));
    let messages = json!([{"role": "user", "content": "hi"}]);
    let (status, answer) = post(
        &chat,
        &json!({"model": "smollm2", "messages": messages, "max_tokens": 2, "user": "u1"}),
        None,
    );
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn several_prompts_get_one_choice_each() {
    let _serial = crate::support::serial();
    let url = format!("{}/v1/completions", start(state(Default::default())));
    let (status, answer) = post(
        &url,
        &json!({"model": "smollm2", "prompt": ["One, two,", "Red, green,"], "max_tokens": 3,
                "temperature": 0.0}),
        None,
    );
    assert_eq!(status, 200, "{answer}");
    let choices = answer["choices"].as_array().cloned().unwrap_or_default();
    assert_eq!(choices.len(), 2);
    for (i, (choice, prompt)) in choices.iter().zip(["One, two,", "Red, green,"]).enumerate() {
        assert_eq!(choice["index"], i);
        let (_, alone) = post(
            &url,
            &json!({"model": "smollm2", "prompt": prompt, "max_tokens": 3, "temperature": 0.0}),
            None,
        );
        assert_eq!(choice["text"], alone["choices"][0]["text"]);
    }
}

#[test]
fn tokenize_and_detokenize_round_trip() {
    let _serial = crate::support::serial();
    let base = start(state(Default::default()));
    let (status, tokenized) = post(
        &format!("{base}/tokenize"),
        &json!({"content": "Hello world, xin chào!", "add_special": false}),
        None,
    );
    assert_eq!(status, 200, "{tokenized}");
    let ids = tokenized["tokens"].as_array().cloned().unwrap_or_default();
    assert!(
        ids.len() > 3 && tokenized["count"] == ids.len(),
        "{tokenized}"
    );
    let (status, text) = post(&format!("{base}/detokenize"), &json!({"tokens": ids}), None);
    assert_eq!(status, 200, "{text}");
    assert_eq!(text["content"], "Hello world, xin chào!");
    // vLLM's shape; a conversation gets the chat template around it.
    let (_, as_prompt) = post(
        &format!("{base}/tokenize"),
        &json!({"model": "smollm2", "prompt": "Hello world, xin chào!", "add_special_tokens": false}),
        None,
    );
    assert_eq!(as_prompt["tokens"], tokenized["tokens"]);
    let (_, chat) = post(
        &format!("{base}/tokenize"),
        &json!({"messages": [{"role": "user", "content": "Hello world, xin chào!"}]}),
        None,
    );
    assert!(
        chat["count"].as_u64() > tokenized["count"].as_u64(),
        "{chat}"
    );
    // vLLM's `/tokenizer_info`, which lm-eval's remote tokenizer reads first.
    let info: Value = RUNTIME.block_on(async {
        reqwest::get(format!("{base}/tokenizer_info"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    });
    let eos = info["eos_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{info}"));
    let (_, eos_ids) = post(
        &format!("{base}/tokenize"),
        &json!({"prompt": eos, "add_special_tokens": false}),
        None,
    );
    assert_eq!(
        eos_ids["count"], 1,
        "the EOS text is one token: {info} {eos_ids}"
    );
}

#[test]
fn n_seeded_choices_are_distinct_and_each_reproducible() {
    let _serial = crate::support::serial();
    let base = start(state(Default::default()));
    let chat = format!("{base}/v1/chat/completions");
    let body = |n: u32, seed: u64| {
        json!({"model": "smollm2", "messages": [{"role": "user", "content": "Write a word."}],
               "max_tokens": 8, "temperature": 1.0, "seed": seed, "n": n})
    };
    // A prompt answered from the prefix cache can sample differently from a cold one (its
    // last position is computed alone, not in a batch of rows: the logits differ in the last
    // bits), so every request below finds the prompt cached.
    let (status, warm) = post(&chat, &body(1, 0), None);
    assert_eq!(status, 200, "{warm}");
    let (status, three) = post(&chat, &body(3, 40), None);
    assert_eq!(status, 200, "{three}");
    let texts: Vec<String> = three["choices"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            assert_eq!(c["index"], i);
            c["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(texts.len(), 3);
    // Choice i is the single answer with seed + i.
    for (i, text) in texts.iter().enumerate() {
        let (_, alone) = post(&chat, &body(1, 40 + i as u64), None);
        assert_eq!(alone["choices"][0]["message"]["content"], text.as_str());
    }
    assert!(
        texts[0] != texts[1] || texts[1] != texts[2],
        "three draws at temperature 1 all equal: {texts:?}"
    );
    // Text completions: prompt-major order, n per prompt.
    let (status, both) = post(
        &format!("{base}/v1/completions"),
        &json!({"model": "smollm2", "prompt": ["One,", "Two,"], "max_tokens": 4,
                "temperature": 1.0, "seed": 5, "n": 2}),
        None,
    );
    assert_eq!(status, 200, "{both}");
    assert_eq!(both["choices"].as_array().map(Vec::len), Some(4));
}
