//! Loaders for the multiple-choice datasets: CommonsenseQA, ARC-Challenge and MedMCQA. Gold is
//! the choice letter; the choices (label + text) come from each row.

use serde_json::{json, Value};

use super::sample::{Choice, Sample, Target};
use super::source::{JsonType, SourceFile, Table};
use crate::error::Result;

/// CommonsenseQA: `question.stem`, `question.choices[{label, text}]`, `answerKey`, `id`.
pub fn load_commonsenseqa(source: &SourceFile) -> Result<Vec<Sample>> {
    let table = source.read_json_lines(&[
        ("id", JsonType::String),
        ("answerKey", JsonType::String),
        ("question", JsonType::Object),
    ])?;
    let ids = table.strings("id")?;
    let keys = table.strings("answerKey")?;
    let stems = table.struct_strings("question", "stem")?;
    let mut samples = Vec::with_capacity(ids.len());
    for row in 0..ids.len() {
        let question = table.json_value("question", row)?;
        let choices = question
            .get("choices")
            .and_then(Value::as_array)
            .ok_or_else(|| table.malformed(row, "question.choices", "missing or not an array"))?
            .iter()
            .map(|choice| {
                let field =
                    |name: &str| choice.get(name).and_then(Value::as_str).map(str::to_string);
                match (field("label"), field("text")) {
                    (Some(label), Some(text)) => Ok(Choice { label, text }),
                    _ => Err(table.malformed(
                        row,
                        "question.choices",
                        "each choice needs `label` and `text` strings",
                    )),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let concept = question
            .get("question_concept")
            .cloned()
            .unwrap_or(Value::Null);
        samples.push(sample(
            &table,
            row,
            &ids[row],
            &stems[row],
            choices,
            &keys[row],
            "answerKey",
            [("concept", concept)],
        )?);
    }
    Ok(samples)
}

/// ARC-Challenge: `question`, `choices{text[], label[]}`, `answerKey`, `id` (labels vary: read them).
pub fn load_arc(source: &SourceFile) -> Result<Vec<Sample>> {
    let table = source.read_json_lines(&[
        ("id", JsonType::String),
        ("question", JsonType::String),
        ("choices", JsonType::Object),
        ("answerKey", JsonType::String),
    ])?;
    let ids = table.strings("id")?;
    let questions = table.strings("question")?;
    let keys = table.strings("answerKey")?;
    let mut samples = Vec::with_capacity(ids.len());
    for row in 0..ids.len() {
        let choices = table.json_value("choices", row)?;
        let strings = |name: &str| -> Option<Vec<String>> {
            choices
                .get(name)?
                .as_array()?
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        let (Some(texts), Some(labels)) = (strings("text"), strings("label")) else {
            return Err(table.malformed(
                row,
                "choices",
                "expected `text` and `label` string lists",
            ));
        };
        if texts.len() != labels.len() || texts.is_empty() {
            return Err(table.malformed(
                row,
                "choices",
                format!("{} labels for {} texts", labels.len(), texts.len()),
            ));
        }
        let choices = labels
            .into_iter()
            .zip(texts)
            .map(|(label, text)| Choice { label, text })
            .collect();
        samples.push(sample(
            &table,
            row,
            &ids[row],
            &questions[row],
            choices,
            &keys[row],
            "answerKey",
            [],
        )?);
    }
    Ok(samples)
}

/// MedMCQA (MedAgentsBench format): `question`, `options{A..D}`, `answer_idx`, `realidx`.
pub fn load_medmcqa(source: &SourceFile) -> Result<Vec<Sample>> {
    let table = source.read_json_lines(&[
        ("question", JsonType::String),
        ("realidx", JsonType::String),
        ("options", JsonType::Object),
        ("answer_idx", JsonType::String),
    ])?;
    let ids = table.strings("realidx")?;
    let questions = table.strings("question")?;
    let keys = table.strings("answer_idx")?;
    let mut samples = Vec::with_capacity(ids.len());
    for row in 0..ids.len() {
        let options = table.json_value("options", row)?;
        let choices = ["A", "B", "C", "D"]
            .iter()
            .map(|label| {
                options
                    .get(*label)
                    .and_then(Value::as_str)
                    .map(|text| Choice {
                        label: label.to_string(),
                        text: text.to_string(),
                    })
                    .ok_or_else(|| {
                        table.malformed(row, &format!("options.{label}"), "missing or not a string")
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        samples.push(sample(
            &table,
            row,
            &ids[row],
            &questions[row],
            choices,
            &keys[row],
            "answer_idx",
            [],
        )?);
    }
    Ok(samples)
}

/// Builds a multiple-choice sample, checking that the gold letter is one of the choices.
#[allow(clippy::too_many_arguments)]
fn sample<const N: usize>(
    table: &Table,
    row: usize,
    id: &str,
    question: &str,
    choices: Vec<Choice>,
    key: &str,
    key_field: &str,
    meta: [(&str, Value); N],
) -> Result<Sample> {
    let key = key.trim();
    if !choices.iter().any(|choice| choice.label == key) {
        let labels: Vec<&str> = choices.iter().map(|c| c.label.as_str()).collect();
        return Err(table.malformed(
            row,
            key_field,
            format!("`{key}` is not one of the choices {}", labels.join(", ")),
        ));
    }
    Ok(Sample {
        id: id.to_string(),
        input: question.to_string(),
        choices,
        target: Target::Answer {
            value: key.to_string(),
        },
        meta: meta
            .into_iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(name, value)| (name.to_string(), json!(value)))
            .collect(),
    })
}
