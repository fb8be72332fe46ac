//! `r2l reproduce`: the whole loop — baselines, R2L distillation, training, serving and
//! evaluating the student, comparison, report — as resumable steps. A step whose inputs (its
//! configuration and the hashes of what it reads) are unchanged since it finished is skipped.

mod config;
mod server;
mod state;
mod steps;
mod summary;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{json, Value};

pub use config::ReproduceConfig;
pub use state::{ReproduceState, StepRecord};
pub use summary::{Summary, SUMMARY_FILE};

use state::inputs_sha256;
use steps::{ModelToServe, StepContext};

/// What `r2l reproduce` was asked to do.
pub struct ReproduceOptions {
    /// The configuration (a preset, possibly overridden by a file).
    pub config: ReproduceConfig,
    /// `quick` or `full` (reported).
    pub mode: String,
    /// The output directory.
    pub out: PathBuf,
    /// `--data-dir`, passed to the steps.
    pub data_dir: Option<PathBuf>,
    /// The converted default model's directory (what `base = "default"` means).
    pub default_model_dir: PathBuf,
    /// Set when the user pressed Ctrl-C (the running step's child saves its work and stops).
    pub interrupted: Arc<AtomicBool>,
}

/// Runs the loop; returns the summary (also written to `out/summary.md`).
pub fn reproduce(options: &ReproduceOptions) -> Result<Summary> {
    let out = &options.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let config = &options.config;
    std::fs::write(out.join("config.toml"), toml::to_string(config)?)?;
    let context = StepContext {
        r2l: std::env::current_exe().context("locating the r2l binary")?,
        out: out.clone(),
        data_dir: options.data_dir.clone(),
        interrupted: Arc::clone(&options.interrupted),
    };
    let mut runner = StepRunner {
        out: out.clone(),
        state: ReproduceState::load(out)?,
        position: 0,
        // baselines, distill, train (+ dpo), student, compare, report
        total: 6 + usize::from(config.dpo.is_some()),
    };
    let base_dir = if config.base == "default" {
        options.default_model_dir.clone()
    } else {
        PathBuf::from(&config.base)
    };
    let base = ModelToServe::new("base", &base_dir).with_context(|| {
        format!(
            "the base model {} (run `bash scripts/setup.sh` for the default)",
            base_dir.display()
        )
    })?;
    let versions = task_versions(&config.eval.tasks)?;

    let baselines = runner.step(
        "baselines",
        json!({"base": base.weights_sha256, "isq": config.isq, "eval": config.eval, "tasks": versions}),
        |fresh| steps::serve_and_evaluate(&context, &base, &config.isq, &config.eval, "base", fresh),
    )?;
    let distilled = runner.step(
        "distill",
        json!({"distill": config.distill, "agents": file_hash(config.distill.agents.as_deref())?,
               "task": task_versions(std::slice::from_ref(&config.distill.task))?}),
        |fresh| steps::distill(&context, &config.distill, fresh),
    )?;
    let sft_data = out.join("distill").join(distill::SFT_FILE);
    let base_arg = if config.base == "default" {
        "default".to_string()
    } else {
        base_dir.display().to_string()
    };
    let mut trained = runner.step(
        "train",
        json!({"mode": "sft", "base": base.weights_sha256, "data": distilled["sft_sha256"], "sft": config.sft}),
        |fresh| steps::train(&context, "sft", &sft_data, &base_arg, &config.sft, fresh),
    )?;
    if let Some(dpo) = &config.dpo {
        if distilled["dpo_records"].as_u64().unwrap_or(0) == 0 {
            eprintln!("  dpo: skipped (the distillation wrote no DPO pair)");
        } else {
            let sft_dir = out.join("train").join("sft").display().to_string();
            let dpo_data = out.join("distill").join(distill::DPO_FILE);
            trained = runner.step(
                "train-dpo",
                json!({"mode": "dpo", "base": trained["weights_sha256"], "data": distilled["dpo_sha256"], "dpo": dpo}),
                |fresh| steps::train(&context, "dpo", &dpo_data, &sft_dir, dpo, fresh),
            )?;
        }
    }
    let student_dir = out.join(
        trained["dir"]
            .as_str()
            .context("the trained student's directory")?,
    );
    let student = ModelToServe::new("student", &student_dir)?;
    let evaluated = runner.step(
        "student",
        json!({"student": student.weights_sha256, "isq": config.isq, "eval": config.eval, "tasks": versions}),
        |fresh| steps::serve_and_evaluate(&context, &student, &config.isq, &config.eval, "student", fresh),
    )?;
    let comparisons = runner.always("compare", || {
        summary::compare_all(out, &baselines, &evaluated)
    })?;
    let summary = Summary::build(out, &options.mode, config, &runner.state, &comparisons)?;
    runner.always("report", || summary.write(out))?;
    Ok(summary)
}

/// Runs steps in order, skipping those finished with the same inputs.
struct StepRunner {
    out: PathBuf,
    state: ReproduceState,
    position: usize,
    total: usize,
}

impl StepRunner {
    fn header(&mut self, name: &str) -> String {
        self.position += 1;
        format!("[{}/{}] {name}", self.position, self.total)
    }

    /// Runs `work` unless `name` finished with these inputs; records its outputs and wall time.
    /// `work` gets whether the step starts over (its earlier attempt had other inputs: clear its
    /// files) rather than resuming an interrupted attempt.
    fn step(
        &mut self,
        name: &str,
        inputs: Value,
        work: impl FnOnce(bool) -> Result<Value>,
    ) -> Result<Value> {
        let header = self.header(name);
        let hash = inputs_sha256(&inputs);
        if let Some(record) = self.state.finished(name, &hash) {
            eprintln!(
                "{header}: unchanged since it finished ({:.0} s then); skipped",
                record.wall_seconds
            );
            return Ok(record.outputs.clone());
        }
        let fresh = self.state.starts_over(name, &hash);
        eprintln!(
            "{header}: running{}",
            if fresh {
                " (inputs changed: starting over)"
            } else {
                ""
            }
        );
        self.state.started.insert(name.to_string(), hash.clone());
        self.state.save(&self.out)?;
        let started = Instant::now();
        let outputs = work(fresh).with_context(|| format!("step {name}"))?;
        let wall_seconds = started.elapsed().as_secs_f64();
        eprintln!("{header}: finished in {wall_seconds:.0} s");
        self.state.steps.insert(
            name.to_string(),
            StepRecord {
                inputs_sha256: hash,
                wall_seconds,
                outputs: outputs.clone(),
            },
        );
        self.state.save(&self.out)?;
        Ok(outputs)
    }

    /// Runs `work` every time (cheap steps that read the others' outputs) and records its wall time.
    fn always<T>(&mut self, name: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let header = self.header(name);
        let started = Instant::now();
        let value = work().with_context(|| format!("step {name}"))?;
        let wall_seconds = started.elapsed().as_secs_f64();
        eprintln!("{header}: finished in {wall_seconds:.1} s");
        self.state.steps.insert(
            name.to_string(),
            StepRecord {
                inputs_sha256: String::new(),
                wall_seconds,
                outputs: Value::Null,
            },
        );
        self.state.save(&self.out)?;
        Ok(value)
    }
}

/// {task: version} of `tasks` (a new task version invalidates the steps that use it).
fn task_versions(tasks: &[String]) -> Result<Value> {
    let mut versions = serde_json::Map::new();
    for name in tasks {
        let task = harness::task::resolve_task(name)?;
        versions.insert(name.clone(), json!(task.version));
    }
    Ok(Value::Object(versions))
}

/// sha256 of an optional input file (null when absent).
fn file_hash(path: Option<&Path>) -> Result<Value> {
    path.map_or(Ok(Value::Null), |path| {
        checkpoint::file_sha256(path)
            .map(Value::String)
            .with_context(|| format!("hashing {}", path.display()))
    })
}
