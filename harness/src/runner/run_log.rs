//! Run logs: `run.json` (the manifest: what ran, on what, with which settings, and the results)
//! beside `samples.jsonl` (one line per sample, streamed as samples complete).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chat::{EndpointReport, Usage};
use serde::{Deserialize, Serialize};

use super::write_atomically;
use crate::error::{Error, Result};
use crate::metrics::{estimate, BootstrapConfig, CategoryScores, Estimate};
use crate::scoring::{CorpusMetrics, SampleScore, Scorer};
use crate::task::{GenerationSettings, Persona};

/// The manifest file's name inside a run directory.
pub const MANIFEST_FILE: &str = "run.json";
/// The per-sample file's name inside a run directory.
pub const SAMPLES_FILE: &str = "samples.jsonl";

/// Which task ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRef {
    /// Task name.
    pub name: String,
    /// Task version.
    pub version: String,
    /// Where its specification came from.
    pub source: String,
    /// How it was scored (kept so that a run log alone can be re-scored and compared).
    pub scorer: Scorer,
    /// Metrics reported, primary first.
    pub metrics: Vec<String>,
}

/// Which data it ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRef {
    /// Dataset name.
    pub name: String,
    /// Split.
    pub split: String,
    /// The data file, relative to the data directory.
    pub file: String,
    /// sha256 of that file.
    pub sha256: String,
}

impl TaskRef {
    /// The reference to `task` a run log records.
    pub fn of(task: &crate::task::Task) -> TaskRef {
        TaskRef {
            name: task.name.clone(),
            version: task.version.clone(),
            source: task.source.clone(),
            scorer: task.scorer.clone(),
            metrics: task.metrics.clone(),
        }
    }
}

impl DatasetRef {
    /// The reference to `dataset` (its file relative to `data_dir` when inside it).
    pub fn of(dataset: &crate::data::Dataset, data_dir: &Path) -> DatasetRef {
        let file = dataset.path.strip_prefix(data_dir).unwrap_or(&dataset.path);
        DatasetRef {
            name: dataset.name.clone(),
            split: dataset.split.clone(),
            file: file.display().to_string(),
            sha256: dataset.sha256.clone(),
        }
    }
}

/// Which model answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    /// The model id sent in requests.
    pub id: String,
    /// sha256 of the weights, when known (in-process models).
    pub sha256: Option<String>,
    /// Where it was reached: endpoint URLs, or `local:<path>`.
    pub endpoints: Vec<String>,
}

/// The agent of an agents file evaluated as a model (`r2l eval --agent`): who it is, what its
/// requests carried and how it answered, so two agents' runs on one model stay apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRef {
    /// The agent's id (also the run's model id and directory name).
    pub id: String,
    /// Its role in the agents file (`teacher`, `meta`, `student`).
    pub role: String,
    /// The model id its requests carried.
    pub model: String,
    /// Its persona: system prompt and sampling settings.
    pub persona: Persona,
    /// sha256 of the persona's system prompt (UTF-8), hex.
    pub persona_sha256: String,
    /// The agents file: its path, or `built-in:NAME`.
    pub agents_file: String,
    /// sha256 of the agents file's text, hex.
    pub agents_sha256: String,
}

/// Everything that went wrong or was cut short.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDiagnostics {
    /// Samples without an answer (request errors included).
    pub missing: usize,
    /// Answers the parser could not read.
    pub unparsed: usize,
    /// Predicted labels outside the task's label set.
    pub invalid_labels: usize,
    /// Answers cut off at `max_tokens`.
    pub truncated: usize,
    /// Requests that failed after retries.
    pub errors: usize,
}

/// The manifest of one evaluation run (`run.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    /// Run id (also the directory name).
    pub run_id: String,
    /// The task.
    pub task: TaskRef,
    /// The data.
    pub dataset: DatasetRef,
    /// Samples evaluated.
    pub n: usize,
    /// `--limit`, if given.
    pub limit: Option<usize>,
    /// Few-shot examples per prompt.
    pub few_shot: usize,
    /// Seed of sample selection and few-shot choice.
    pub seed: u64,
    /// The model.
    pub model: ModelRef,
    /// The agent evaluated as the model, when the run was `r2l eval --agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentRef>,
    /// Sampling settings.
    pub generation: GenerationSettings,
    /// r2l version.
    pub r2l_version: String,
    /// Git revision of the r2l checkout (`unknown` outside one).
    pub git_rev: String,
    /// Start time, RFC 3339 UTC.
    pub started: String,
    /// End time, RFC 3339 UTC.
    pub finished: String,
    /// Wall time in seconds.
    pub wall_seconds: f64,
    /// Metrics with bootstrap CIs.
    pub metrics: BTreeMap<String, Estimate>,
    /// Diagnostics.
    pub diagnostics: RunDiagnostics,
    /// Token usage summed over requests (cached answers included).
    pub usage: Usage,
    /// Answers taken from the cache.
    pub cached: usize,
    /// How each endpoint fared.
    pub endpoint_report: Vec<EndpointReport>,
    /// ABSA per-category scores (empty for other tasks).
    pub per_category: Vec<CategoryScores>,
    /// How the CIs were bootstrapped (None: no CIs, or a log written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<BootstrapConfig>,
}

/// One line of `samples.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleLine {
    /// The judgement (id, status, prediction, gold, correct, per-sample score).
    #[serde(flatten)]
    pub score: SampleScore,
    /// The raw model output (null when the request failed).
    pub output: Option<String>,
    /// Why generation stopped (`stop`, `length`).
    pub finish_reason: Option<String>,
    /// The request error, when it failed after retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Token usage of the request.
    pub usage: Option<Usage>,
    /// The sample's position in the dataset split (lines are written as answers finish;
    /// metrics aggregate in dataset order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// Log-likelihood tasks: each choice's log-likelihood after the prompt, in choice order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loglikelihoods: Option<Vec<f64>>,
}

/// A run read back from disk.
#[derive(Debug, Clone)]
pub struct RunLog {
    /// The run directory.
    pub dir: PathBuf,
    /// The manifest.
    pub manifest: RunManifest,
    /// The samples, in file order.
    pub samples: Vec<SampleLine>,
}

impl RunLog {
    /// Reads a run from its directory (or its `run.json`).
    pub fn load(path: &Path) -> Result<RunLog> {
        let dir = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent().unwrap_or(Path::new(".")).to_path_buf()
        };
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&manifest_path).map_err(|source| Error::Io {
            path: manifest_path.clone(),
            source,
        })?;
        let manifest: RunManifest =
            serde_json::from_str(&text).map_err(|error| Error::Malformed {
                path: manifest_path.clone(),
                line: error.line(),
                field: "(run.json)".to_string(),
                message: error.to_string(),
            })?;
        let samples_path = dir.join(SAMPLES_FILE);
        let text = std::fs::read_to_string(&samples_path).map_err(|source| Error::Io {
            path: samples_path.clone(),
            source,
        })?;
        let mut samples = Vec::with_capacity(manifest.n);
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let sample: SampleLine =
                serde_json::from_str(line).map_err(|error| Error::Malformed {
                    path: samples_path.clone(),
                    line: index + 1,
                    field: "(json)".to_string(),
                    message: error.to_string(),
                })?;
            samples.push(sample);
        }
        Ok(RunLog {
            dir,
            manifest,
            samples,
        })
    }

    /// The run's metrics recomputed from its per-sample records alone (in dataset order,
    /// with the bootstrap the run recorded): what a committed `run.json` must agree with.
    pub fn rescore(&self) -> Result<BTreeMap<String, Estimate>> {
        let mut lines: Vec<&SampleLine> = self.samples.iter().collect();
        lines.sort_by_key(|line| line.position.unwrap_or(usize::MAX));
        let records: Vec<SampleScore> = lines.iter().map(|line| line.score.clone()).collect();
        let metrics = CorpusMetrics::from_records(&self.manifest.task.scorer, &records)?;
        let mut out = BTreeMap::new();
        for (name, metric) in metrics.named() {
            if let Ok(value) = estimate(metric.as_ref(), name, self.manifest.bootstrap.as_ref()) {
                out.insert(name.to_string(), value);
            }
        }
        Ok(out)
    }

    /// Writes the manifest atomically.
    pub fn write_manifest(dir: &Path, manifest: &RunManifest) -> Result<()> {
        let body =
            serde_json::to_vec_pretty(manifest).map_err(|e| Error::InvalidInput(e.to_string()))?;
        write_atomically(&dir.join(MANIFEST_FILE), &body)
    }
}

/// The git revision of the r2l checkout this binary was built from (captured at build time by
/// harness's build script), or `unknown` for a build outside a git checkout.
pub fn git_revision() -> String {
    env!("R2L_GIT_REV").to_string()
}

/// A directory-safe form of a model id (`org/model:q4` → `org_model_q4`).
pub fn path_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
