//! Comparing runs: with each other (paired tests, the CI gate) and with published numbers.

mod paired;
mod published;

pub use paired::{compare, render_comparison, CompareOptions, Comparison, Flipped, MetricDelta};
pub use published::{
    against_published, built_in_references, load_references, PublishedCell, Reference,
};
