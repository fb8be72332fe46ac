//! `tokenizer.json` and `tokenizer_config.json` from a GGUF's byte-level BPE (`gpt2`) vocabulary.

use serde_json::{json, Map, Value};

use super::metadata::{Metadata, Msg};

/// llama.cpp token types that become Hugging Face added tokens.
const TYPE_UNKNOWN: i32 = 2;
/// A control token (`<|im_start|>`, `<|endoftext|>`, ...): a special added token.
const TYPE_CONTROL: i32 = 3;
/// A user-defined token: an added token that is not special.
const TYPE_USER_DEFINED: i32 = 4;

/// The `tokenizer.ggml.pre` values this converter can express as Hugging Face pre-tokenizers.
const SUPPORTED_PRE: [&str; 2] = ["smollm", "gpt-2"];

/// A GGUF byte-level BPE vocabulary and its special tokens.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Vocab<'a> {
    tokens: Vec<&'a str>,
    types: Vec<i32>,
    merges: Vec<&'a str>,
    pre: &'a str,
    bos: Option<u32>,
    eos: Option<u32>,
    pad: Option<u32>,
    unk: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    chat_template: Option<&'a str>,
}

impl<'a> Vocab<'a> {
    /// Reads the `tokenizer.*` metadata. Fails, naming the key, unless the tokenizer is a
    /// byte-level BPE (`tokenizer.ggml.model` = `gpt2`) with a supported pre-tokenizer.
    pub(crate) fn from_metadata(md: &Metadata<'a>) -> Msg<Self> {
        let model = md.str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(format!(
                "unsupported `tokenizer.ggml.model` `{model}`: \
                 only `gpt2` (byte-level BPE) is supported"
            ));
        }
        let pre = md.str("tokenizer.ggml.pre")?;
        if !SUPPORTED_PRE.contains(&pre) {
            return Err(format!(
                "unsupported `tokenizer.ggml.pre` `{pre}`: supported are {}",
                SUPPORTED_PRE.join(", ")
            ));
        }
        let tokens = md.strings("tokenizer.ggml.tokens")?;
        let types = match md.get("tokenizer.ggml.token_type") {
            Some(_) => md.i32s("tokenizer.ggml.token_type")?,
            None => vec![1; tokens.len()],
        };
        if types.len() != tokens.len() {
            return Err(format!(
                "`tokenizer.ggml.token_type` has {} entries but `tokenizer.ggml.tokens` has {}",
                types.len(),
                tokens.len()
            ));
        }
        let id = |key: &str| -> Msg<Option<u32>> {
            match md.opt_u32(key)? {
                Some(id) if id as usize >= tokens.len() => Err(format!(
                    "`{key}` = {id} is outside the vocabulary of {} tokens",
                    tokens.len()
                )),
                other => Ok(other),
            }
        };
        Ok(Self {
            bos: id("tokenizer.ggml.bos_token_id")?,
            eos: id("tokenizer.ggml.eos_token_id")?,
            pad: id("tokenizer.ggml.padding_token_id")?,
            unk: id("tokenizer.ggml.unknown_token_id")?,
            add_bos: md
                .opt_bool("tokenizer.ggml.add_bos_token")?
                .unwrap_or(false),
            add_eos: md
                .opt_bool("tokenizer.ggml.add_eos_token")?
                .unwrap_or(false),
            chat_template: md.opt_str("tokenizer.chat_template")?,
            merges: md.strings("tokenizer.ggml.merges")?,
            tokens,
            types,
            pre,
        })
    }

    /// Number of tokens in the vocabulary.
    pub(crate) fn len(&self) -> usize {
        self.tokens.len()
    }

    /// The text of token `id` (ids were checked against the vocabulary on reading).
    fn content(&self, id: Option<u32>) -> Option<&'a str> {
        id.and_then(|id| self.tokens.get(id as usize).copied())
    }

    /// The Hugging Face `tokenizer.json` (`tokenizers` format 1.0).
    pub(crate) fn tokenizer_json(&self) -> Msg<Value> {
        let mut vocab = Map::with_capacity(self.tokens.len());
        for (id, token) in self.tokens.iter().enumerate() {
            if let Some(first) = vocab.insert((*token).to_string(), id.into()) {
                return Err(format!(
                    "`tokenizer.ggml.tokens`: token {token:?} appears at ids {first} and {id}"
                ));
            }
        }
        let merges = self
            .merges
            .iter()
            .map(|merge| split_merge(merge).map(|(a, b)| json!([a, b])))
            .collect::<Msg<Vec<Value>>>()?;
        let added_tokens: Vec<Value> = self
            .tokens
            .iter()
            .zip(&self.types)
            .enumerate()
            .filter(|(_, (_, ty))| matches!(**ty, TYPE_UNKNOWN | TYPE_CONTROL | TYPE_USER_DEFINED))
            .map(|(id, (token, ty))| {
                json!({
                    "id": id, "content": token, "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false, "special": *ty != TYPE_USER_DEFINED,
                })
            })
            .collect();
        let byte_level = |add_prefix_space: bool, trim_offsets: bool| {
            json!({
                "type": "ByteLevel", "add_prefix_space": add_prefix_space,
                "trim_offsets": trim_offsets, "use_regex": true,
            })
        };
        let pre_tokenizer = match self.pre {
            "smollm" => json!({
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Digits", "individual_digits": true},
                    byte_level(false, true),
                ],
            }),
            _ => byte_level(false, true),
        };
        let post_processor = match self.template()? {
            Some(template) => json!({
                "type": "Sequence",
                "processors": [byte_level(true, false), template],
            }),
            None => byte_level(true, false),
        };
        Ok(json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added_tokens,
            "normalizer": null,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": post_processor,
            "decoder": byte_level(true, true),
            "model": {
                "type": "BPE", "dropout": null, "unk_token": null,
                "continuing_subword_prefix": null, "end_of_word_suffix": null,
                "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": merges,
            },
        }))
    }

    /// A `TemplateProcessing` post-processor adding BOS/EOS, when the GGUF asks for either.
    fn template(&self) -> Msg<Option<Value>> {
        let bos = self.added(self.add_bos, self.bos, "bos")?;
        let eos = self.added(self.add_eos, self.eos, "eos")?;
        if bos.is_none() && eos.is_none() {
            return Ok(None);
        }
        let special = |token: Option<(&str, u32)>, type_id: u32| {
            token.map(|(content, _)| json!({"SpecialToken": {"id": content, "type_id": type_id}}))
        };
        let sequence =
            |name: &str, type_id: u32| Some(json!({"Sequence": {"id": name, "type_id": type_id}}));
        let single: Vec<Value> = [special(bos, 0), sequence("A", 0), special(eos, 0)]
            .into_iter()
            .flatten()
            .collect();
        let pair: Vec<Value> = [
            special(bos, 0),
            sequence("A", 0),
            special(eos, 0),
            special(bos, 1),
            sequence("B", 1),
            special(eos, 1),
        ]
        .into_iter()
        .flatten()
        .collect();
        let special_tokens: Map<String, Value> = [bos, eos]
            .into_iter()
            .flatten()
            .map(|(content, id)| {
                (
                    content.to_string(),
                    json!({"id": content, "ids": [id], "tokens": [content]}),
                )
            })
            .collect();
        Ok(Some(json!({
            "type": "TemplateProcessing", "single": single, "pair": pair,
            "special_tokens": special_tokens,
        })))
    }

    /// The token the post-processor adds when `add` is set (`what` is `bos` or `eos`).
    fn added(&self, add: bool, id: Option<u32>, what: &str) -> Msg<Option<(&'a str, u32)>> {
        if !add {
            return Ok(None);
        }
        match (self.content(id), id) {
            (Some(content), Some(id)) => Ok(Some((content, id))),
            _ => Err(format!(
                "`tokenizer.ggml.add_{what}_token` is set \
                 but `tokenizer.ggml.{what}_token_id` is missing"
            )),
        }
    }

    /// The Hugging Face `tokenizer_config.json`.
    pub(crate) fn tokenizer_config_json(&self, model_max_length: usize) -> Value {
        let mut config = json!({
            "add_bos_token": self.add_bos,
            "add_eos_token": self.add_eos,
            "bos_token": self.content(self.bos),
            "eos_token": self.content(self.eos),
            "pad_token": self.content(self.pad),
            "unk_token": self.content(self.unk),
            "model_max_length": model_max_length,
            "tokenizer_class": "GPT2Tokenizer",
            "clean_up_tokenization_spaces": false,
        });
        if let (Some(template), Some(map)) = (self.chat_template, config.as_object_mut()) {
            map.insert("chat_template".into(), template.into());
        }
        config
    }
}

/// Splits a GGUF merge `"a b"` at its first space after the first character (as llama.cpp does,
/// so that a left part starting with a space survives).
fn split_merge(merge: &str) -> Msg<(&str, &str)> {
    let skip = merge.chars().next().map_or(0, char::len_utf8);
    merge[skip..]
        .find(' ')
        .map(|at| (&merge[..skip + at], &merge[skip + at + 1..]))
        .ok_or_else(|| format!("`tokenizer.ggml.merges`: merge {merge:?} has no space"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::quantized::gguf_file::Value as Gguf;

    use super::*;

    fn strings(items: &[&str]) -> Gguf {
        Gguf::Array(items.iter().map(|s| Gguf::String((*s).into())).collect())
    }

    /// A tiny byte-level vocabulary: two control tokens, letters, one merge.
    fn metadata(extra: Vec<(&str, Gguf)>) -> HashMap<String, Gguf> {
        let mut m: HashMap<String, Gguf> = [
            ("tokenizer.ggml.model", Gguf::String("gpt2".into())),
            ("tokenizer.ggml.pre", Gguf::String("smollm".into())),
            (
                "tokenizer.ggml.tokens",
                strings(&["<|s|>", "<|e|>", "a", "b", "ab", "Ġ"]),
            ),
            (
                "tokenizer.ggml.token_type",
                Gguf::Array([3, 3, 1, 1, 1, 1].map(Gguf::I32).to_vec()),
            ),
            ("tokenizer.ggml.merges", strings(&["a b"])),
            ("tokenizer.ggml.bos_token_id", Gguf::U32(0)),
            ("tokenizer.ggml.eos_token_id", Gguf::U32(1)),
            ("tokenizer.chat_template", Gguf::String("{{ x }}".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        m.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
        m
    }

    fn vocab(m: &HashMap<String, Gguf>) -> Vocab<'_> {
        Vocab::from_metadata(&Metadata::new(m)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn tokenizer_json_has_the_hugging_face_layout() {
        let m = metadata(vec![]);
        let json = vocab(&m).tokenizer_json().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["model"]["type"], "BPE");
        assert_eq!(json["model"]["vocab"]["ab"], 4);
        assert_eq!(json["model"]["merges"], json!([["a", "b"]]));
        assert_eq!(json["added_tokens"].as_array().map(Vec::len), Some(2));
        assert_eq!(json["added_tokens"][1]["content"], "<|e|>");
        assert_eq!(json["added_tokens"][1]["special"], true);
        assert_eq!(json["pre_tokenizer"]["pretokenizers"][0]["type"], "Digits");
        assert_eq!(json["post_processor"]["type"], "ByteLevel");
    }

    #[test]
    fn config_names_the_special_tokens() {
        let m = metadata(vec![]);
        let config = vocab(&m).tokenizer_config_json(8192);
        assert_eq!(config["bos_token"], "<|s|>");
        assert_eq!(config["eos_token"], "<|e|>");
        assert_eq!(config["pad_token"], Value::Null);
        assert_eq!(config["chat_template"], "{{ x }}");
        assert_eq!(config["model_max_length"], 8192);
        assert_eq!(config["add_bos_token"], false);
    }

    #[test]
    fn add_bos_wraps_a_template() {
        let m = metadata(vec![("tokenizer.ggml.add_bos_token", Gguf::Bool(true))]);
        let json = vocab(&m).tokenizer_json().unwrap_or_else(|e| panic!("{e}"));
        let template = &json["post_processor"]["processors"][1];
        assert_eq!(
            template["single"][0],
            json!({"SpecialToken": {"id": "<|s|>", "type_id": 0}})
        );
        assert_eq!(
            template["pair"][2],
            json!({"SpecialToken": {"id": "<|s|>", "type_id": 1}})
        );
        assert_eq!(template["special_tokens"]["<|s|>"]["ids"], json!([0]));
    }

    #[test]
    fn merges_split_after_the_first_character() {
        assert_eq!(split_merge("Ġ t"), Ok(("Ġ", "t")));
        assert_eq!(split_merge("  a"), Ok((" ", "a")));
        assert!(split_merge("ab").is_err());
    }

    #[test]
    fn unsupported_tokenizers_name_the_key() {
        let m = metadata(vec![("tokenizer.ggml.model", Gguf::String("llama".into()))]);
        let err = Vocab::from_metadata(&Metadata::new(&m));
        assert!(err.is_err_and(|e| e.contains("`tokenizer.ggml.model` `llama`")));
        let m = metadata(vec![("tokenizer.ggml.pre", Gguf::String("qwen2".into()))]);
        let err = Vocab::from_metadata(&Metadata::new(&m));
        assert!(err.is_err_and(|e| e.contains("`tokenizer.ggml.pre` `qwen2`")));
        let m = metadata(vec![("tokenizer.ggml.eos_token_id", Gguf::U32(99))]);
        let err = Vocab::from_metadata(&Metadata::new(&m));
        assert!(err.is_err_and(|e| e.contains("`tokenizer.ggml.eos_token_id` = 99")));
        let m = metadata(vec![(
            "tokenizer.ggml.tokens",
            strings(&["a", "b", "a", "c", "d", "e"]),
        )]);
        let err = vocab(&m).tokenizer_json();
        assert!(err.is_err_and(|e| e.contains("ids 0 and 2")));
    }
}
