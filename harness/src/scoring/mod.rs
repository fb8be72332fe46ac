//! Scoring: reading predictions (structured or raw model text), judging each sample, and
//! aggregating corpus metrics.

mod absa;
mod accuracy;
mod aggregate;
mod answer;
mod judge;
pub mod loglikelihood;
mod parse;
mod predictions;
mod rating;
mod sample;
mod scorer;

pub use absa::absa_answer;
pub use accuracy::normalize_answer;
pub use aggregate::{aggregate, score, CorpusMetrics, ScoreReport};
pub use answer::{
    choice_letter, gsm8k_number, last_boxed, math_answers_equal, math_number, normalize_math,
    yes_no,
};
pub use judge::{judge, judge_text, Judgement};
pub use parse::{
    canonical_aspect, canonical_polarity, first_json, parse_absa, parse_boxed_answer,
    parse_final_answer, parse_rating, strip_thinking, Parsed,
};
pub use predictions::{parse_prediction, read_predictions, Prediction, Structured};
pub use sample::{
    pair_set, AspectPair, Diagnostics, Judged, SampleFigure, SampleScore, SampleStatus,
};
pub use scorer::{AnswerSource, Scorer};
