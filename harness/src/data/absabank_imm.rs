//! ABSAbank-Imm loader (SuperLim 2, v1.1). The JSON Lines files are the source; the TSV twins
//! (no quoting, U+2028/U+0085 inside texts, empty cells for missing labels) can be read too and
//! hold the same rows.

use std::io::Cursor;

use polars::prelude::*;
use serde_json::json;

use super::sample::{Sample, Target};
use super::source::{JsonType, SourceFile, Table};
use crate::error::{Error, Result};

/// The per-annotator columns (there is no a2 or a5; a4 is always null).
pub const ANNOTATORS: [&str; 10] = ["a0", "a1", "a3", "a4", "a6", "a7", "a8", "a9", "a10", "a11"];

/// Loads one split from its JSON Lines file.
pub fn load(source: &SourceFile) -> Result<Vec<Sample>> {
    let mut expected = vec![
        ("id", JsonType::String),
        ("text", JsonType::String),
        ("label", JsonType::Number),
    ];
    expected.extend(ANNOTATORS.map(|name| (name, JsonType::NullableNumber)));
    let table = source.read_json_lines(&expected)?;
    samples_from(&table)
}

/// Loads one split from its TSV twin: split on `\n` only (texts hold U+2028 and U+0085), no
/// quote handling, empty cells are missing labels.
pub fn load_tsv(source: &SourceFile) -> Result<Vec<Sample>> {
    let text = source.text()?;
    let header = text.split('\n').next().unwrap_or_default();
    let columns: Vec<&str> = header.trim_end_matches('\r').split('\t').collect();
    let mut lines = Vec::new();
    for (index, line) in text.split('\n').enumerate().skip(1) {
        if line.is_empty() {
            continue;
        }
        let fields = line.split('\t').count();
        if fields != columns.len() {
            return Err(source.malformed(
                index + 1,
                "(record)",
                format!(
                    "expected {} tab-separated fields, found {fields}",
                    columns.len()
                ),
            ));
        }
        lines.push(index + 1);
    }
    let frame = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .map_parse_options(|options| {
            options
                .with_separator(b'\t')
                .with_quote_char(None)
                .with_eol_char(b'\n')
        })
        .into_reader_with_file_handle(Cursor::new(source.bytes.as_slice()))
        .finish()
        .map_err(|error| Error::Polars {
            path: source.path.clone(),
            message: error.to_string(),
        })?;
    let mut table = Table {
        path: source.path.clone(),
        frame,
        lines,
    };
    // Every column arrives as text; labels become floats, empty cells nulls.
    let mut numeric = vec!["label"];
    numeric.extend(ANNOTATORS);
    for name in numeric {
        let cast = table
            .column(name)?
            .cast(&DataType::Float64)
            .map_err(|error| Error::Polars {
                path: source.path.clone(),
                message: error.to_string(),
            })?;
        let strings = table.optional_strings(name)?;
        if let Some(row) = (0..strings.len()).find(|&row| {
            let present = strings[row]
                .as_deref()
                .is_some_and(|s| !s.trim().is_empty());
            present && cast.get(row).map(|v| v.is_null()).unwrap_or(true)
        }) {
            return Err(table.malformed(
                row,
                name,
                format!("not a number: `{}`", strings[row].as_deref().unwrap_or("")),
            ));
        }
        table
            .frame
            .with_column(cast)
            .map_err(|error| Error::Polars {
                path: source.path.clone(),
                message: error.to_string(),
            })?;
    }
    samples_from(&table)
}

fn samples_from(table: &Table) -> Result<Vec<Sample>> {
    let ids = table.strings("id")?;
    let texts = table.strings("text")?;
    let labels = table.floats("label")?;
    let annotators = ANNOTATORS
        .iter()
        .map(|name| table.optional_floats(name))
        .collect::<Result<Vec<_>>>()?;
    let mut samples = Vec::with_capacity(ids.len());
    for row in 0..ids.len() {
        if !(1.0..=5.0).contains(&labels[row]) {
            return Err(table.malformed(
                row,
                "label",
                format!("expected 1–5, found {}", labels[row]),
            ));
        }
        let mut ratings = serde_json::Map::new();
        for (name, column) in ANNOTATORS.iter().zip(&annotators) {
            if let Some(value) = column[row] {
                if !(1.0..=5.0).contains(&value) {
                    return Err(table.malformed(row, name, format!("expected 1–5, found {value}")));
                }
            }
            ratings.insert(name.to_string(), json!(column[row]));
        }
        let document = ids[row]
            .rsplit_once('_')
            .map_or(ids[row].as_str(), |(doc, _)| doc);
        samples.push(Sample {
            id: ids[row].clone(),
            input: texts[row].clone(),
            choices: Vec::new(),
            target: Target::Rating { value: labels[row] },
            meta: [
                ("annotators".to_string(), serde_json::Value::Object(ratings)),
                ("document".to_string(), json!(document)),
            ]
            .into_iter()
            .collect(),
        });
    }
    Ok(samples)
}

/// The annotator labels of `samples` as units × coders (`None` = no label), in [`ANNOTATORS`] order.
pub fn annotator_matrix(samples: &[Sample]) -> Vec<Vec<Option<f64>>> {
    samples
        .iter()
        .map(|sample| {
            ANNOTATORS
                .iter()
                .map(|name| {
                    sample
                        .meta
                        .get("annotators")
                        .and_then(|ratings| ratings.get(*name))
                        .and_then(serde_json::Value::as_f64)
                })
                .collect()
        })
        .collect()
}
