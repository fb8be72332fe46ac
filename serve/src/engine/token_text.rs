//! The model's own tokenizer, loaded beside the engine (from the GGUF metadata the way mistral.rs
//! builds it, or the checkpoint's `tokenizer.json`), so token texts for log-probabilities,
//! `/tokenize` and `/detokenize` need no round trip through the engine thread.

use std::path::Path;
use std::str::FromStr;

use tokenizers::Tokenizer;

use super::spec::ModelFormat;
use crate::error::{Error, Result};

/// Token ids ↔ text for one model.
pub struct TokenText {
    tokenizer: Tokenizer,
    /// The beginning- and end-of-sequence tokens' texts, when the model names them.
    bos: Option<String>,
    eos: Option<String>,
}

impl TokenText {
    /// Loads the tokenizer of the model at `path`.
    pub fn load(path: &Path, format: ModelFormat) -> Result<TokenText> {
        let model_error = |message: String| Error::Model {
            path: path.to_path_buf(),
            message,
        };
        let json = match format {
            ModelFormat::Gguf => mistralrs::core::gguf_tokenizer_json(path)
                .map_err(|e| model_error(format!("reading the GGUF tokenizer: {e:#}")))?,
            ModelFormat::Safetensors => {
                let file = path.join("tokenizer.json");
                std::fs::read_to_string(&file).map_err(|source| Error::Io { path: file, source })?
            }
        };
        let tokenizer = Tokenizer::from_str(&json)
            .map_err(|e| model_error(format!("parsing the tokenizer: {e}")))?;
        let (bos, eos) = special_ids(path, format)?;
        let text = |id: Option<u32>| id.and_then(|id| tokenizer.id_to_token(id));
        Ok(TokenText {
            bos: text(bos),
            eos: text(eos),
            tokenizer,
        })
    }

    /// The beginning-of-sequence token's text, if the model has one.
    pub fn bos(&self) -> Option<&str> {
        self.bos.as_deref()
    }

    /// The end-of-sequence token's text, if the model names one.
    pub fn eos(&self) -> Option<&str> {
        self.eos.as_deref()
    }

    /// The ids of `text` (special tokens written in the text are recognised; nothing is added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer
            .encode(text, false)
            .map(|encoding| encoding.get_ids().to_vec())
            .map_err(|e| Error::Engine(format!("tokenizing: {e}")))
    }

    /// The text of `ids` (special tokens kept as written).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, false)
            .map_err(|e| Error::Engine(format!("decoding: {e}")))
    }

    /// The text of `ids` as an answer is delivered: special tokens left out.
    pub fn decode_skipping_special(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| Error::Engine(format!("decoding: {e}")))
    }

    /// Entries in the vocabulary (added tokens included).
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// Each token's own text (a token holding part of a multi-byte character decodes to U+FFFD
    /// on its own) and the byte offset where it starts in the text of all of `ids` decoded
    /// together, with special tokens left out when `skip_special` (how an answer's text is
    /// delivered).
    pub fn pieces(&self, ids: &[u32], skip_special: bool) -> Result<Vec<(String, usize)>> {
        let mut pieces = Vec::with_capacity(ids.len());
        for i in 0..ids.len() {
            let before = self
                .tokenizer
                .decode(&ids[..i], skip_special)
                .map_err(|e| Error::Engine(format!("decoding: {e}")))?;
            pieces.push((self.decode(&ids[i..=i])?, before.len()));
        }
        Ok(pieces)
    }
}

/// The (BOS, EOS) ids the model's files name: the GGUF metadata's `tokenizer.ggml.*_token_id`,
/// or `config.json`'s `bos_token_id`/`eos_token_id` (the first when it lists several).
fn special_ids(path: &Path, format: ModelFormat) -> Result<(Option<u32>, Option<u32>)> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    match format {
        ModelFormat::Gguf => {
            let mut file = std::fs::File::open(path).map_err(io)?;
            let content =
                candle_core::quantized::gguf_file::Content::read(&mut file).map_err(|e| {
                    Error::Model {
                        path: path.to_path_buf(),
                        message: format!("reading the GGUF metadata: {e}"),
                    }
                })?;
            let id = |key: &str| {
                content
                    .metadata
                    .get(key)
                    .and_then(|value| value.to_u32().ok())
            };
            Ok((
                id("tokenizer.ggml.bos_token_id"),
                id("tokenizer.ggml.eos_token_id"),
            ))
        }
        ModelFormat::Safetensors => {
            let file = path.join("config.json");
            let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
                path: file.clone(),
                source,
            })?;
            let config: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| Error::Model {
                    path: file,
                    message: format!("config.json is not JSON: {e}"),
                })?;
            let id = |key: &str| {
                let value = &config[key];
                value
                    .as_u64()
                    .or_else(|| value.get(0).and_then(serde_json::Value::as_u64))
                    .and_then(|id| u32::try_from(id).ok())
            };
            Ok((id("bos_token_id"), id("eos_token_id")))
        }
    }
}
