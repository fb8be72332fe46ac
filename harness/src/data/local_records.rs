//! Reading a local dataset's records (JSON Lines, CSV or Parquet) and turning each into a
//! [`Sample`]; a bad record is an error naming the file, its line (for Parquet, its 1-based row)
//! and the field.

use std::collections::BTreeMap;
use std::io::Cursor;

use polars::prelude::*;
use serde_json::{Map, Value};

use super::local::{ChoiceColumns, FileFormat, LocalDataset, LocalKind};
use super::registry::AnswerKind;
use super::sample::{AspectPair, Choice, Polarity, Sample, Target};
use super::source::{any_value_to_json, SourceFile};
use crate::error::{Error, Result};
use crate::scoring::yes_no;

/// One record: the line (or row) where it starts and its values by column.
pub struct Record {
    line: usize,
    values: Map<String, Value>,
}

/// The records of a file, and its columns when the format has a header (CSV, Parquet).
pub struct Records {
    columns: Option<Vec<String>>,
    rows: Vec<Record>,
    /// CSV keeps every value as text: numbers and lists are read from it.
    text_only: bool,
}

/// Reads every record of `source` in `format`.
pub fn read_records(source: &SourceFile, format: FileFormat) -> Result<Records> {
    match format {
        FileFormat::JsonLines => json_lines(source),
        FileFormat::Csv => {
            let table = source.read_csv("one column per field")?;
            let columns = column_names(&table.frame);
            let rows = (0..table.frame.height())
                .map(|row| record_of(&table.frame, &columns, row, table.line(row)))
                .collect::<Result<Vec<_>>>()?;
            Ok(Records {
                columns: Some(columns),
                rows,
                text_only: true,
            })
        }
        FileFormat::Parquet => {
            let frame = ParquetReader::new(Cursor::new(source.bytes.as_slice()))
                .finish()
                .map_err(|error| Error::Polars {
                    path: source.path.clone(),
                    message: format!("not a readable Parquet file: {error}"),
                })?;
            let columns = column_names(&frame);
            let rows = (0..frame.height())
                .map(|row| record_of(&frame, &columns, row, row + 1))
                .collect::<Result<Vec<_>>>()?;
            Ok(Records {
                columns: Some(columns),
                rows,
                text_only: false,
            })
        }
    }
}

fn json_lines(source: &SourceFile) -> Result<Records> {
    let mut rows = Vec::new();
    for (index, line) in source.text()?.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|error| {
            source.malformed(index + 1, "(json)", format!("not valid JSON: {error}"))
        })?;
        let Value::Object(values) = value else {
            return Err(source.malformed(index + 1, "(json)", "expected a JSON object"));
        };
        rows.push(Record {
            line: index + 1,
            values,
        });
    }
    Ok(Records {
        columns: None,
        rows,
        text_only: false,
    })
}

fn column_names(frame: &DataFrame) -> Vec<String> {
    frame
        .get_column_names()
        .iter()
        .map(|name| name.to_string())
        .collect()
}

fn record_of(frame: &DataFrame, columns: &[String], row: usize, line: usize) -> Result<Record> {
    let values = frame
        .columns()
        .iter()
        .zip(columns)
        .map(|(column, name)| {
            let value = column.get(row).map(|v| any_value_to_json(&v));
            (name.clone(), value.unwrap_or(Value::Null))
        })
        .collect();
    Ok(Record { line, values })
}

/// The samples of `records`, read as `dataset` says; ids must be unique (checked by the caller).
pub fn samples_of(
    dataset: &LocalDataset,
    source: &SourceFile,
    records: &Records,
) -> Result<Vec<Sample>> {
    let fields = &dataset.fields;
    let id_column = fields.id.clone().or_else(|| {
        let has_id = match &records.columns {
            Some(columns) => columns.iter().any(|c| c == "id"),
            None => records
                .rows
                .first()
                .is_some_and(|r| r.values.contains_key("id")),
        };
        has_id.then(|| "id".to_string())
    });
    if let Some(present) = &records.columns {
        let mut needed: Vec<&str> = vec![fields.input.as_str(), fields.target.as_str()];
        needed.extend(id_column.as_deref());
        match &fields.choices {
            ChoiceColumns::List(column) => needed.push(column),
            ChoiceColumns::Columns(columns) => needed.extend(columns.iter().map(String::as_str)),
            ChoiceColumns::None => {}
        }
        if let Some(missing) = needed.iter().find(|c| !present.iter().any(|p| p == *c)) {
            return Err(Error::File {
                path: source.path.clone(),
                message: format!(
                    "missing column `{missing}`; columns present: {}",
                    present.join(", ")
                ),
            });
        }
    }
    if records.rows.is_empty() {
        return Err(Error::File {
            path: source.path.clone(),
            message: "no records".to_string(),
        });
    }
    records
        .rows
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let read = Reader {
                source,
                record,
                text_only: records.text_only,
            };
            read.sample(dataset, id_column.as_deref(), index)
        })
        .collect()
}

/// Reads one record's fields, every error at the record's line.
struct Reader<'a> {
    source: &'a SourceFile,
    record: &'a Record,
    text_only: bool,
}

impl Reader<'_> {
    fn fail(&self, field: &str, message: impl Into<String>) -> Error {
        self.source.malformed(self.record.line, field, message)
    }

    fn value(&self, field: &str) -> Result<&Value> {
        match self.record.values.get(field) {
            None | Some(Value::Null) => Err(self.fail(field, "missing")),
            Some(value) => Ok(value),
        }
    }

    fn string(&self, field: &str) -> Result<String> {
        match self.value(field)? {
            Value::String(text) => Ok(text.clone()),
            other => Err(self.fail(field, format!("expected a string, found {other}"))),
        }
    }

    /// A list: a JSON array, or (CSV) a cell holding one.
    fn list(&self, field: &str) -> Result<Vec<Value>> {
        let value = self.value(field)?;
        let parsed;
        let value = match value {
            Value::String(text) if self.text_only => {
                parsed = serde_json::from_str::<Value>(text).map_err(|_| {
                    self.fail(
                        field,
                        format!("expected a list (in CSV, a JSON array such as [\"a\", \"b\"]), found `{text}`"),
                    )
                })?;
                &parsed
            }
            value => value,
        };
        match value {
            Value::Array(items) => Ok(items.clone()),
            other => Err(self.fail(field, format!("expected a list, found {other}"))),
        }
    }

    fn sample(
        &self,
        dataset: &LocalDataset,
        id_column: Option<&str>,
        index: usize,
    ) -> Result<Sample> {
        let fields = &dataset.fields;
        let id = match id_column {
            None => index.to_string(),
            Some(column) => match self.value(column)? {
                Value::String(text) if !text.trim().is_empty() => text.trim().to_string(),
                Value::Number(number) if number.is_u64() || number.is_i64() => number.to_string(),
                other => {
                    return Err(self.fail(
                        column,
                        format!("expected a string or an integer id, found {other}"),
                    ))
                }
            },
        };
        let input = self.string(&fields.input)?;
        let (choices, target) = match dataset.kind {
            LocalKind::MultipleChoice => {
                let choices = self.choices(&fields.choices)?;
                let letter = self.gold_choice(&fields.target, &choices)?;
                (choices, Target::Answer { value: letter })
            }
            LocalKind::Answer(kind) => (Vec::new(), self.answer(&fields.target, kind)?),
            LocalKind::Absa => (Vec::new(), self.aspects(&fields.target, &dataset.labels)?),
            LocalKind::Rating => (Vec::new(), self.rating(&fields.target)?),
        };
        let meta = BTreeMap::from([("line".to_string(), Value::from(self.record.line))]);
        Ok(Sample {
            id,
            input,
            choices,
            target,
            meta,
        })
    }

    fn choices(&self, columns: &ChoiceColumns) -> Result<Vec<Choice>> {
        let (texts, field) = match columns {
            ChoiceColumns::List(column) => {
                let texts = self
                    .list(column)?
                    .into_iter()
                    .map(|item| match item {
                        Value::String(text) => Ok(text),
                        other => Err(self.fail(
                            column,
                            format!("each choice must be a string, found {other}"),
                        )),
                    })
                    .collect::<Result<Vec<_>>>()?;
                (texts, column.as_str())
            }
            ChoiceColumns::Columns(columns) => (
                columns
                    .iter()
                    .map(|c| self.string(c))
                    .collect::<Result<Vec<_>>>()?,
                columns[0].as_str(),
            ),
            ChoiceColumns::None => (Vec::new(), ""),
        };
        if !(2..=26).contains(&texts.len()) {
            return Err(self.fail(field, format!("{} choices; expected 2 to 26", texts.len())));
        }
        Ok(texts
            .into_iter()
            .zip('A'..='Z')
            .map(|(text, letter)| Choice {
                label: letter.to_string(),
                text,
            })
            .collect())
    }

    /// The gold choice's letter: the answer is a letter, a 0-based index or a choice's text
    /// (a string is tried in that order).
    fn gold_choice(&self, field: &str, choices: &[Choice]) -> Result<String> {
        let by_index = |index: u64| choices.get(index as usize).map(|c| c.label.clone());
        let found = match self.value(field)? {
            Value::Number(number) => number.as_u64().and_then(by_index),
            Value::String(text) => {
                let text = text.trim();
                choices
                    .iter()
                    .find(|c| c.label == text)
                    .or_else(|| choices.iter().find(|c| c.text.trim() == text))
                    .map(|c| c.label.clone())
                    .or_else(|| text.parse::<u64>().ok().and_then(by_index))
            }
            other => {
                return Err(self.fail(
                    field,
                    format!("expected a letter, an index or a choice's text, found {other}"),
                ))
            }
        };
        found.ok_or_else(|| {
            let value = self.value(field).map(Value::to_string).unwrap_or_default();
            let letters: Vec<&str> = choices.iter().map(|c| c.label.as_str()).collect();
            self.fail(
                field,
                format!(
                    "{value} is not among the choices (letters {}, indices 0 to {}, or a choice's text)",
                    letters.join(", "),
                    choices.len() - 1
                ),
            )
        })
    }

    fn answer(&self, field: &str, kind: AnswerKind) -> Result<Target> {
        let text = match self.value(field)? {
            Value::String(text) => text.trim().to_string(),
            Value::Number(number) => number.to_string(),
            Value::Bool(yes) if kind == AnswerKind::YesNo => {
                if *yes { "yes" } else { "no" }.to_string()
            }
            other => {
                return Err(self.fail(
                    field,
                    format!("expected a string or a number, found {other}"),
                ))
            }
        };
        let value = match kind {
            AnswerKind::Integer => {
                let digits = text.replace(',', "");
                digits
                    .parse::<i64>()
                    .map(|n| n.to_string())
                    .map_err(|_| self.fail(field, format!("expected an integer, found `{text}`")))?
            }
            AnswerKind::YesNo => yes_no(&text)
                .map(str::to_string)
                .ok_or_else(|| self.fail(field, format!("expected yes or no, found `{text}`")))?,
            AnswerKind::Latex | AnswerKind::ChoiceLetter if text.is_empty() => {
                return Err(self.fail(field, "empty answer"))
            }
            AnswerKind::Latex | AnswerKind::ChoiceLetter => text,
        };
        Ok(Target::Answer { value })
    }

    fn rating(&self, field: &str) -> Result<Target> {
        let value = match self.value(field)? {
            Value::Number(number) => number.as_f64(),
            Value::String(text) if self.text_only => text.trim().parse::<f64>().ok(),
            _ => None,
        };
        match value {
            Some(value) if value.is_finite() => Ok(Target::Rating { value }),
            _ => Err(self.fail(
                field,
                format!("expected a number, found {}", self.value(field)?),
            )),
        }
    }

    /// ABSA pairs: a list of `{"aspect": …, "polarity": …}` objects or `"ASPECT#polarity"`
    /// strings, each aspect one of `labels`; sorted, duplicates dropped.
    fn aspects(&self, field: &str, labels: &[String]) -> Result<Target> {
        let mut pairs = Vec::new();
        for item in self.list(field)? {
            let (aspect, polarity) = match &item {
                Value::String(text) => match text.rsplit_once('#') {
                    Some((aspect, polarity)) => (aspect.to_string(), polarity.to_string()),
                    None => {
                        return Err(self.fail(field, format!("`{text}` is not ASPECT#polarity")))
                    }
                },
                Value::Object(object) => match (object.get("aspect"), object.get("polarity")) {
                    (Some(Value::String(a)), Some(Value::String(p))) => (a.clone(), p.clone()),
                    _ => {
                        return Err(self.fail(
                            field,
                            format!("{item} needs `aspect` and `polarity` strings"),
                        ))
                    }
                },
                other => {
                    return Err(self.fail(
                        field,
                        format!(
                            "each pair is an object or an ASPECT#polarity string, found {other}"
                        ),
                    ))
                }
            };
            let polarity = Polarity::parse(&polarity).ok_or_else(|| {
                self.fail(
                    field,
                    format!("unknown polarity `{polarity}`; valid: positive, negative, neutral"),
                )
            })?;
            if !labels.contains(&aspect) {
                return Err(self.fail(
                    field,
                    format!(
                        "aspect `{aspect}` is not in the task's labels ({})",
                        labels.join(", ")
                    ),
                ));
            }
            pairs.push(AspectPair::gold(aspect, polarity));
        }
        pairs.sort();
        pairs.dedup();
        Ok(Target::Aspects { labels: pairs })
    }
}
