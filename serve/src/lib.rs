//! r2l serve: hosts students behind a hardened OpenAI-compatible API with quantized mistral.rs
//! inference, from GGUF files or checkpoint directories (the `checkpoint` crate's layout, which
//! `r2l convert` and the trainer write).

pub mod api;
pub mod config;
pub mod engine;
mod error;
pub mod registry;
pub mod server;

pub use error::{Error, Result};
