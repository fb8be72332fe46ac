//! Task specifications: a declarative TOML file (raw form) validated into a [`Task`], with
//! errors that name the file and the field.

use serde::{Deserialize, Serialize};

use super::output::{output_format, OutputFormat};
use crate::data::{AnswerKind, DatasetName, DatasetSource, LocalDataset, RawLocal, TaskFamily};
use crate::error::{Error, Result};
use crate::scoring::{AnswerSource, Scorer};

/// The TOML file as written (every field checked later by [`Task::validate`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    name: Option<String>,
    version: Option<String>,
    #[serde(default)]
    description: String,
    dataset: Option<toml::Value>,
    split: Option<String>,
    scorer: Option<String>,
    #[serde(default)]
    metrics: Vec<String>,
    prompt: Option<RawPrompt>,
    #[serde(default)]
    generation: GenerationSettings,
    output: Option<RawOutput>,
}

/// `[output]`: constrained output (see [`OutputFormat`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    format: Option<String>,
    schema: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrompt {
    system: Option<String>,
    user: Option<String>,
}

/// Sampling settings sent with every request of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenerationSettings {
    /// Most tokens to generate per sample.
    pub max_tokens: u32,
    /// Sampling temperature (0 = greedy).
    pub temperature: f64,
    /// Nucleus sampling mass, in (0, 1].
    pub top_p: f64,
    /// Sampling seed (sent to the endpoint).
    pub seed: u64,
    /// Stop sequences.
    pub stop: Vec<String>,
}

impl Default for GenerationSettings {
    fn default() -> Self {
        GenerationSettings {
            max_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            stop: Vec::new(),
        }
    }
}

/// A prompt: optional system message and a user template with `{{placeholders}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptTemplate {
    /// The system message, if any (placeholders allowed).
    pub system: Option<String>,
    /// The user message template.
    pub user: String,
}

/// The placeholders a prompt template may use.
pub const PLACEHOLDERS: [&str; 4] = ["input", "labels", "choices", "letters"];

/// A validated task: what to evaluate, how to ask, and how to score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    /// Task name (e.g. `uit-visfd`).
    pub name: String,
    /// Task version: bump it when the prompt or scoring changes, so old runs are not compared.
    pub version: String,
    /// One line on what it measures.
    pub description: String,
    /// The dataset: a built-in one, or a user's own file.
    #[serde(serialize_with = "serialize_dataset")]
    pub dataset: DatasetSource,
    /// The split evaluated by default.
    pub split: String,
    /// How outputs are judged.
    #[serde(skip)]
    pub scorer: Scorer,
    /// Metrics reported, primary first.
    pub metrics: Vec<String>,
    /// The prompt.
    pub prompt: PromptTemplate,
    /// Sampling settings.
    pub generation: GenerationSettings,
    /// Free text, or JSON constrained by a schema.
    pub output: OutputFormat,
    /// Where the specification came from (a path, or `built-in:<name>`).
    pub source: String,
}

fn serialize_dataset<S: serde::Serializer>(
    dataset: &DatasetSource,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    match dataset {
        DatasetSource::BuiltIn(name) => serializer.serialize_str(name.name()),
        DatasetSource::Local(local) => serde_json::json!({
            "name": local.name,
            "path": local.path,
            "train": local.train,
        })
        .serialize(serializer),
    }
}

/// The scorer names a task file may use (`boxed_accuracy`: accuracy on the answer in the last
/// `\boxed{}`, see [`AnswerSource::LastBoxed`]).
const SCORERS: [&str; 5] = [
    "absa_f1",
    "rating",
    "accuracy",
    "boxed_accuracy",
    "loglikelihood",
];

impl Task {
    /// Parses and validates a task file's text; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Task> {
        let raw: RawTask = parse_toml(text, source)?;
        Task::validate(raw, source)
    }

    fn validate(raw: RawTask, source: &str) -> Result<Task> {
        let fail = |field: &str, message: String| Error::TaskSpec {
            file: source.to_string(),
            field: field.to_string(),
            message,
        };
        let required = |value: Option<String>, field: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| fail(field, "required".to_string()))
        };
        let name = required(raw.name, "name")?;
        let version = required(raw.version, "version")?;
        let dataset = dataset_source(raw.dataset, source).map_err(|(field, m)| fail(&field, m))?;
        let split = raw
            .split
            .unwrap_or_else(|| dataset.default_split().to_string());
        dataset
            .check_split(&split)
            .map_err(|error| fail("split", error.to_string()))?;
        let scorer_name = required(raw.scorer, "scorer")?;
        let scorer =
            scorer_for(&scorer_name, &dataset).map_err(|message| fail("scorer", message))?;
        let available = scorer.metric_names();
        let metrics = if raw.metrics.is_empty() {
            available.iter().map(|m| m.to_string()).collect()
        } else {
            for metric in &raw.metrics {
                if !available.contains(&metric.as_str()) {
                    return Err(fail(
                        "metrics",
                        format!(
                            "unknown metric `{metric}` for scorer {scorer_name}; valid: {}",
                            available.join(", ")
                        ),
                    ));
                }
            }
            raw.metrics
        };
        let prompt = raw
            .prompt
            .ok_or_else(|| fail("prompt", "required (with at least `user`)".to_string()))?;
        let user = required(prompt.user, "prompt.user")?;
        check_placeholders(&user).map_err(|message| fail("prompt.user", message))?;
        if let Some(system) = &prompt.system {
            check_placeholders(system).map_err(|message| fail("prompt.system", message))?;
        }
        let generation = raw.generation;
        if generation.max_tokens == 0 {
            return Err(fail(
                "generation.max_tokens",
                "must be at least 1".to_string(),
            ));
        }
        if !(generation.temperature.is_finite() && generation.temperature >= 0.0) {
            return Err(fail(
                "generation.temperature",
                format!("must be >= 0, found {}", generation.temperature),
            ));
        }
        if !(generation.top_p > 0.0 && generation.top_p <= 1.0) {
            return Err(fail(
                "generation.top_p",
                format!("must be in (0, 1], found {}", generation.top_p),
            ));
        }
        let output = raw.output.as_ref().map_or(Ok(OutputFormat::Text), |raw| {
            output_format(raw.format.as_deref(), raw.schema.as_deref(), &scorer)
                .map_err(|(field, message)| fail(field, message))
        })?;
        Ok(Task {
            name,
            version,
            description: raw.description,
            dataset,
            split,
            scorer,
            metrics,
            prompt: PromptTemplate {
                system: prompt.system,
                user,
            },
            generation,
            output,
            source: source.to_string(),
        })
    }

    /// The primary metric (the first listed).
    pub fn primary_metric(&self) -> &str {
        self.metrics.first().map_or("", String::as_str)
    }
}

/// `dataset = "name"` (a built-in) or a `[dataset]` table (a local file, relative to the task
/// file); the error is (field, message).
fn dataset_source(
    value: Option<toml::Value>,
    source: &str,
) -> std::result::Result<DatasetSource, (String, String)> {
    let fail = |field: &str, message: String| (field.to_string(), message);
    match value {
        None => Err(fail("dataset", "required".to_string())),
        Some(toml::Value::String(name)) => DatasetName::parse(&name)
            .map(DatasetSource::BuiltIn)
            .map_err(|error| fail("dataset", error.to_string())),
        Some(value @ toml::Value::Table(_)) => {
            let raw: RawLocal = serde_path_to_error::deserialize(value).map_err(|error| {
                let path = error.path().to_string();
                let field = if path == "." {
                    String::new()
                } else {
                    format!(".{path}")
                };
                fail(
                    &format!("dataset{field}"),
                    error.inner().message().to_string(),
                )
            })?;
            if source.starts_with("built-in:") {
                return Err(fail(
                    "dataset",
                    "a built-in task reads a built-in dataset".into(),
                ));
            }
            let base = std::path::Path::new(source)
                .parent()
                .unwrap_or(std::path::Path::new(""));
            LocalDataset::validate(raw, base)
                .map(|local| DatasetSource::Local(Box::new(local)))
                .map_err(|(field, message)| fail(&format!("dataset.{field}"), message))
        }
        Some(other) => Err(fail(
            "dataset",
            format!(
                "expected a built-in dataset's name or a [dataset] table with `path`, found a {}",
                other.type_str()
            ),
        )),
    }
}

/// The scorer a name selects for a dataset; the error says what would fit.
fn scorer_for(name: &str, dataset: &DatasetSource) -> std::result::Result<Scorer, String> {
    let scorer = match (name, dataset.family()) {
        ("absa_f1", TaskFamily::Absa) => Scorer::AbsaF1 {
            labels: dataset.aspect_labels(),
        },
        ("rating", TaskFamily::Rating) => Scorer::Rating,
        ("accuracy", TaskFamily::Reasoning(kind)) => Scorer::Accuracy {
            answer: kind,
            source: AnswerSource::Standard,
        },
        ("boxed_accuracy", TaskFamily::Reasoning(kind)) => Scorer::Accuracy {
            answer: kind,
            source: AnswerSource::LastBoxed,
        },
        ("loglikelihood", TaskFamily::Reasoning(AnswerKind::ChoiceLetter)) => Scorer::LogLikelihood,
        (name, _) if !SCORERS.contains(&name) => {
            return Err(format!(
                "unknown scorer `{name}`; valid: {}",
                SCORERS.join(", ")
            ))
        }
        (name, family) => {
            let fits = match family {
                TaskFamily::Absa => "absa_f1",
                TaskFamily::Rating => "rating",
                TaskFamily::Reasoning(AnswerKind::ChoiceLetter) => {
                    "accuracy`, `boxed_accuracy` or `loglikelihood"
                }
                TaskFamily::Reasoning(_) => "accuracy` or `boxed_accuracy",
            };
            return Err(format!(
                "scorer `{name}` does not fit dataset {dataset}; use `{fits}`"
            ));
        }
    };
    Ok(scorer)
}

/// Checks that every `{{name}}` in a template is a known placeholder.
fn check_placeholders(template: &str) -> std::result::Result<(), String> {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a `{{` is never closed with `}}`".to_string())?;
        let name = after[..end].trim();
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder `{{{{{name}}}}}`; valid: {}",
                PLACEHOLDERS.join(", ")
            ));
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

/// Parses TOML into `T`; a syntax error names its line, a schema error names the field path.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, source: &str) -> Result<T> {
    let table: toml::Table = toml::from_str(text).map_err(|error| Error::TaskSpec {
        file: source.to_string(),
        field: "(toml)".to_string(),
        message: error.message().to_string() + &line_hint(text, error.span()),
    })?;
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
        let path = error.path().to_string();
        Error::TaskSpec {
            file: source.to_string(),
            field: if path == "." {
                "(top level)".to_string()
            } else {
                path
            },
            message: error.inner().message().to_string(),
        }
    })
}

fn line_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    span.map(|span| {
        format!(
            " (line {})",
            text[..span.start.min(text.len())].matches('\n').count() + 1
        )
    })
    .unwrap_or_default()
}

/// The kind of answer a reasoning task expects, if it is one.
pub fn answer_kind(task: &Task) -> Option<AnswerKind> {
    match task.scorer {
        Scorer::Accuracy { answer, .. } => Some(answer),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
version = "1"
dataset = "gsm8k"
scorer = "accuracy"
[prompt]
user = "Q: {{input}}"
"#;

    fn error_of(text: &str) -> String {
        Task::from_toml(text, "t.toml")
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_minimal_task_validates_with_defaults() {
        let task = Task::from_toml(GOOD, "t.toml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(task.split, "test");
        assert_eq!(task.metrics, vec!["accuracy"]);
        assert_eq!(task.generation.max_tokens, 256);
    }

    #[test]
    fn errors_name_file_and_field() {
        assert!(error_of(&GOOD.replace("version = \"1\"\n", ""))
            .contains("t.toml: field `version`: required"));
        assert!(error_of(&GOOD.replace("gsm8k", "imdb"))
            .contains("field `dataset`: unknown dataset `imdb`"));
        assert!(error_of(&GOOD.replace("accuracy", "absa_f1"))
            .contains("field `scorer`: scorer `absa_f1` does not fit"));
        assert!(error_of(&GOOD.replace("{{input}}", "{{question}}"))
            .contains("field `prompt.user`: unknown placeholder"));
        assert!(
            error_of(&format!("{GOOD}\n[generation]\ntop_p = 0\n")).contains("generation.top_p")
        );
        assert!(error_of(&format!("{GOOD}\n[generation]\nmax_tokns = 5\n")).contains("generation"));
        assert!(
            error_of(&GOOD.replace("scorer =", "split = \"dev\"\nscorer ="))
                .contains("field `split`")
        );
        assert!(error_of(&GOOD.replace(
            "scorer = \"accuracy\"",
            "scorer = \"accuracy\"\nmetrics = [\"f1\"]"
        ))
        .contains("unknown metric `f1`"));
    }
}
