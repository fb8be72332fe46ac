//! Per-sample judging: one prediction (structured or raw model text) read with the task's
//! parser and compared with the sample's gold target.

use super::answer::{choice_letter, gsm8k_number, math_answers_equal, normalize_math, yes_no};
use super::parse::{
    canonical_aspect, canonical_polarity, parse_absa, parse_boxed_answer, parse_final_answer,
    parse_rating,
};
use super::predictions::{Prediction, Structured};
use super::sample::{
    pair_set, AspectPair, Diagnostics, Judged, SampleFigure, SampleScore, SampleStatus,
};
use super::scorer::{AnswerSource, Scorer};
use crate::data::{AnswerKind, Polarity, Sample, Target};
use crate::error::{Error, Result};

/// One sample judged: its record for the run log plus what the corpus metrics need.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The per-sample record.
    pub record: SampleScore,
    /// This sample's contribution to the diagnostics (pool-level `invalid_labels` from the F1
    /// metric are added at aggregation).
    pub diagnostics: Diagnostics,
}

/// A prediction read for one sample.
enum Read<T> {
    Missing,
    Unparsed(String),
    Value(T),
}

impl<T> Read<T> {
    fn status(&self) -> SampleStatus {
        match self {
            Read::Missing => SampleStatus::Missing,
            Read::Unparsed(_) => SampleStatus::Unparsed,
            Read::Value(_) => SampleStatus::Scored,
        }
    }

    fn reason(&self) -> Option<String> {
        match self {
            Read::Unparsed(reason) => Some(reason.clone()),
            _ => None,
        }
    }

    fn diagnostics(&self) -> Diagnostics {
        Diagnostics {
            missing: usize::from(matches!(self, Read::Missing)),
            unparsed: usize::from(matches!(self, Read::Unparsed(_))),
            invalid_labels: 0,
        }
    }
}

/// What a sample's prediction holds: a structured value, the model's raw text, or both (the
/// structured value is read first).
#[derive(Debug, Clone, Copy)]
struct Given<'a> {
    structured: Option<&'a Structured>,
    output: Option<&'a str>,
}

fn read<T>(
    given: Option<Given<'_>>,
    structured: impl FnOnce(&Structured) -> Option<std::result::Result<T, String>>,
    parse_output: impl FnOnce(&str) -> std::result::Result<T, String>,
) -> Read<T> {
    let Some(given) = given else {
        return Read::Missing;
    };
    let outcome = match (given.structured, given.output) {
        (Some(given), _) => structured(given).unwrap_or_else(|| {
            Err("the structured prediction is of another task's kind".to_string())
        }),
        (None, Some(output)) => parse_output(output),
        (None, None) => Err("no prediction".to_string()),
    };
    match outcome {
        Ok(value) => Read::Value(value),
        Err(reason) => Read::Unparsed(reason),
    }
}

/// Judges one sample's prediction (None = missing) with `scorer`.
pub fn judge(
    scorer: &Scorer,
    sample: &Sample,
    prediction: Option<&Prediction>,
) -> Result<Judgement> {
    let given = prediction.map(|p| Given {
        structured: p.structured.as_ref(),
        output: p.output.as_deref(),
    });
    judge_given(scorer, sample, given)
}

/// Judges a model's raw text for `sample` (None: no answer, judged as missing) with the
/// scorer's parser and judge, as `r2l eval` does each answer.
pub fn judge_text(scorer: &Scorer, sample: &Sample, text: Option<&str>) -> Result<Judgement> {
    let given = text.map(|text| Given {
        structured: None,
        output: Some(text),
    });
    judge_given(scorer, sample, given)
}

fn judge_given(
    scorer: &Scorer,
    sample: &Sample,
    prediction: Option<Given<'_>>,
) -> Result<Judgement> {
    match scorer {
        Scorer::AbsaF1 { labels } => Ok(judge_absa(labels, sample, prediction)),
        Scorer::Rating => judge_rating(sample, prediction),
        Scorer::Accuracy { answer, source } => judge_answer(*answer, *source, sample, prediction),
        Scorer::LogLikelihood => Err(Error::InvalidInput(format!(
            "sample `{}`: a log-likelihood task is judged from the model's log-probabilities \
             of each choice, not from a text prediction",
            sample.id
        ))),
    }
}

fn judge_absa(labels: &[String], sample: &Sample, prediction: Option<Given<'_>>) -> Judgement {
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let read = read(
        prediction,
        |given| match given {
            Structured::Aspects(pairs) => Some(Ok(pairs
                .iter()
                .map(|pair| {
                    AspectPair::new(
                        canonical_aspect(&pair.aspect, &label_refs),
                        canonical_polarity(&pair.polarity),
                    )
                })
                .collect())),
            _ => None,
        },
        |output| parse_absa(output, &label_refs),
    );
    let mut diagnostics = read.diagnostics();
    let pairs = match &read {
        Read::Value(pairs) => pair_set(pairs.iter().cloned()),
        _ => Vec::new(),
    };
    diagnostics.invalid_labels = pairs
        .iter()
        .filter(|pair| Polarity::parse(&pair.polarity).is_none())
        .count();
    let gold = sample.aspect_labels();
    let true_positives = pairs.iter().filter(|pair| gold.contains(pair)).count();
    let denominator = pairs.len() + gold.len();
    let f1 = if denominator == 0 {
        1.0
    } else {
        2.0 * true_positives as f64 / denominator as f64
    };
    Judgement {
        record: SampleScore {
            id: sample.id.clone(),
            status: read.status(),
            reason: read.reason(),
            correct: Some(pairs == gold),
            prediction: Some(Judged::Pairs(pairs)),
            gold: Judged::Pairs(gold.to_vec()),
            score: SampleFigure::Absa {
                aspect_polarity_f1: f1,
            },
        },
        diagnostics,
    }
}

fn judge_rating(sample: &Sample, prediction: Option<Given<'_>>) -> Result<Judgement> {
    let Target::Rating { value: gold } = sample.target else {
        return Err(Error::InvalidInput(format!(
            "sample `{}` has no rating target",
            sample.id
        )));
    };
    let read = read(
        prediction,
        |given| match given {
            Structured::Score(score) => Some(Ok(*score)),
            _ => None,
        },
        parse_rating,
    );
    let mut diagnostics = read.diagnostics();
    let value = match read {
        Read::Value(value) if value.is_finite() => Some(value),
        _ => None,
    };
    diagnostics.invalid_labels = usize::from(value.is_some_and(|v| !(1.0..=5.0).contains(&v)));
    Ok(Judgement {
        record: SampleScore {
            id: sample.id.clone(),
            status: read.status(),
            reason: read.reason(),
            prediction: value.map(Judged::Rating),
            gold: Judged::Rating(gold),
            correct: None,
            score: SampleFigure::Rating {
                absolute_error: value.map(|v| (v - gold).abs()),
            },
        },
        diagnostics,
    })
}

fn judge_answer(
    kind: AnswerKind,
    source: AnswerSource,
    sample: &Sample,
    prediction: Option<Given<'_>>,
) -> Result<Judgement> {
    let Target::Answer { value: gold } = &sample.target else {
        return Err(Error::InvalidInput(format!(
            "sample `{}` has no answer target",
            sample.id
        )));
    };
    let read = read(
        prediction,
        |given| match given {
            Structured::Answer(answer) => Some(normalize_answer(answer, kind)),
            _ => None,
        },
        |output| match source {
            AnswerSource::Standard => parse_final_answer(output, kind),
            AnswerSource::LastBoxed => parse_boxed_answer(output, kind),
        },
    );
    let mut diagnostics = read.diagnostics();
    let answer = match &read {
        Read::Value(answer) => Some(answer.clone()),
        _ => None,
    };
    if kind == AnswerKind::ChoiceLetter {
        if let Some(letter) = &answer {
            diagnostics.invalid_labels =
                usize::from(!sample.choices.iter().any(|choice| &choice.label == letter));
        }
    }
    let gold = normalize_answer(gold, kind).unwrap_or_else(|_| gold.clone());
    let correct = answer
        .as_deref()
        .is_some_and(|a| answers_match(a, &gold, kind));
    Ok(Judgement {
        record: SampleScore {
            id: sample.id.clone(),
            status: read.status(),
            reason: read.reason(),
            prediction: answer.map(Judged::Answer),
            gold: Judged::Answer(gold),
            correct: Some(correct),
            score: SampleFigure::Answer { correct },
        },
        diagnostics,
    })
}

/// Normalises a structured answer of `kind`; the error says why it cannot be read.
pub fn normalize_answer(answer: &str, kind: AnswerKind) -> std::result::Result<String, String> {
    match kind {
        AnswerKind::Integer => {
            gsm8k_number(answer).ok_or_else(|| format!("`{answer}` holds no number"))
        }
        AnswerKind::Latex => Ok(normalize_math(answer)),
        AnswerKind::YesNo => yes_no(answer)
            .map(str::to_string)
            .ok_or_else(|| format!("`{answer}` is not yes or no")),
        AnswerKind::ChoiceLetter => {
            choice_letter(answer).ok_or_else(|| format!("`{answer}` names no choice letter"))
        }
    }
}

fn answers_match(predicted: &str, gold: &str, kind: AnswerKind) -> bool {
    match kind {
        AnswerKind::Integer => match (predicted.parse::<f64>(), gold.parse::<f64>()) {
            (Ok(p), Ok(g)) => (p - g).abs() < 1e-9,
            _ => predicted == gold,
        },
        AnswerKind::Latex => math_answers_equal(predicted, gold),
        _ => predicted == gold,
    }
}
