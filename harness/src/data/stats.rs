//! `data stats`: counts per split and label distributions, aggregated with polars.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use super::dataset::{load, Dataset};
use super::registry::{DatasetName, TaskFamily};
use super::sample::Target;
use crate::error::{Error, Result};

/// A titled table of counts: one row per key, one column per split, plus `total`.
#[derive(Debug, Clone)]
pub struct CountTable {
    /// What is counted (e.g. "polarity", "aspect").
    pub title: String,
    /// The table: a `key` column (string), one `u32` column per split, then `total`.
    pub frame: DataFrame,
}

/// Statistics of all splits of one dataset.
#[derive(Debug, Clone)]
pub struct DatasetStats {
    /// Which dataset.
    pub name: DatasetName,
    /// Per split: (split, rows, gold labels). Labels are (aspect, polarity) pairs for ABSA,
    /// non-null annotator labels for ABSAbank-Imm, one answer per row otherwise.
    pub splits: Vec<(String, usize, usize)>,
    /// Label distributions.
    pub tables: Vec<CountTable>,
}

impl CountTable {
    /// The table as aligned plain text (every row; polars' own display elides long tables).
    pub fn to_text(&self) -> String {
        let columns = self.frame.columns();
        let mut cells: Vec<Vec<String>> =
            vec![columns.iter().map(|c| c.name().to_string()).collect()];
        for row in 0..self.frame.height() {
            cells.push(
                columns
                    .iter()
                    .map(|column| {
                        column
                            .get(row)
                            .map_or_else(|_| String::new(), |v| v.str_value().to_string())
                    })
                    .collect(),
            );
        }
        let widths: Vec<usize> = (0..columns.len())
            .map(|c| {
                cells
                    .iter()
                    .map(|row| row[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &cells {
            for (c, cell) in row.iter().enumerate() {
                if c == 0 {
                    out.push_str(&format!("{cell:<width$}", width = widths[c]));
                } else {
                    out.push_str(&format!("  {cell:>width$}", width = widths[c]));
                }
            }
            out.push('\n');
        }
        out
    }
}

impl DatasetStats {
    /// The statistics as JSON: `{"dataset", "splits": [{"split", "rows", "labels"}], "tables":
    /// {title: [{"key", <split>: count, ..., "total"}]}}`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{json, Value};
        let splits: Vec<Value> = self
            .splits
            .iter()
            .map(|(split, rows, labels)| json!({"split": split, "rows": rows, "labels": labels}))
            .collect();
        let tables: serde_json::Map<String, Value> = self
            .tables
            .iter()
            .map(|table| {
                let columns = table.frame.columns();
                let rows: Vec<Value> = (0..table.frame.height())
                    .map(|row| {
                        Value::Object(
                            columns
                                .iter()
                                .map(|column| {
                                    let cell = column.get(row).map_or(Value::Null, |value| {
                                        match value.extract::<u64>() {
                                            Some(count) => json!(count),
                                            None => json!(value.str_value().to_string()),
                                        }
                                    });
                                    (column.name().to_string(), cell)
                                })
                                .collect(),
                        )
                    })
                    .collect();
                (table.title.clone(), Value::Array(rows))
            })
            .collect();
        json!({"dataset": self.name.name(), "splits": splits, "tables": tables})
    }
}

/// Loads every split of `name` and computes its statistics.
pub fn dataset_stats(name: DatasetName, data_dir: &Path) -> Result<DatasetStats> {
    let datasets = name
        .splits()
        .iter()
        .map(|split| load(name, split, data_dir))
        .collect::<Result<Vec<_>>>()?;
    let mut long = LongCounts::default();
    let mut splits = Vec::new();
    for dataset in &datasets {
        let labels = count_labels(dataset, &mut long);
        splits.push((dataset.split.clone(), dataset.samples.len(), labels));
    }
    let split_names: Vec<&str> = name.splits().to_vec();
    let tables = long
        .tables
        .into_iter()
        .map(|(title, rows)| {
            Ok(CountTable {
                frame: count_table(&rows, &split_names)?,
                title,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DatasetStats {
        name,
        splits,
        tables,
    })
}

/// Long-format observations per table title: (split, key) pairs, one per occurrence.
#[derive(Default)]
struct LongCounts {
    tables: BTreeMap<String, (Vec<String>, Vec<String>)>,
}

impl LongCounts {
    fn add(&mut self, title: &str, split: &str, key: impl Into<String>) {
        let (splits, keys) = self.tables.entry(title.to_string()).or_default();
        splits.push(split.to_string());
        keys.push(key.into());
    }
}

/// Records the dataset's labels into `long`; returns the number of gold labels.
fn count_labels(dataset: &Dataset, long: &mut LongCounts) -> usize {
    let split = dataset.split.as_str();
    let mut labels = 0;
    for sample in &dataset.samples {
        match (&sample.target, dataset.family) {
            (Target::Aspects { labels: gold }, _) => {
                labels += gold.len();
                for label in gold {
                    long.add("polarity", split, label.polarity.as_str());
                    long.add("aspect", split, label.aspect.as_str());
                }
                if sample.meta.get("others").and_then(|v| v.as_bool()) == Some(true) {
                    long.add("aspect", split, "OTHERS (unscored)");
                }
            }
            (Target::Rating { value }, _) => {
                long.add("gold label", split, format!("{value:.2}"));
                if let Some(ratings) = sample.meta.get("annotators").and_then(|v| v.as_object()) {
                    let given: Vec<f64> = ratings.values().filter_map(|v| v.as_f64()).collect();
                    labels += given.len();
                    for value in &given {
                        long.add("annotator label", split, format!("{value:.0}"));
                    }
                    long.add("annotators per item", split, given.len().to_string());
                }
            }
            (Target::Answer { value }, TaskFamily::Reasoning(kind)) => {
                labels += 1;
                use super::registry::AnswerKind;
                match kind {
                    AnswerKind::YesNo | AnswerKind::ChoiceLetter => {
                        long.add("answer", split, value.as_str());
                    }
                    AnswerKind::Integer | AnswerKind::Latex => {}
                }
                for key in ["subject", "level"] {
                    if let Some(value) = sample.meta.get(key) {
                        let text = value
                            .as_str()
                            .map_or_else(|| value.to_string(), str::to_string);
                        long.add(key, split, text);
                    }
                }
                if !sample.choices.is_empty() {
                    long.add(
                        "choices per question",
                        split,
                        sample.choices.len().to_string(),
                    );
                }
            }
            (Target::Answer { .. }, _) => labels += 1,
        }
    }
    labels
}

/// Counts (split, key) occurrences with polars and lays them out as key × split.
fn count_table(rows: &(Vec<String>, Vec<String>), splits: &[&str]) -> Result<DataFrame> {
    let polars_error = |error: PolarsError| Error::Polars {
        path: "data stats".into(),
        message: error.to_string(),
    };
    let long = df!("split" => &rows.0, "key" => &rows.1).map_err(polars_error)?;
    let counts = long
        .lazy()
        .group_by([col("key"), col("split")])
        .agg([len().alias("count")])
        .sort(["key"], SortMultipleOptions::default())
        .collect()
        .map_err(polars_error)?;
    let keys = counts
        .column("key")
        .and_then(|c| c.str().cloned())
        .map_err(polars_error)?;
    let split_column = counts
        .column("split")
        .and_then(|c| c.str().cloned())
        .map_err(polars_error)?;
    let count_column = counts
        .column("count")
        .and_then(|c| c.cast(&DataType::UInt32))
        .map_err(polars_error)?;
    let count_column = count_column.u32().map_err(polars_error)?;
    let mut table: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for ((key, split), count) in keys
        .iter()
        .zip(split_column.iter())
        .zip(count_column.iter())
    {
        let (Some(key), Some(split), Some(count)) = (key, split, count) else {
            continue;
        };
        let Some(position) = splits.iter().position(|s| *s == split) else {
            continue;
        };
        table
            .entry(key.to_string())
            .or_insert_with(|| vec![0; splits.len()])[position] = count;
    }
    let mut columns: Vec<Column> = vec![Column::new(
        "key".into(),
        table.keys().cloned().collect::<Vec<String>>(),
    )];
    for (position, split) in splits.iter().enumerate() {
        let values: Vec<u32> = table.values().map(|counts| counts[position]).collect();
        columns.push(Column::new((*split).into(), values));
    }
    let totals: Vec<u32> = table.values().map(|counts| counts.iter().sum()).collect();
    columns.push(Column::new("total".into(), totals));
    DataFrame::new_infer_height(columns).map_err(polars_error)
}
