//! `r2l score --out`: a predictions file written as a run log, the same `run.json` and
//! `samples.jsonl` `r2l eval` writes, so `r2l compare` and `r2l report` read it beside eval
//! runs. The run holds exactly the predicted samples (a `--limit` selection stays that
//! selection), judged and aggregated in dataset order by the same code as `r2l eval`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use chat::Usage;

use super::eval::run_dir;
use super::run_log::{
    git_revision, DatasetRef, ModelRef, RunDiagnostics, RunLog, RunManifest, SampleLine, TaskRef,
    SAMPLES_FILE,
};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::metrics::BootstrapConfig;
use crate::scoring::{aggregate, judge, read_predictions, Judgement};
use crate::task::Task;

/// Where and as what a predictions file is written as a run.
#[derive(Debug, Clone)]
pub struct ScoredRunOptions {
    /// The predictions file (JSON Lines, as `r2l score --predictions` reads it).
    pub predictions: PathBuf,
    /// The data directory the dataset was read from (the manifest records the data file
    /// relative to it).
    pub data_dir: PathBuf,
    /// Root of run directories (`<out>/<task>/<model>/<run-id>/`).
    pub out_dir: PathBuf,
    /// The model id the run is filed under (whatever produced the predictions).
    pub model: String,
    /// Run id (default: the start time).
    pub run_id: Option<String>,
    /// Bootstrap settings of the metrics' CIs.
    pub bootstrap: Option<BootstrapConfig>,
}

/// Judges the predictions of `options.predictions` against `dataset` and writes them as a run
/// of `task`. A malformed line, a repeated id or an id the dataset does not have is an error
/// naming the file and line; an empty file is an error too (a run needs samples).
pub fn write_scored_run(
    task: &Task,
    dataset: &Dataset,
    options: &ScoredRunOptions,
) -> Result<RunLog> {
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let path = &options.predictions;
    let predictions = read_predictions(path)?;
    if predictions.is_empty() {
        return Err(Error::File {
            path: path.clone(),
            message: "no predictions: a run needs at least one predicted sample".to_string(),
        });
    }
    let positions: HashMap<&str, usize> = dataset
        .samples
        .iter()
        .enumerate()
        .map(|(index, sample)| (sample.id.as_str(), index))
        .collect();
    let mut predicted = Vec::with_capacity(predictions.len());
    for prediction in &predictions {
        let position = positions.get(prediction.id.as_str()).ok_or_else(|| Error::Malformed {
            path: path.clone(),
            line: prediction.line,
            field: "id".to_string(),
            message: format!(
                "id `{}` is not a sample of {} {} ({}); predict samples of the task's split, or pass --split",
                prediction.id,
                dataset.name,
                dataset.split,
                dataset.path.display()
            ),
        })?;
        predicted.push((*position, prediction));
    }
    predicted.sort_by_key(|(position, _)| *position);

    let run_id = options
        .run_id
        .clone()
        .unwrap_or_else(|| started.format("%Y%m%dT%H%M%S%.3fZ").to_string());
    let dir = run_dir(&options.out_dir, &task.name, &options.model, &run_id);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let samples_path = dir.join(SAMPLES_FILE);
    let mut text = Vec::new();
    let mut judgements: Vec<Judgement> = Vec::with_capacity(predicted.len());
    for (position, prediction) in &predicted {
        let judgement = judge(&task.scorer, &dataset.samples[*position], Some(prediction))?;
        let line = SampleLine {
            score: judgement.record.clone(),
            output: prediction.output.clone(),
            finish_reason: None,
            error: None,
            usage: None,
            position: Some(*position),
            loglikelihoods: None,
        };
        serde_json::to_writer(&mut text, &line).map_err(|e| Error::InvalidInput(e.to_string()))?;
        text.push(b'\n');
        judgements.push(judgement);
    }
    super::write_atomically(&samples_path, &text)?;
    let report = aggregate(
        &task.name,
        &dataset.split,
        &task.scorer,
        &judgements,
        options.bootstrap.as_ref(),
    )?;
    let manifest = RunManifest {
        run_id,
        task: TaskRef::of(task),
        dataset: DatasetRef::of(dataset, &options.data_dir),
        n: judgements.len(),
        limit: None,
        few_shot: 0,
        seed: 0,
        model: ModelRef {
            id: options.model.clone(),
            sha256: None,
            endpoints: vec![format!("predictions:{}", path.display())],
        },
        agent: None,
        generation: task.generation.clone(),
        r2l_version: env!("CARGO_PKG_VERSION").to_string(),
        git_rev: git_revision(),
        started: started.to_rfc3339(),
        finished: chrono::Utc::now().to_rfc3339(),
        wall_seconds: clock.elapsed().as_secs_f64(),
        metrics: report.metrics.clone(),
        diagnostics: RunDiagnostics {
            missing: report.diagnostics.missing,
            unparsed: report.diagnostics.unparsed,
            invalid_labels: report.diagnostics.invalid_labels,
            truncated: 0,
            errors: 0,
        },
        usage: Usage::default(),
        cached: 0,
        endpoint_report: Vec::new(),
        per_category: report.per_category.clone(),
        bootstrap: options.bootstrap,
    };
    RunLog::write_manifest(&dir, &manifest)?;
    RunLog::load(&dir)
}
