//! Reading reliability data for `r2l agree`: a CSV with a header row, the unit id in the first
//! column and one column per coder; an empty cell or `NA` is a missing value.

use std::path::Path;

use super::source::SourceFile;
use crate::error::{Error, Result};
use crate::metrics::{Level, ReliabilityData};

/// Reliability data read from a CSV file.
pub struct ReliabilityTable {
    /// The coder names (header cells after the first).
    pub coders: Vec<String>,
    /// The unit ids (first column).
    pub units: Vec<String>,
    /// The values, ready for alpha at the requested level.
    pub data: ReliabilityData,
}

/// Reads `path`; nominal cells may be any strings, the other levels need numbers (a cell that
/// is not one is an error naming its line and coder column).
pub fn read_reliability_csv(path: &Path, level: Level) -> Result<ReliabilityTable> {
    let source = SourceFile::read(path)?;
    let table = source.read_csv("unit,coder1,coder2,...")?;
    let header_fields = table.frame.width();
    if header_fields < 3 {
        return Err(Error::File {
            path: path.to_path_buf(),
            message: format!(
                "the header has {header_fields} column(s); expected a unit id column and at least two coder columns"
            ),
        });
    }
    let names: Vec<String> = table
        .frame
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let units: Vec<String> = table
        .optional_strings(&names[0])?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let coders = names[1..].to_vec();
    let columns = coders
        .iter()
        .map(|name| table.optional_strings(name))
        .collect::<Result<Vec<_>>>()?;
    let present = |cell: &Option<String>| -> Option<String> {
        cell.as_deref()
            .map(str::trim)
            .filter(|value| !value.is_empty() && *value != "NA")
            .map(str::to_string)
    };
    let data = if level == Level::Nominal {
        let rows: Vec<Vec<Option<String>>> = (0..units.len())
            .map(|row| columns.iter().map(|column| present(&column[row])).collect())
            .collect();
        ReliabilityData::from_labels(&rows)
    } else {
        let mut rows = Vec::with_capacity(units.len());
        for row in 0..units.len() {
            let mut values = Vec::new();
            for (coder, column) in coders.iter().zip(&columns) {
                if let Some(cell) = present(&column[row]) {
                    let value: f64 = cell.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
                        table.malformed(
                            row,
                            coder,
                            format!("`{cell}` is not a number ({} alpha needs numbers; use --level nominal for labels)", level.name()),
                        )
                    })?;
                    values.push(value);
                }
            }
            rows.push(values);
        }
        ReliabilityData::from_units(rows, coders.len())
    };
    Ok(ReliabilityTable {
        coders,
        units,
        data,
    })
}
