//! The token a constrained (llguidance) answer ends with. llguidance treats a tokenizer's
//! document-end token (`<|endoftext|>`, `</s>`, `<|end_of_text|>`, `<eos>`) as the end of a
//! finished grammar; a chat model's turn-end token (SmolLM2's `<|im_end|>`) is not it. When the
//! two differ, mistral.rs does not stop at the grammar's end: it kept emitting the forced
//! document-end token (decoded as nothing) until `max_tokens` — every constrained answer of the
//! default model used its whole budget. The engine adds that token as a stop sequence to
//! constrained requests.

use std::path::Path;

use serde_json::Value;

/// The document-end tokens llguidance recognises (toktrie_hf_tokenizers 1.9's list).
const DOCUMENT_END: [&str; 5] = [
    "</s>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<｜end▁of▁sentence｜>",
    "<eos>",
];

/// The special token llguidance ends a grammar with, when the checkpoint in `dir` does not stop
/// on it by itself (None when it does, or when the files do not say).
pub fn grammar_end_token(dir: &Path) -> Option<String> {
    let tokenizer = read_json(&dir.join("tokenizer.json"))?;
    let (id, content) = tokenizer["added_tokens"]
        .as_array()?
        .iter()
        .filter(|token| {
            let content = token["content"].as_str().unwrap_or_default();
            token["special"].as_bool() == Some(true)
                || (content.starts_with('<') && content.ends_with('>'))
        })
        .filter_map(|token| {
            let content = token["content"].as_str()?;
            DOCUMENT_END
                .contains(&content)
                .then(|| (token["id"].as_u64(), content.to_string()))
        })
        .next_back()?;
    let id = id?;
    let stops_on = |file: &str| -> Vec<u64> {
        read_json(&dir.join(file)).map_or_else(Vec::new, |config| match &config["eos_token_id"] {
            Value::Number(n) => n.as_u64().into_iter().collect(),
            Value::Array(ids) => ids.iter().filter_map(Value::as_u64).collect(),
            _ => Vec::new(),
        })
    };
    let model_stops: Vec<u64> =
        [stops_on("generation_config.json"), stops_on("config.json")].concat();
    (!model_stops.contains(&id)).then_some(content)
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(eos: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let tokenizer = serde_json::json!({"added_tokens": [
            {"id": 0, "content": "<|endoftext|>", "special": true},
            {"id": 1, "content": "<|im_start|>", "special": true},
            {"id": 2, "content": "<|im_end|>", "special": true},
        ]});
        std::fs::write(dir.path().join("tokenizer.json"), tokenizer.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join("generation_config.json"),
            format!("{{\"eos_token_id\": {eos}}}"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        dir
    }

    #[test]
    fn a_chat_model_ending_turns_with_another_token_stops_at_the_document_end() {
        let dir = checkpoint("2");
        assert_eq!(
            grammar_end_token(dir.path()).as_deref(),
            Some("<|endoftext|>")
        );
    }

    #[test]
    fn a_model_that_already_stops_on_it_needs_nothing() {
        let dir = checkpoint("[2, 0]");
        assert_eq!(grammar_end_token(dir.path()), None);
    }
}
