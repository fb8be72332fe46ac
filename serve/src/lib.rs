//! r2l serve: hosts students behind a hardened OpenAI-compatible API with quantized mistral.rs
//! inference, and converts GGUF checkpoints into the Hugging Face layout the trainer writes.

pub mod api;
pub mod config;
pub mod convert;
pub mod engine;
mod error;
pub mod registry;
pub mod server;

pub use error::{Error, Result};
