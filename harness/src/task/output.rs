//! Constrained output: a task may ask endpoints to generate JSON matching a schema (OpenAI's
//! `response_format: json_schema`; `r2l serve` enforces it with llguidance, vLLM and llama.cpp
//! accept it too). The schema is written in the task file or derived from the scorer's labels.

use chat::{JsonSchemaFormat, ResponseFormat};
use serde::Serialize;
use serde_json::Value;

use crate::scoring::Scorer;

/// What a task asks the model's output to look like.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum OutputFormat {
    /// Free text, read by the task's parser (the default).
    #[default]
    Text,
    /// JSON matching `schema`, enforced by the endpoint.
    JsonSchema {
        /// The JSON schema.
        schema: Value,
    },
}

impl OutputFormat {
    /// The `response_format` a request carries (none for free text).
    pub fn response_format(&self, task_name: &str) -> Option<ResponseFormat> {
        match self {
            OutputFormat::Text => None,
            OutputFormat::JsonSchema { schema } => Some(ResponseFormat::JsonSchema {
                json_schema: JsonSchemaFormat {
                    name: schema_name(task_name),
                    schema: schema.clone(),
                    strict: Some(true),
                },
            }),
        }
    }

    /// Whether the output is constrained.
    pub fn is_constrained(&self) -> bool {
        !matches!(self, OutputFormat::Text)
    }
}

/// OpenAI limits schema names to `[a-zA-Z0-9_-]{1,64}`.
fn schema_name(task_name: &str) -> String {
    let name: String = task_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "answer".to_string()
    } else {
        name
    }
}

/// Builds the output format from a task file's `[output]` table; the error is the message for
/// the field it names.
pub fn output_format(
    format: Option<&str>,
    schema: Option<&str>,
    scorer: &Scorer,
) -> Result<OutputFormat, (&'static str, String)> {
    match format.unwrap_or("text") {
        "text" => match schema {
            Some(_) => Err((
                "output.schema",
                "a schema needs `format = \"json_schema\"`".to_string(),
            )),
            None => Ok(OutputFormat::Text),
        },
        "json_schema" => {
            let schema = match schema {
                Some(text) => {
                    let value: Value = serde_json::from_str(text)
                        .map_err(|e| ("output.schema", format!("not valid JSON: {e}")))?;
                    if !value.is_object() {
                        return Err((
                            "output.schema",
                            "must be a JSON object (a JSON schema)".to_string(),
                        ));
                    }
                    value
                }
                None => scorer.derived_schema().ok_or((
                    "output.schema",
                    "required for accuracy tasks (no schema is derived for free-text reasoning)"
                        .to_string(),
                ))?,
            };
            Ok(OutputFormat::JsonSchema { schema })
        }
        other => Err((
            "output.format",
            format!("unknown format `{other}`; valid: text, json_schema"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::AnswerKind;
    use crate::scoring::AnswerSource;
    use serde_json::json;

    #[test]
    fn absa_schema_lists_the_labels_and_polarities() {
        let scorer = Scorer::AbsaF1 {
            labels: vec!["BATTERY".to_string(), "CAMERA".to_string()],
        };
        let format = output_format(Some("json_schema"), None, &scorer)
            .unwrap_or_else(|(field, message)| panic!("{field}: {message}"));
        let Some(ResponseFormat::JsonSchema { json_schema }) = format.response_format("uit-visfd")
        else {
            panic!("no schema");
        };
        assert_eq!(json_schema.name, "uit-visfd");
        assert_eq!(json_schema.schema["maxItems"], 2);
        assert_eq!(
            json_schema.schema["items"]["properties"]["aspect"]["enum"],
            json!(["BATTERY", "CAMERA"])
        );
    }

    #[test]
    fn bad_output_tables_name_the_field() {
        let accuracy = Scorer::Accuracy {
            answer: AnswerKind::Integer,
            source: AnswerSource::Standard,
        };
        assert_eq!(
            output_format(Some("json_schema"), None, &accuracy)
                .err()
                .map(|e| e.0),
            Some("output.schema")
        );
        assert_eq!(
            output_format(Some("xml"), None, &Scorer::Rating)
                .err()
                .map(|e| e.0),
            Some("output.format")
        );
        assert_eq!(
            output_format(Some("json_schema"), Some("[1"), &Scorer::Rating)
                .err()
                .map(|e| e.0),
            Some("output.schema")
        );
        assert_eq!(
            output_format(None, Some("{}"), &Scorer::Rating)
                .err()
                .map(|e| e.0),
            Some("output.schema")
        );
        assert_eq!(
            output_format(None, None, &Scorer::Rating).ok(),
            Some(OutputFormat::Text)
        );
    }
}
