//! Integration tests of r2l serve with the real default model, over TCP on 127.0.0.1 and with
//! `oneshot`. The model is the setup step's converted SmolLM2-135M-Instruct (ISQ Q8_0); requests
//! refused before a model is asked run through `oneshot` without loading it (`refusals`).

mod api;
mod architectures;
mod batching;
mod hardening;
mod logprobs;
mod readiness;
mod refusals;
mod sampling;
mod sampling_controls;
mod support;
