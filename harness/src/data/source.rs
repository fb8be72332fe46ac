//! Reading data files into polars frames, keeping the physical line of every record so that a
//! bad value is reported as `file:line: field`.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The UTF-8 byte-order mark some files start with (VLSP 2018's `.txt`).
const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// A file's bytes with its BOM removed, and its sha256 (of the bytes as stored).
pub struct SourceFile {
    /// Where the file was read from.
    pub path: PathBuf,
    /// The content without a leading UTF-8 BOM.
    pub bytes: Vec<u8>,
    /// Lower-case hex sha256 of the file as stored (BOM included).
    pub sha256: String,
}

impl SourceFile {
    /// Reads `path`; a missing file says which dataset directory to check.
    pub fn read(path: &Path) -> Result<SourceFile> {
        let mut bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let sha256 = sha256_hex(&bytes);
        if bytes.starts_with(UTF8_BOM) {
            bytes.drain(..UTF8_BOM.len());
        }
        Ok(SourceFile {
            path: path.to_path_buf(),
            bytes,
            sha256,
        })
    }

    /// The content as text; invalid UTF-8 is reported with its line.
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.bytes).map_err(|error| {
            let line = line_of_offset(&self.bytes, error.valid_up_to());
            self.malformed(line, "(file)", format!("invalid UTF-8: {error}"))
        })
    }

    /// An error about `field` of the record at physical `line`.
    pub fn malformed(&self, line: usize, field: &str, message: impl Into<String>) -> Error {
        Error::Malformed {
            path: self.path.clone(),
            line,
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Reads JSON Lines into a frame with polars. `expected` names each key the loader needs and
    /// its JSON type; when polars rejects the file, every line is checked against it so that the
    /// error names the first bad line and key.
    pub fn read_json_lines(&self, expected: &[(&str, JsonType)]) -> Result<Table> {
        let text = self.text()?;
        let lines: Vec<usize> = text
            .split('\n')
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, _)| index + 1)
            .collect();
        let frame = JsonReader::new(Cursor::new(self.bytes.as_slice()))
            .with_json_format(JsonFormat::JsonLines)
            .infer_schema_len(None)
            .finish()
            .map_err(|error| self.diagnose_json_lines(text, expected, error))?;
        let table = Table {
            path: self.path.clone(),
            frame,
            lines,
        };
        if table.frame.height() != table.lines.len() {
            return Err(Error::File {
                path: self.path.clone(),
                message: format!(
                    "polars read {} records from {} non-blank lines",
                    table.frame.height(),
                    table.lines.len()
                ),
            });
        }
        for (key, kind) in expected {
            let column = table.column(key)?;
            if !kind.fits(column.dtype()) {
                // polars widened the column to another type because some line holds a wrong
                // value: find that line.
                return Err(self.diagnose_json_lines(
                    text,
                    expected,
                    PolarsError::ComputeError(
                        format!("column `{key}` was read as {}", column.dtype()).into(),
                    ),
                ));
            }
        }
        Ok(table)
    }

    /// Reads an RFC-4180 CSV with a header row, every column as text, mapping each row to the
    /// line where its record starts. `expected_header` is shown when the file is empty; a record
    /// with another number of fields than the header is an error at its line.
    pub fn read_csv(&self, expected_header: &str) -> Result<Table> {
        let text = self.text()?;
        let layout = csv_record_layout(text, b',')
            .map_err(|line| self.malformed(line, "(record)", "a quoted field is never closed"))?;
        let Some((_, header_fields)) = layout.first().copied() else {
            return Err(Error::File {
                path: self.path.clone(),
                message: format!("the file is empty; expected a header `{expected_header}`"),
            });
        };
        if let Some((line, fields)) = layout
            .iter()
            .skip(1)
            .find(|(_, fields)| *fields != header_fields)
        {
            return Err(self.malformed(
                *line,
                "(record)",
                format!("expected {header_fields} fields like the header, found {fields}"),
            ));
        }
        let frame = CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .into_reader_with_file_handle(Cursor::new(self.bytes.as_slice()))
            .finish()
            .map_err(|error| Error::Polars {
                path: self.path.clone(),
                message: error.to_string(),
            })?;
        let table = Table {
            path: self.path.clone(),
            frame,
            lines: layout.iter().skip(1).map(|(line, _)| *line).collect(),
        };
        if table.frame.height() != table.lines.len() {
            return Err(Error::File {
                path: self.path.clone(),
                message: format!(
                    "polars read {} rows where the file holds {} records",
                    table.frame.height(),
                    table.lines.len()
                ),
            });
        }
        Ok(table)
    }

    fn diagnose_json_lines(
        &self,
        text: &str,
        expected: &[(&str, JsonType)],
        polars_error: PolarsError,
    ) -> Error {
        for (index, line) in text.split('\n').enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let line_number = index + 1;
            let value: serde_json::Value = match serde_json::from_str(line) {
                Ok(value) => value,
                Err(error) => {
                    return self.malformed(
                        line_number,
                        "(json)",
                        format!("not valid JSON: {error}"),
                    )
                }
            };
            let Some(object) = value.as_object() else {
                return self.malformed(line_number, "(json)", "expected a JSON object");
            };
            for (key, kind) in expected {
                match object.get(*key) {
                    None => return self.malformed(line_number, key, "missing"),
                    Some(value) if !kind.matches(value) => {
                        return self.malformed(
                            line_number,
                            key,
                            format!("expected {}, found {value}", kind.name()),
                        )
                    }
                    Some(_) => {}
                }
            }
        }
        Error::Polars {
            path: self.path.clone(),
            message: polars_error.to_string(),
        }
    }
}

/// The JSON type a loader expects for a key (used to explain a file polars rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// A string.
    String,
    /// A number.
    Number,
    /// A number or null.
    NullableNumber,
    /// An object.
    Object,
    /// An array.
    Array,
}

impl JsonType {
    /// Whether polars' column type is what this JSON type reads as.
    fn fits(self, dtype: &DataType) -> bool {
        match self {
            JsonType::String => matches!(dtype, DataType::String),
            JsonType::Number => dtype.is_primitive_numeric(),
            JsonType::NullableNumber => dtype.is_primitive_numeric() || dtype.is_null(),
            JsonType::Object => matches!(dtype, DataType::Struct(_)),
            JsonType::Array => matches!(dtype, DataType::List(_)),
        }
    }

    fn matches(self, value: &serde_json::Value) -> bool {
        match self {
            JsonType::String => value.is_string(),
            JsonType::Number => value.is_number(),
            JsonType::NullableNumber => value.is_number() || value.is_null(),
            JsonType::Object => value.is_object(),
            JsonType::Array => value.is_array(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            JsonType::String => "a string",
            JsonType::Number => "a number",
            JsonType::NullableNumber => "a number or null",
            JsonType::Object => "an object",
            JsonType::Array => "an array",
        }
    }
}

/// A polars frame read from a file, with the physical line where each row starts.
pub struct Table {
    /// The file the frame was read from.
    pub path: PathBuf,
    /// The rows.
    pub frame: DataFrame,
    /// `lines[row]` is the 1-based line where `row` starts.
    pub lines: Vec<usize>,
}

impl Table {
    /// The physical line of `row`.
    pub fn line(&self, row: usize) -> usize {
        self.lines.get(row).copied().unwrap_or(0)
    }

    /// An error about `field` of `row`.
    pub fn malformed(&self, row: usize, field: &str, message: impl Into<String>) -> Error {
        Error::Malformed {
            path: self.path.clone(),
            line: self.line(row),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// A column by name; a missing column names the file and lists the columns present.
    pub fn column(&self, name: &str) -> Result<&Column> {
        self.frame.column(name).map_err(|_| Error::File {
            path: self.path.clone(),
            message: format!(
                "missing column `{name}`; columns present: {}",
                self.frame
                    .get_column_names()
                    .iter()
                    .map(|name| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// A required string column: a null (missing key or wrong type) is an error at its line.
    pub fn strings(&self, name: &str) -> Result<Vec<String>> {
        let values = self.optional_strings(name)?;
        values
            .into_iter()
            .enumerate()
            .map(|(row, value)| {
                value.ok_or_else(|| self.malformed(row, name, "missing or not a string"))
            })
            .collect()
    }

    /// A string column whose nulls are allowed.
    pub fn optional_strings(&self, name: &str) -> Result<Vec<Option<String>>> {
        let column = self.column(name)?;
        if column.dtype().is_null() {
            return Ok(vec![None; self.frame.height()]);
        }
        let strings = column
            .str()
            .map_err(|_| self.wrong_type(name, "strings", column.dtype()))?;
        Ok(strings.iter().map(|s| s.map(str::to_string)).collect())
    }

    /// A numeric column as f64 (integers widened); nulls are kept.
    pub fn optional_floats(&self, name: &str) -> Result<Vec<Option<f64>>> {
        let column = self.column(name)?;
        if column.dtype().is_null() {
            return Ok(vec![None; self.frame.height()]);
        }
        if !column.dtype().is_primitive_numeric() {
            return Err(self.wrong_type(name, "numbers", column.dtype()));
        }
        let floats = column
            .cast(&DataType::Float64)
            .map_err(|error| self.polars_error(error))?;
        let floats = floats.f64().map_err(|error| self.polars_error(error))?;
        Ok(floats.iter().collect())
    }

    /// A required numeric column: a null (missing key or wrong type) is an error at its line.
    pub fn floats(&self, name: &str) -> Result<Vec<f64>> {
        let values = self.optional_floats(name)?;
        values
            .into_iter()
            .enumerate()
            .map(|(row, value)| {
                value.ok_or_else(|| self.malformed(row, name, "missing or not a number"))
            })
            .collect()
    }

    /// A required string field inside a struct column (`question.stem`).
    pub fn struct_strings(&self, name: &str, field: &str) -> Result<Vec<String>> {
        let label = format!("{name}.{field}");
        let column = self.column(name)?;
        let fields = column
            .struct_()
            .map_err(|_| self.wrong_type(name, "objects", column.dtype()))?;
        let inner = fields
            .field_by_name(field)
            .map_err(|_| self.wrong_type(&label, "a present key", column.dtype()))?;
        let strings = inner
            .str()
            .map_err(|_| self.wrong_type(&label, "strings", inner.dtype()))?;
        strings
            .iter()
            .enumerate()
            .map(|(row, value)| {
                value
                    .map(str::to_string)
                    .ok_or_else(|| self.malformed(row, &label, "missing or not a string"))
            })
            .collect()
    }

    /// The nested value of struct column `name` at `row`, as JSON (for list-of-struct fields).
    pub fn json_value(&self, name: &str, row: usize) -> Result<serde_json::Value> {
        let column = self.column(name)?;
        let value = column.get(row).map_err(|error| self.polars_error(error))?;
        Ok(any_value_to_json(&value))
    }

    fn wrong_type(&self, name: &str, expected: &str, found: &DataType) -> Error {
        Error::File {
            path: self.path.clone(),
            message: format!("column `{name}` should hold {expected}, but polars read {found}"),
        }
    }

    fn polars_error(&self, error: PolarsError) -> Error {
        Error::Polars {
            path: self.path.clone(),
            message: error.to_string(),
        }
    }
}

/// Converts a polars value (possibly nested) into JSON.
pub fn any_value_to_json(value: &AnyValue<'_>) -> serde_json::Value {
    use serde_json::Value;
    match value {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(*b),
        AnyValue::String(s) => Value::String((*s).to_string()),
        AnyValue::StringOwned(s) => Value::String(s.to_string()),
        AnyValue::List(series) => {
            Value::Array(series.iter().map(|v| any_value_to_json(&v)).collect())
        }
        AnyValue::StructOwned(payload) => {
            let (values, fields) = &**payload;
            Value::Object(
                fields
                    .iter()
                    .zip(values)
                    .map(|(field, value)| (field.name().to_string(), any_value_to_json(value)))
                    .collect(),
            )
        }
        AnyValue::Struct(..) => any_value_to_json(&value.clone().into_static()),
        other => match other.extract::<f64>() {
            Some(number) if other.is_integer() => {
                serde_json::json!(number as i64)
            }
            Some(number) => serde_json::json!(number),
            None => Value::String(other.to_string()),
        },
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// 1-based line number of byte `offset`.
pub fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    let end = offset.min(bytes.len());
    bytes[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The records of an RFC-4180 CSV text: for each record (header included), the 1-based line
/// where it starts and its number of fields. Quoted fields may hold newlines; `\r\n` ends a
/// record like `\n`. Used to map polars rows back to lines and to explain a rejected file.
pub fn csv_record_layout(
    text: &str,
    separator: u8,
) -> std::result::Result<Vec<(usize, usize)>, usize> {
    let bytes = text.as_bytes();
    let mut records = Vec::new();
    let mut line = 1;
    let mut record_start_line = 1;
    let mut fields = 1;
    let mut in_quotes = false;
    let mut quote_line = 0;
    let mut at_field_start = true;
    let mut record_has_content = false;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if in_quotes {
            if byte == b'"' {
                if bytes.get(index + 1) == Some(&b'"') {
                    index += 1;
                } else {
                    in_quotes = false;
                }
            } else if byte == b'\n' {
                line += 1;
            }
        } else if byte == b'"' && at_field_start {
            in_quotes = true;
            quote_line = line;
            at_field_start = false;
            record_has_content = true;
        } else if byte == separator {
            fields += 1;
            at_field_start = true;
            record_has_content = true;
        } else if byte == b'\n' {
            if record_has_content {
                records.push((record_start_line, fields));
            }
            line += 1;
            record_start_line = line;
            fields = 1;
            at_field_start = true;
            record_has_content = false;
        } else if byte != b'\r' {
            at_field_start = false;
            record_has_content = true;
        }
        index += 1;
    }
    if in_quotes {
        return Err(quote_line);
    }
    if record_has_content {
        records.push((record_start_line, fields));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_layout_follows_quoted_newlines_and_crlf() {
        let text = "a,b\r\n1,\"x\ny\"\r\n2,\"he said \"\"hi\"\"\"\r\n";
        let layout = csv_record_layout(text, b',').ok();
        assert_eq!(layout, Some(vec![(1, 2), (2, 2), (4, 2)]));
    }

    #[test]
    fn csv_layout_reports_an_unterminated_quote_at_its_line() {
        assert_eq!(csv_record_layout("a,b\n1,2\n3,\"open\n", b','), Err(3));
    }

    #[test]
    fn line_of_offset_counts_from_one() {
        assert_eq!(line_of_offset(b"ab\ncd\n", 0), 1);
        assert_eq!(line_of_offset(b"ab\ncd\n", 4), 2);
    }
}
