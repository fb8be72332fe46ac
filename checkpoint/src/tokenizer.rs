//! The checkpoint's `tokenizer.json`, loaded with Hugging Face `tokenizers`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files::TOKENIZER_FILE;

/// Token ids of a text with the byte span of the text each token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The token ids.
    pub ids: Vec<u32>,
    /// For each token, its `[start, end)` byte range in the encoded text.
    pub offsets: Vec<(usize, usize)>,
}

/// A loaded tokenizer.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("path", &self.path)
            .finish()
    }
}

impl Tokenizer {
    /// Loads `dir/tokenizer.json`.
    pub fn load(dir: &Path) -> Result<Tokenizer> {
        let path = dir.join(TOKENIZER_FILE);
        if !path.is_file() {
            return Err(Error::Missing {
                dir: dir.to_path_buf(),
                file: TOKENIZER_FILE.to_string(),
            });
        }
        let inner = tokenizers::Tokenizer::from_file(&path).map_err(|e| Error::Tokenizer {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(Tokenizer { inner, path })
    }

    /// Encodes `text` as it is: special tokens written in the text (`<|im_start|>`) are
    /// recognised, none are added (a chat template writes its own).
    pub fn encode(&self, text: &str) -> Result<Encoded> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| self.error(format!("encoding: {e}")))?;
        Ok(Encoded {
            ids: encoding.get_ids().to_vec(),
            offsets: encoding.get_offsets().to_vec(),
        })
    }

    /// The text of `ids`, special tokens included unless `skip_special`.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| self.error(format!("decoding: {e}")))
    }

    /// The id of token `token` (e.g. `<|im_end|>`), if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Number of tokens in the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    fn error(&self, message: String) -> Error {
        Error::Tokenizer {
            path: self.path.clone(),
            message,
        }
    }
}
