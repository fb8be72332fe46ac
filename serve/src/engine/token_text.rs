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
        Ok(TokenText { tokenizer })
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
