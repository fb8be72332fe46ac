//! The `accuracy` and `boxed_accuracy` scorers: a prediction is one final answer of the task's
//! kind (an integer, a LaTeX expression, yes/no or a choice letter), read from an `Answer:` line
//! or the last `\boxed{}`, judged correct or not; the corpus metric is accuracy. No constrained
//! output is derived (the rationale is free text); the gold answer is written as each prompt asks
//! for it.

use super::aggregate::CorpusMetrics;
use super::answer::{choice_letter, gsm8k_number, math_answers_equal, normalize_math, yes_no};
use super::judge::{read, Given, Judgement, Read};
use super::parse::{parse_boxed_answer, parse_final_answer};
use super::predictions::Structured;
use super::sample::{Judged, SampleFigure, SampleScore};
use super::scorer::AnswerSource;
use crate::data::{AnswerKind, Sample, Target};
use crate::error::{Error, Result};
use crate::metrics::Accuracy;

/// The names of the corpus metrics this scorer reports, in report order.
pub const METRICS: [&str; 1] = ["accuracy"];

/// The corpus metrics this scorer reports.
pub fn metric_names() -> Vec<&'static str> {
    METRICS.to_vec()
}

/// Judges one sample: the answer read from the text (or the structured answer), normalised for
/// its kind and compared with the gold; a letter that is not one of the choices is an invalid
/// label.
pub(super) fn judge(
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

/// Accuracy over the records.
pub(super) fn corpus_metrics(records: &[SampleScore]) -> CorpusMetrics {
    CorpusMetrics::Accuracy(Accuracy::new(
        records.iter().map(|r| r.correct == Some(true)).collect(),
    ))
}

/// A gold answer as the task's prompt asks for it: the worked steps and the boxed answer
/// (boxed prompts), the rationale and an `Answer:` line (integers), the boxed answer (LaTeX),
/// else an `Answer:` line.
pub(super) fn gold_answer(
    kind: AnswerKind,
    source: AnswerSource,
    value: &str,
    sample: &Sample,
) -> String {
    match (source, kind) {
        (AnswerSource::LastBoxed, _) => {
            // Steps separated by blank lines, then the boxed answer (the boxed prompts' form).
            let rationale = rationale(sample).replace('\n', "\n\n");
            if rationale.is_empty() {
                format!("\\boxed{{{value}}}")
            } else {
                format!("{rationale}\n\n\\boxed{{{value}}}")
            }
        }
        (_, AnswerKind::Integer) => format!("{}\nAnswer: {value}", rationale(sample)),
        (_, AnswerKind::Latex) => format!("\\boxed{{{value}}}"),
        _ => format!("Answer: {value}"),
    }
}

/// The worked solution a reasoning sample carries (GSM8K's), trimmed; empty when it has none.
fn rationale(sample: &Sample) -> &str {
    sample
        .meta
        .get("rationale")
        .and_then(|r| r.as_str())
        .unwrap_or_default()
        .trim()
}
