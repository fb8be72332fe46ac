//! A user's own dataset: a local JSON Lines, CSV or Parquet file that a task's `[dataset]` table
//! names instead of a built-in dataset, with the columns that hold each part of a sample.
//!
//! ```toml
//! [dataset]
//! path = "mine.jsonl"          # relative to the task file; .jsonl, .csv or .parquet
//! kind = "multiple_choice"     # or "absa", "rating", "answer"
//! [dataset.fields]
//! question = "stem"
//! choices = "options"          # one list column, or a list of columns (one per choice)
//! answer = "key"               # a letter, a 0-based index, or the choice text
//! ```
//!
//! Ids come from `fields.id`, else an `id` column, else the record index. The file is the
//! task's `test` split; `train = "other.jsonl"` adds a `train` split (few-shot
//! examples, distillation). `sha256 = "…"` pins the file: another content is refused.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::dataset::Dataset;
use super::local_records::{read_records, samples_of};
use super::registry::{check_split_of, AnswerKind, TaskFamily};
use super::source::SourceFile;
use crate::error::{Error, Result};

/// What a local file's samples are, which decides the fields it needs and how it is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalKind {
    /// A question, its choices (labelled A, B, … in order) and the gold choice.
    MultipleChoice,
    /// A text and its set of (aspect, polarity) pairs over the task's `labels`.
    Absa,
    /// A text and a numeric rating.
    Rating,
    /// A question and a final answer of this kind.
    Answer(AnswerKind),
}

impl LocalKind {
    /// How a dataset of this kind is scored.
    pub fn family(self) -> TaskFamily {
        match self {
            LocalKind::MultipleChoice => TaskFamily::Reasoning(AnswerKind::ChoiceLetter),
            LocalKind::Absa => TaskFamily::Absa,
            LocalKind::Rating => TaskFamily::Rating,
            LocalKind::Answer(kind) => TaskFamily::Reasoning(kind),
        }
    }

    /// The field roles this kind reads (in `[dataset.fields]`), `id` first.
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            LocalKind::MultipleChoice => &["id", "question", "choices", "answer"],
            LocalKind::Absa => &["id", "text", "aspects"],
            LocalKind::Rating => &["id", "text", "rating"],
            LocalKind::Answer(_) => &["id", "question", "answer"],
        }
    }
}

/// The columns a local file's samples are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    /// The id column; when not named, a column called `id` if the file has one (in the header,
    /// or in the first JSON record), else ids are the 0-based record index.
    pub id: Option<String>,
    /// The column the model reads (`question` or `text`).
    pub input: String,
    /// Multiple choice: one column holding a list, or one column per choice.
    pub choices: ChoiceColumns,
    /// The gold column (`answer`, `aspects` or `rating`).
    pub target: String,
}

/// Where a multiple-choice record keeps its choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChoiceColumns {
    /// Not a multiple-choice dataset.
    None,
    /// One column holding a list of strings (in CSV, a JSON array such as `["a", "b"]`).
    List(String),
    /// One column per choice, in label order.
    Columns(Vec<String>),
}

/// A validated `[dataset]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalDataset {
    /// The name run logs and reports show (default: the file's stem).
    pub name: String,
    /// The `test` split's file, as written in the task file.
    pub path: String,
    /// The `train` split's file, as written, if any.
    pub train: Option<String>,
    /// The directory relative paths are resolved against (the task file's).
    pub base: PathBuf,
    /// What the records are.
    pub kind: LocalKind,
    /// Which columns hold what.
    pub fields: Fields,
    /// ABSA: the scored aspect label set.
    pub labels: Vec<String>,
    /// The pinned sha256 of the `test` file, if any.
    pub sha256: Option<String>,
}

/// The file formats a local dataset may use, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// `.jsonl`: one JSON object per line.
    JsonLines,
    /// `.csv`: a header row, then one record per row.
    Csv,
    /// `.parquet`.
    Parquet,
}

impl FileFormat {
    /// The format of `path`, by its extension.
    pub fn of(path: &str) -> std::result::Result<FileFormat, String> {
        let extension = Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("jsonl") => Ok(FileFormat::JsonLines),
            Some("csv") => Ok(FileFormat::Csv),
            Some("parquet") => Ok(FileFormat::Parquet),
            _ => Err(format!(
                "`{path}`: unknown file type; use a .jsonl, .csv or .parquet file"
            )),
        }
    }
}

/// `[dataset]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLocal {
    path: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    train: Option<String>,
    answer_type: Option<String>,
    labels: Option<Vec<String>>,
    sha256: Option<String>,
    #[serde(default)]
    fields: RawFields,
}

/// `[dataset.fields]` as written: every role, each defaulting to a column of its own name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFields {
    id: Option<String>,
    question: Option<String>,
    text: Option<String>,
    choices: Option<RawChoices>,
    answer: Option<String>,
    aspects: Option<String>,
    rating: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawChoices {
    One(String),
    Many(Vec<String>),
}

/// The `kind` names, as a task file writes them.
const KINDS: &str = "multiple_choice, absa, rating, answer";

impl LocalDataset {
    /// Validates `[dataset]`; `base` is the task file's directory. Errors name the field
    /// (`path`, `fields.choices`, …) relative to `[dataset]`.
    pub fn validate(raw: RawLocal, base: &Path) -> std::result::Result<Self, (String, String)> {
        let fail = |field: &str, message: String| (field.to_string(), message);
        let path = raw.path.filter(|p| !p.trim().is_empty()).ok_or_else(|| {
            fail(
                "path",
                "required: the data file, relative to the task file".into(),
            )
        })?;
        FileFormat::of(&path).map_err(|message| fail("path", message))?;
        if let Some(train) = &raw.train {
            FileFormat::of(train).map_err(|message| fail("train", message))?;
        }
        let kind = match (raw.kind.as_deref(), raw.answer_type.as_deref()) {
            (None, _) => return Err(fail("kind", format!("required; one of {KINDS}"))),
            (Some("answer"), answer_type) => LocalKind::Answer(answer_kind(answer_type)?),
            (Some(_), Some(_)) => {
                return Err(fail(
                    "answer_type",
                    "only a `kind = \"answer\"` dataset has one".into(),
                ))
            }
            (Some("multiple_choice"), None) => LocalKind::MultipleChoice,
            (Some("absa"), None) => LocalKind::Absa,
            (Some("rating"), None) => LocalKind::Rating,
            (Some(other), None) => {
                return Err(fail(
                    "kind",
                    format!("unknown kind `{other}`; valid: {KINDS}"),
                ))
            }
        };
        let labels = match (kind, raw.labels) {
            (LocalKind::Absa, Some(labels)) if !labels.is_empty() => labels,
            (LocalKind::Absa, _) => {
                return Err(fail(
                    "labels",
                    "required for kind absa: the aspect labels F1 is computed over".into(),
                ))
            }
            (_, Some(_)) => {
                return Err(fail(
                    "labels",
                    "only a `kind = \"absa\"` dataset has labels".into(),
                ))
            }
            (_, None) => Vec::new(),
        };
        if let Some(sha256) = &raw.sha256 {
            let valid = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !valid {
                return Err(fail("sha256", "expected 64 hexadecimal digits".into()));
            }
        }
        let fields = fields_of(kind, raw.fields)?;
        let name = raw.name.unwrap_or_else(|| {
            Path::new(&path)
                .file_stem()
                .map_or_else(|| path.clone(), |stem| stem.to_string_lossy().into_owned())
        });
        Ok(LocalDataset {
            name,
            path,
            train: raw.train,
            base: base.to_path_buf(),
            kind,
            fields,
            labels,
            sha256: raw.sha256.map(|s| s.to_ascii_lowercase()),
        })
    }

    /// The splits: `test` (the file) and `train` when one is named.
    pub fn splits(&self) -> &'static [&'static str] {
        if self.train.is_some() {
            &["train", "test"]
        } else {
            &["test"]
        }
    }

    /// Loads `split` (`test` or `train`), checking every record and the pinned sha256.
    pub fn load(&self, split: &str) -> Result<Dataset> {
        check_split_of(&self.name, self.splits(), split)?;
        let written = match (split, &self.train) {
            ("train", Some(train)) => train,
            _ => &self.path,
        };
        let path = self.base.join(written);
        let source = SourceFile::read(&path)?;
        if let (Some(pinned), "test") = (&self.sha256, split) {
            if &source.sha256 != pinned {
                return Err(Error::File {
                    path,
                    message: format!(
                        "sha256 is {}, but the task pins {pinned}: the file changed",
                        source.sha256
                    ),
                });
            }
        }
        let format = FileFormat::of(written).map_err(|message| Error::File {
            path: path.clone(),
            message,
        })?;
        let records = read_records(&source, format)?;
        let samples = samples_of(self, &source, &records)?;
        Ok(Dataset {
            name: self.name.clone(),
            family: self.kind.family(),
            split: split.to_string(),
            path,
            sha256: source.sha256,
            samples,
        })
    }
}

fn answer_kind(name: Option<&str>) -> std::result::Result<AnswerKind, (String, String)> {
    match name {
        Some("integer") => Ok(AnswerKind::Integer),
        Some("latex") => Ok(AnswerKind::Latex),
        Some("yes_no") => Ok(AnswerKind::YesNo),
        other => Err((
            "answer_type".to_string(),
            format!(
                "{}; a `kind = \"answer\"` dataset needs integer, latex or yes_no",
                other.map_or("required".to_string(), |o| format!(
                    "unknown answer type `{o}`"
                ))
            ),
        )),
    }
}

/// The columns of each role `kind` reads; a role it does not read is an error naming the ones
/// it does.
fn fields_of(kind: LocalKind, raw: RawFields) -> std::result::Result<Fields, (String, String)> {
    let given = [
        ("question", raw.question.is_some()),
        ("text", raw.text.is_some()),
        ("choices", raw.choices.is_some()),
        ("answer", raw.answer.is_some()),
        ("aspects", raw.aspects.is_some()),
        ("rating", raw.rating.is_some()),
    ];
    if let Some((role, _)) = given
        .iter()
        .find(|(role, given)| *given && !kind.roles().contains(role))
    {
        return Err((
            format!("fields.{role}"),
            format!(
                "not a field of this kind; it reads {}",
                kind.roles().join(", ")
            ),
        ));
    }
    let column = |value: Option<String>, role: &str| value.unwrap_or_else(|| role.to_string());
    let choices = match (kind, raw.choices) {
        (LocalKind::MultipleChoice, Some(RawChoices::Many(columns))) if columns.len() < 2 => {
            return Err((
                "fields.choices".to_string(),
                "a list of choice columns needs at least two".to_string(),
            ))
        }
        (LocalKind::MultipleChoice, Some(RawChoices::Many(columns))) => {
            ChoiceColumns::Columns(columns)
        }
        (LocalKind::MultipleChoice, Some(RawChoices::One(column))) => ChoiceColumns::List(column),
        (LocalKind::MultipleChoice, None) => ChoiceColumns::List("choices".to_string()),
        _ => ChoiceColumns::None,
    };
    let (input, target) = match kind {
        LocalKind::MultipleChoice | LocalKind::Answer(_) => (
            column(raw.question, "question"),
            column(raw.answer, "answer"),
        ),
        LocalKind::Absa => (column(raw.text, "text"), column(raw.aspects, "aspects")),
        LocalKind::Rating => (column(raw.text, "text"), column(raw.rating, "rating")),
    };
    Ok(Fields {
        id: raw.id,
        input,
        choices,
        target,
    })
}
