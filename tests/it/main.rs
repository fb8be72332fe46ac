//! End-to-end tests of the `r2l` binary: CLI contracts on the real data, `r2l eval` against a
//! scripted OpenAI-compatible server on 127.0.0.1, `r2l distill` against scripted teachers and
//! with the default offline agents, `r2l compare` as a CI gate, and `r2l serve` with the real
//! default model.

mod cli;
mod compare;
mod distill;
mod distill_reasoning;
mod eval;
mod eval_agent;
mod own_dataset;
mod prm;
mod reproduce;
mod reproduce_papers;
mod results;
mod score_run;
mod serve;
mod support;
mod train;
mod train_architectures;
mod train_trl;
