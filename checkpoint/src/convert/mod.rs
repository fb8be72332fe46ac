//! GGUF → checkpoint directory conversion.
//!
//! mistral.rs cannot apply in-situ quantization (ISQ) to a GGUF model, and some GGUF formats
//! (Q4_1) have no SIMD kernel in candle. r2l therefore converts a llama-architecture GGUF with a
//! byte-level BPE tokenizer into a Hugging Face–style directory (F32 `model.safetensors`,
//! `config.json`, `tokenizer.json`, `tokenizer_config.json`, `generation_config.json`) — the
//! layout r2l's trainer reads and writes — and serves that with ISQ.
//!
//! - `metadata`: typed GGUF metadata reads whose errors name the key.
//! - `gguf_config`: the `config.json` fields from the metadata.
//! - `tokenizer`: `tokenizer.json` and `tokenizer_config.json` from the GGUF vocabulary.
//! - `tensors`: tensor names, shapes, dequantization and the q/k un-permutation.
//! - `pipeline`: [`convert_gguf`], which ties them together and writes the directory.

mod gguf_config;
mod metadata;
mod pipeline;
mod tensors;
mod tokenizer;

pub use pipeline::{convert_gguf, Converted};
