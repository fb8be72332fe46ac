//! Reading a predictions file: JSON Lines of `{"id": ..., <structured prediction> | "output": ...}`.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::data::AspectPair;
use crate::error::{Error, Result};

/// A prediction as the file gives it: structured, raw model output, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The sample id it answers.
    pub id: String,
    /// The 1-based line it came from.
    pub line: usize,
    /// The structured prediction, if given (`aspects`, `score` or `answer`).
    pub structured: Option<Structured>,
    /// The raw model text, if given (`output`); read by the task's parser when no structured
    /// prediction is present.
    pub output: Option<String>,
}

/// A structured prediction.
#[derive(Debug, Clone, PartialEq)]
pub enum Structured {
    /// ABSA: (aspect, polarity) pairs as given (not yet normalised).
    Aspects(Vec<AspectPair>),
    /// A rating (ABSAbank-Imm).
    Score(f64),
    /// A final answer (reasoning), as text.
    Answer(String),
}

/// Reads predictions; malformed lines and repeated ids are errors naming file, line and field.
pub fn read_predictions(path: &Path) -> Result<Vec<Prediction>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut predictions = Vec::new();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for (index, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_number = index + 1;
        let malformed = |field: &str, message: String| Error::Malformed {
            path: path.to_path_buf(),
            line: line_number,
            field: field.to_string(),
            message,
        };
        let value: Value = serde_json::from_str(line)
            .map_err(|error| malformed("(json)", format!("not valid JSON: {error}")))?;
        let prediction = parse_prediction(&value, line_number)
            .map_err(|(field, message)| malformed(field, message))?;
        if let Some(previous) = first_line.insert(prediction.id.clone(), line_number) {
            return Err(malformed(
                "id",
                format!(
                    "id `{}` already predicted on line {previous}",
                    prediction.id
                ),
            ));
        }
        predictions.push(prediction);
    }
    Ok(predictions)
}

/// Parses one prediction object; the error is (field, message).
pub fn parse_prediction(
    value: &Value,
    line: usize,
) -> std::result::Result<Prediction, (&'static str, String)> {
    let object = value
        .as_object()
        .ok_or(("(json)", "expected a JSON object".to_string()))?;
    let id = match object.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(other) => return Err(("id", format!("expected a string, found {other}"))),
        None => return Err(("id", "missing".to_string())),
    };
    let structured = if let Some(aspects) = object.get("aspects") {
        Some(Structured::Aspects(parse_aspects(aspects)?))
    } else if let Some(score) = object.get("score") {
        let score = score
            .as_f64()
            .ok_or(("score", format!("expected a number, found {score}")))?;
        Some(Structured::Score(score))
    } else if let Some(answer) = object.get("answer") {
        let answer = match answer {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => if *flag { "yes" } else { "no" }.to_string(),
            other => {
                return Err((
                    "answer",
                    format!("expected a string or number, found {other}"),
                ))
            }
        };
        Some(Structured::Answer(answer))
    } else {
        None
    };
    let output = match object.get("output") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => return Err(("output", format!("expected a string, found {other}"))),
    };
    if structured.is_none() && output.is_none() {
        return Err((
            "aspects|score|answer|output",
            "no prediction: give a structured field (`aspects`, `score`, `answer`) or `output`"
                .to_string(),
        ));
    }
    Ok(Prediction {
        id,
        line,
        structured,
        output,
    })
}

fn parse_aspects(value: &Value) -> std::result::Result<Vec<AspectPair>, (&'static str, String)> {
    let items = value
        .as_array()
        .ok_or(("aspects", format!("expected an array, found {value}")))?;
    items
        .iter()
        .map(|item| {
            let field = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_string);
            match (field("aspect"), field("polarity")) {
                (Some(aspect), Some(polarity)) => Ok(AspectPair::new(aspect, polarity)),
                _ => Err((
                    "aspects",
                    format!("each item needs string `aspect` and `polarity`, found {item}"),
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn structured_forms_parse() {
        let p = parse_prediction(
            &json!({"id": "7", "aspects": [{"aspect": "BATTERY", "polarity": "Positive"}]}),
            1,
        )
        .ok();
        assert_eq!(
            p.and_then(|p| p.structured),
            Some(Structured::Aspects(vec![AspectPair::new(
                "BATTERY", "Positive"
            )]))
        );
        let p = parse_prediction(&json!({"id": 3, "answer": 42}), 1).ok();
        assert_eq!(
            p.map(|p| (p.id, p.structured)),
            Some(("3".into(), Some(Structured::Answer("42".into()))))
        );
    }

    #[test]
    fn bad_predictions_name_the_field() {
        assert_eq!(
            parse_prediction(&json!({"answer": "1"}), 1)
                .map(|_| ())
                .unwrap_err()
                .0,
            "id"
        );
        assert_eq!(
            parse_prediction(&json!({"id": "1", "score": "high"}), 1)
                .map(|_| ())
                .unwrap_err()
                .0,
            "score"
        );
        assert_eq!(
            parse_prediction(&json!({"id": "1", "aspects": [{"aspect": 1}]}), 1)
                .map(|_| ())
                .unwrap_err()
                .0,
            "aspects"
        );
        assert!(parse_prediction(&json!({"id": "1"}), 1).is_err());
    }
}
