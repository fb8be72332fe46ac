//! r2l's measurement core: the real datasets, per-sample scoring, corpus metrics with
//! bootstrap confidence intervals, and paired comparisons of two runs.

pub mod compare;
pub mod data;
mod error;
pub mod metrics;
pub mod report;
pub mod runner;
pub mod scoring;
pub mod task;

pub use error::{Error, Result};
