//! Scoring: reading predictions (structured or raw model text), judging each sample, and
//! aggregating corpus metrics.

mod answer;
mod parse;
mod predictions;
mod score;

pub use answer::{choice_letter, gsm8k_number, last_boxed, normalize_math, yes_no};
pub use parse::{
    canonical_aspect, canonical_polarity, first_json, parse_absa, parse_final_answer, parse_rating,
    strip_thinking, Parsed,
};
pub use predictions::{parse_prediction, read_predictions, Prediction, Structured};
pub use score::{
    aggregate, judge, normalize_answer, score, CorpusMetrics, Diagnostics, Judgement, SampleScore,
    ScoreReport, Scorer,
};
