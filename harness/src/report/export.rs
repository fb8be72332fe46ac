//! `r2l export`: flattens runs into one per-sample table (polars) for notebooks.

use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::runner::RunLog;

/// Output format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated values with a header.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl ExportFormat {
    /// Parses `csv` or `parquet`.
    pub fn parse(text: &str) -> Result<ExportFormat> {
        match text {
            "csv" => Ok(ExportFormat::Csv),
            "parquet" => Ok(ExportFormat::Parquet),
            other => Err(Error::Unknown {
                kind: "export format",
                name: other.to_string(),
                valid: "csv, parquet".to_string(),
            }),
        }
    }
}

/// One row per sample per run: run and task identity, then the sample's judgement and output.
pub fn runs_frame(runs: &[RunLog]) -> Result<DataFrame> {
    let mut columns: Vec<(&str, Vec<Option<String>>)> = [
        "run_id",
        "task",
        "task_version",
        "model",
        "split",
        "dataset_sha256",
        "id",
        "status",
        "prediction",
        "gold",
        "output",
        "finish_reason",
        "error",
    ]
    .into_iter()
    .map(|name| (name, Vec::new()))
    .collect();
    let mut correct: Vec<Option<bool>> = Vec::new();
    let mut completion_tokens: Vec<Option<u64>> = Vec::new();
    for run in runs {
        let m = &run.manifest;
        for sample in &run.samples {
            let values = [
                Some(m.run_id.clone()),
                Some(m.task.name.clone()),
                Some(m.task.version.clone()),
                Some(m.model.id.clone()),
                Some(m.dataset.split.clone()),
                Some(m.dataset.sha256.clone()),
                Some(sample.score.id.clone()),
                Some(sample.score.status.name().to_string()),
                Some(
                    sample
                        .score
                        .prediction
                        .as_ref()
                        .map_or_else(|| "null".to_string(), ToString::to_string),
                ),
                Some(sample.score.gold.to_string()),
                sample.output.clone(),
                sample.finish_reason.clone(),
                sample.error.clone(),
            ];
            for ((_, column), value) in columns.iter_mut().zip(values) {
                column.push(value);
            }
            correct.push(sample.score.correct);
            completion_tokens.push(sample.usage.map(|u| u.completion_tokens));
        }
    }
    let mut frame_columns: Vec<Column> = columns
        .into_iter()
        .map(|(name, values)| Column::new(name.into(), values))
        .collect();
    frame_columns.push(Column::new("correct".into(), correct));
    frame_columns.push(Column::new("completion_tokens".into(), completion_tokens));
    DataFrame::new_infer_height(frame_columns).map_err(|error| Error::Polars {
        path: "export".into(),
        message: error.to_string(),
    })
}

/// Writes `runs` as one table to `path`.
pub fn export_runs(runs: &[RunLog], format: ExportFormat, path: &Path) -> Result<usize> {
    let mut frame = runs_frame(runs)?;
    let file = std::fs::File::create(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let polars_error = |error: PolarsError| Error::Polars {
        path: path.to_path_buf(),
        message: error.to_string(),
    };
    match format {
        ExportFormat::Csv => CsvWriter::new(file)
            .include_header(true)
            .finish(&mut frame)
            .map_err(polars_error)?,
        ExportFormat::Parquet => {
            ParquetWriter::new(file)
                .finish(&mut frame)
                .map_err(polars_error)?;
        }
    }
    Ok(frame.height())
}
