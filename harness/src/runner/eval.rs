//! `r2l eval`: runs every sample of a task through a [`ChatClient`] with bounded concurrency,
//! streams each judged sample to `samples.jsonl`, and writes the manifest when done.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chat::{
    AnswerSource, CacheMode, CachedClient, ChatCache, ChatClient, ChatRequest, EndpointReport,
    Usage,
};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::run_log::{
    git_revision, path_safe, AgentRef, DatasetRef, ModelRef, RunDiagnostics, RunLog, RunManifest,
    SampleLine, TaskRef, SAMPLES_FILE,
};
use crate::data::Sample;
use crate::error::{Error, Result};
use crate::metrics::BootstrapConfig;
use crate::scoring::{aggregate, judge_text, loglikelihood, Judgement, Scorer};
use crate::task::{few_shot_examples, request_as, select, Task};

/// How to run an evaluation.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The model id sent with every request (also the run's model id and directory name,
    /// unless an agent is evaluated).
    pub model: String,
    /// The agent of an agents file evaluated as the model: its persona shapes every request,
    /// its id names the run, and the manifest records it (None: the bare model).
    pub agent: Option<AgentRef>,
    /// sha256 of the model weights, when known.
    pub model_sha256: Option<String>,
    /// Where the model is reached (endpoint URLs or `local:<path>`), for the manifest.
    pub endpoints: Vec<String>,
    /// Split to evaluate (default: the task's).
    pub split: Option<String>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Evaluate only the first N samples of a seeded shuffle.
    pub limit: Option<usize>,
    /// Few-shot examples per prompt, from the train split.
    pub few_shot: usize,
    /// Seed of sample selection and few-shot choice.
    pub seed: u64,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Root of run directories (`<out>/<task>/<model>/<run-id>/`).
    pub out_dir: PathBuf,
    /// Run id (default: the start time).
    pub run_id: Option<String>,
    /// The answer cache (shared with `r2l distill`).
    pub cache: ChatCache,
    /// How the cache is used (`--no-cache` = Off, `--refresh` = Refresh).
    pub cache_mode: CacheMode,
    /// Bootstrap settings of the metrics' CIs.
    pub bootstrap: Option<BootstrapConfig>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// One finished sample on its way to the writer.
struct Answered {
    /// Position of the sample in the dataset (judgements are aggregated in dataset order, so
    /// metrics and their CIs equal `r2l score` on the same outputs).
    position: usize,
    cached: bool,
    line: SampleLine,
    judgement: Judgement,
    truncated: bool,
    errored: bool,
}

/// Runs the evaluation and returns the written run. `endpoint_report` is read at the end for
/// the manifest (a pool's per-endpoint counts). Ctrl-C stops it cleanly: finished samples are
/// on disk and cached, and running the same command again resumes.
pub async fn evaluate(
    task: &Task,
    client: Arc<dyn ChatClient>,
    options: &EvalOptions,
    endpoint_report: impl Fn() -> Vec<EndpointReport>,
) -> Result<RunLog> {
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let split = options.split.clone().unwrap_or_else(|| task.split.clone());
    let dataset = task.dataset.load(&split, &options.data_dir)?;
    let samples = select(&dataset.samples, options.limit, options.seed);
    let positions: std::collections::HashMap<&str, usize> = dataset
        .samples
        .iter()
        .enumerate()
        .map(|(index, sample)| (sample.id.as_str(), index))
        .collect();
    let few_shot = few_shot_examples(task, options.few_shot, &options.data_dir, options.seed)?;
    let run_id = options
        .run_id
        .clone()
        .unwrap_or_else(|| started.format("%Y%m%dT%H%M%S%.3fZ").to_string());
    // An agent's runs are named after the agent: several agents share one model.
    let model_id = options
        .agent
        .as_ref()
        .map_or(&options.model, |agent| &agent.id);
    let dir = run_dir(&options.out_dir, &task.name, model_id, &run_id);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let samples_path = dir.join(SAMPLES_FILE);
    let file = std::fs::File::create(&samples_path).map_err(|source| Error::Io {
        path: samples_path.clone(),
        source,
    })?;
    let mut writer = std::io::LineWriter::new(file);

    let progress = progress_bar(samples.len(), options.progress);
    let mut judgements = Vec::with_capacity(samples.len());
    let mut diagnostics = RunDiagnostics::default();
    let mut usage = Usage::default();
    let mut cached = 0;
    let client = CachedClient::new(client, options.cache.clone(), options.cache_mode);
    let client = &client;
    let requests = samples.iter().map(|sample| {
        let persona = options.agent.as_ref().map(|agent| &agent.persona);
        let request = request_as(task, &options.model, sample, &few_shot, persona);
        let position = positions
            .get(sample.id.as_str())
            .copied()
            .unwrap_or(usize::MAX);
        let model = &options.model;
        async move {
            if task.scorer == Scorer::LogLikelihood {
                answer_loglikelihood(task, model, sample, position, client).await
            } else {
                answer(task, sample, position, request, client).await
            }
        }
    });
    let mut answers = futures::stream::iter(requests).buffer_unordered(options.concurrency.max(1));
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    loop {
        let answered = tokio::select! {
            next = answers.next() => match next {
                Some(answered) => answered?,
                None => break,
            },
            _ = &mut interrupt => {
                progress.abandon_with_message("interrupted");
                return Err(Error::Interrupted {
                    completed: judgements.len(),
                    total: samples.len(),
                    dir,
                });
            }
        };
        let line = serde_json::to_string(&answered.line)
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        writeln!(writer, "{line}").map_err(|source| Error::Io {
            path: samples_path.clone(),
            source,
        })?;
        diagnostics.truncated += usize::from(answered.truncated);
        diagnostics.errors += usize::from(answered.errored);
        cached += usize::from(answered.cached);
        if let Some(request_usage) = &answered.line.usage {
            usage.add(request_usage);
        }
        judgements.push((answered.position, answered.judgement));
        progress.inc(1);
        if diagnostics.errors > 0 {
            progress.set_message(format!("errors: {}", diagnostics.errors));
        }
    }
    writer.flush().map_err(|source| Error::Io {
        path: samples_path.clone(),
        source,
    })?;
    progress.finish();

    judgements.sort_by_key(|(position, _)| *position);
    let judgements: Vec<Judgement> = judgements
        .into_iter()
        .map(|(_, judgement)| judgement)
        .collect();
    let report = aggregate(
        &task.name,
        &split,
        &task.scorer,
        &judgements,
        options.bootstrap.as_ref(),
    )?;
    diagnostics.missing = report.diagnostics.missing;
    diagnostics.unparsed = report.diagnostics.unparsed;
    diagnostics.invalid_labels = report.diagnostics.invalid_labels;
    let manifest = RunManifest {
        run_id,
        task: TaskRef::of(task),
        dataset: DatasetRef::of(&dataset, &options.data_dir),
        n: samples.len(),
        limit: options.limit,
        few_shot: options.few_shot,
        seed: options.seed,
        model: ModelRef {
            id: model_id.clone(),
            sha256: options.model_sha256.clone(),
            endpoints: options.endpoints.clone(),
        },
        agent: options.agent.clone(),
        generation: match &options.agent {
            Some(agent) => agent.persona.generation(&task.generation),
            None => task.generation.clone(),
        },
        r2l_version: env!("CARGO_PKG_VERSION").to_string(),
        git_rev: git_revision(),
        started: started.to_rfc3339(),
        finished: chrono::Utc::now().to_rfc3339(),
        wall_seconds: clock.elapsed().as_secs_f64(),
        metrics: report.metrics.clone(),
        diagnostics,
        usage,
        cached,
        endpoint_report: endpoint_report(),
        per_category: report.per_category.clone(),
        bootstrap: options.bootstrap,
    };
    RunLog::write_manifest(&dir, &manifest)?;
    RunLog::load(&dir)
}

/// Gets one answer (from the cache or the client), judges it, and builds its log line.
async fn answer(
    task: &Task,
    sample: &Sample,
    position: usize,
    request: ChatRequest,
    client: &CachedClient,
) -> Result<Answered> {
    let (outcome, was_cached) = match client.chat_with_source(&request).await {
        Ok((response, source)) => (Ok(response), source == AnswerSource::Cache),
        // A cache that cannot be written would lose work on every sample: stop the run.
        Err(error @ chat::ChatError::Cache { .. }) => {
            return Err(Error::InvalidInput(error.to_string()))
        }
        Err(error) => (Err(error.to_string()), false),
    };
    let (output, finish_reason, usage, error) = match &outcome {
        Ok(response) => (
            Some(response.text().to_string()),
            response.finish_reason().map(str::to_string),
            response.usage,
            None,
        ),
        Err(error) => (None, None, None, Some(error.clone())),
    };
    let judgement = judge_text(&task.scorer, sample, output.as_deref())?;
    Ok(Answered {
        position,
        cached: was_cached,
        truncated: finish_reason.as_deref() == Some("length"),
        errored: error.is_some(),
        line: SampleLine {
            score: judgement.record.clone(),
            output,
            finish_reason,
            error,
            usage,
            position: Some(position),
            loglikelihoods: None,
        },
        judgement,
    })
}

/// Scores one sample's choices by log-likelihood (from the cache or the client) and judges it.
async fn answer_loglikelihood(
    task: &Task,
    model: &str,
    sample: &Sample,
    position: usize,
    client: &CachedClient,
) -> Result<Answered> {
    let request = loglikelihood::request(task, model, sample);
    let context_bytes = loglikelihood::context(task, sample).len();
    let (outcome, was_cached) = match client.complete_with_source(&request).await {
        Ok((response, source)) => (
            loglikelihood::loglikelihoods(&response, context_bytes, sample.choices.len())
                .map(|lls| (lls, response.usage)),
            source == AnswerSource::Cache,
        ),
        Err(error @ chat::ChatError::Cache { .. }) => {
            return Err(Error::InvalidInput(error.to_string()))
        }
        Err(error) => (Err(error.to_string()), false),
    };
    let (lls, usage, error) = match outcome {
        Ok((lls, usage)) => (Some(lls), usage, None),
        Err(error) => (None, None, Some(error)),
    };
    let judgement = loglikelihood::judge(sample, lls.as_deref());
    Ok(Answered {
        position,
        cached: was_cached,
        truncated: false,
        errored: error.is_some(),
        line: SampleLine {
            score: judgement.record.clone(),
            output: None,
            finish_reason: None,
            error,
            usage,
            position: Some(position),
            loglikelihoods: lls,
        },
        judgement,
    })
}

fn progress_bar(total: usize, visible: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total as u64),
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta} {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// The default root of run directories: `results/runs` under the current directory.
pub fn default_runs_dir() -> PathBuf {
    Path::new("results").join("runs")
}

/// The run directory of `task` evaluated with `model` as `run_id` under `out_dir`:
/// `out_dir/<task>/<model>/<run_id>` (names made directory-safe).
pub fn run_dir(out_dir: &Path, task: &str, model: &str, run_id: &str) -> PathBuf {
    out_dir
        .join(path_safe(task))
        .join(path_safe(model))
        .join(run_id)
}
