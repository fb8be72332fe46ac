//! r2l's checkpoint directory, in the Hugging Face layout: `config.json` (read from any
//! transformers 4.x or 5.x shape, written in the 4.x shape), safetensors weights,
//! `tokenizer.json`, the chat template and `generation_config.json`. One reader and writer shared
//! by `r2l convert` (GGUF → checkpoint), the trainer (reads a base, writes a student) and
//! `r2l serve` (which hands mistral.rs a normalised config).

mod chat_template;
mod config;
pub mod convert;
mod error;
mod files;
mod generation;
mod identity;
mod normalize;
mod tokenizer;
mod weights;

pub use chat_template::{ChatTemplate, Turn};
pub use config::{
    normalized_if_changed, read_normalized, Architecture, ModelConfig, RopeScaling, TokenIds,
};
pub use error::{Error, Result};
pub use files::{
    copy_tokenizer_files, file_sha256, write_atomically, write_json, CHAT_TEMPLATE_FILE,
    CONFIG_FILE, GENERATION_CONFIG_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, TOKENIZER_FILES,
    WEIGHTS_FILE, WEIGHTS_INDEX_FILE,
};
pub use generation::{
    generation_config, read_generation_config, stop_token_ids, write_generation_config,
};
pub use identity::weights_sha256;
pub use normalize::{normalize_config, DEFAULT_ROPE_THETA};
pub use tokenizer::{Encoded, Tokenizer};
pub use weights::{load_tensors, load_weights, save_tensors, save_weights, weight_files};
