//! The mistral.rs engine: loading models offline and generating token streams.

mod chooser;
mod client;
mod controls;
#[allow(clippy::module_inception)]
mod engine;
mod grammar_end;
#[cfg(test)]
mod kernel_checks;
mod logprobs;
pub mod prefix_cache;
mod sampling;
mod scoring;
mod seeded;
mod served_model;
mod spec;
mod staged;
mod stop;
mod token_text;

pub use chooser::{Choice, Chooser};
pub use client::{collect, json_schema_of, Collected};
pub use controls::{Controls, InvalidField, MAX_LOGIT_BIAS};
pub use engine::{
    Engine, Event, Generation, GenerationRequest, ModelInfo, Prompt, SharedEngine,
    DEFAULT_MAX_TOKENS,
};
pub use logprobs::{log_softmax, top_k, Chosen, Recorder, MAX_TOP_LOGPROBS};
pub use sampling::{Sampling, MAX_STOP};
pub use scoring::{ScoredPrompt, ScoringClient};
pub use seeded::SeededSampler;
pub use served_model::ServedModel;
pub use spec::{Isq, ModelFormat, ModelSpec, DEFAULT_MAX_SEQS};
pub use stop::{StopTrimmer, Trimmed};
pub use token_text::TokenText;
