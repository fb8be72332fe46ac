//! Loaders for the open-answer reasoning datasets: GSM8K, MATH-500 and StrategyQA.

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;
use serde_json::json;

use super::sample::{Sample, Target};
use super::source::{line_of_offset, JsonType, SourceFile};
use crate::error::{Error, Result};

static CALCULATOR_ANNOTATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<<[^>]*>>").unwrap_or_else(|_| unreachable!("valid regex literal"))
});

/// GSM8K: the gold answer is the integer after the last `\n#### `, thousands commas removed;
/// the rationale before it (calculator annotations `<<...>>` removed) goes to `meta.rationale`.
pub fn load_gsm8k(source: &SourceFile) -> Result<Vec<Sample>> {
    let table =
        source.read_json_lines(&[("question", JsonType::String), ("answer", JsonType::String)])?;
    let questions = table.strings("question")?;
    let answers = table.strings("answer")?;
    let mut samples = Vec::with_capacity(questions.len());
    for (row, (question, answer)) in questions.into_iter().zip(answers).enumerate() {
        let (rationale, final_answer) = answer
            .rsplit_once("\n#### ")
            .ok_or_else(|| table.malformed(row, "answer", "no final answer after `\\n#### `"))?;
        let final_answer = final_answer.trim().replace(',', "");
        if final_answer.parse::<i64>().is_err() {
            return Err(table.malformed(
                row,
                "answer",
                format!("final answer `{final_answer}` is not an integer"),
            ));
        }
        samples.push(Sample {
            id: row.to_string(),
            input: question,
            choices: Vec::new(),
            target: Target::Answer {
                value: final_answer,
            },
            meta: [(
                "rationale".to_string(),
                json!(CALCULATOR_ANNOTATION.replace_all(rationale, "")),
            )]
            .into_iter()
            .collect(),
        });
    }
    Ok(samples)
}

/// MATH-500: the gold answer is the already-extracted LaTeX `answer`; id is `unique_id`.
pub fn load_math500(source: &SourceFile) -> Result<Vec<Sample>> {
    let table = source.read_json_lines(&[
        ("problem", JsonType::String),
        ("solution", JsonType::String),
        ("answer", JsonType::String),
        ("subject", JsonType::String),
        ("level", JsonType::Number),
        ("unique_id", JsonType::String),
    ])?;
    let problems = table.strings("problem")?;
    let solutions = table.strings("solution")?;
    let answers = table.strings("answer")?;
    let subjects = table.strings("subject")?;
    let levels = table.floats("level")?;
    let ids = table.strings("unique_id")?;
    let mut samples = Vec::with_capacity(problems.len());
    for row in 0..problems.len() {
        samples.push(Sample {
            id: ids[row].clone(),
            input: problems[row].clone(),
            choices: Vec::new(),
            target: Target::Answer {
                value: answers[row].clone(),
            },
            meta: [
                ("solution".to_string(), json!(solutions[row])),
                ("subject".to_string(), json!(subjects[row])),
                ("level".to_string(), json!(levels[row] as i64)),
            ]
            .into_iter()
            .collect(),
        });
    }
    Ok(samples)
}

#[derive(Deserialize)]
struct BigBenchTask<'a> {
    #[serde(borrow)]
    examples: Vec<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct StrategyExample {
    input: String,
    target_scores: TargetScores,
    target: Option<String>,
}

#[derive(Deserialize)]
struct TargetScores {
    #[serde(rename = "Yes")]
    yes: f64,
    #[serde(rename = "No")]
    no: f64,
}

/// StrategyQA (BIG-bench task file, one JSON document): gold is `yes`/`no` from
/// `target_scores`; id is the array index. The document is not tabular, so serde reads it.
pub fn load_strategyqa(source: &SourceFile) -> Result<Vec<Sample>> {
    let text = source.text()?;
    let task: BigBenchTask = serde_json::from_str(text).map_err(|error| {
        source.malformed(
            error.line(),
            "(json)",
            format!("not a BIG-bench task: {error}"),
        )
    })?;
    let mut samples = Vec::with_capacity(task.examples.len());
    for (index, raw) in task.examples.iter().enumerate() {
        // The raw slice borrows from `text`, so its address gives its line.
        let offset = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        let line = line_of_offset(text.as_bytes(), offset);
        let field = format!("examples[{index}]");
        let example: StrategyExample = serde_json::from_str(raw.get())
            .map_err(|error| source.malformed(line, &field, error.to_string()))?;
        let answer = match (example.target_scores.yes, example.target_scores.no) {
            (yes, no) if yes == 1.0 && no == 0.0 => "yes",
            (yes, no) if yes == 0.0 && no == 1.0 => "no",
            (yes, no) => {
                return Err(source.malformed(
                    line,
                    &format!("{field}.target_scores"),
                    format!("expected exactly one of Yes/No to be 1, found Yes={yes} No={no}"),
                ))
            }
        };
        samples.push(Sample {
            id: index.to_string(),
            input: example.input,
            choices: Vec::new(),
            target: Target::Answer {
                value: answer.to_string(),
            },
            meta: [("rationale".to_string(), json!(example.target))]
                .into_iter()
                .collect(),
        });
    }
    if samples.is_empty() {
        return Err(Error::File {
            path: source.path.clone(),
            message: "the task has no examples".to_string(),
        });
    }
    Ok(samples)
}
