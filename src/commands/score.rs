//! `r2l score`: scores a predictions file against a task's gold labels, printed as JSON; with
//! `--out` also written as a run log (`run.json` + `samples.jsonl`, as `r2l eval` writes them)
//! holding exactly the predicted samples, for `r2l compare` and `r2l report`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use harness::runner::{write_scored_run, ScoredRunOptions};
use harness::scoring::{read_predictions, score};
use harness::task::resolve_task;
use serde_json::json;

use super::{BootstrapArgs, DataDirArg};

/// Arguments of `r2l score`.
#[derive(clap::Args, Debug)]
pub struct ScoreArgs {
    /// Task: a built-in task name (an unknown name lists them) or a task .toml file
    #[arg(long)]
    task: String,
    /// Split to score [default: the task's evaluation split, test (dev for commonsenseqa)]
    #[arg(long)]
    split: Option<String>,
    /// JSON Lines of {"id": ..., "aspects"|"score"|"answer"|"output": ...}
    #[arg(long, value_name = "FILE")]
    predictions: PathBuf,
    /// Also write the predicted samples as a run log under DIR/<task>/<model>/<run-id>/
    #[arg(long, value_name = "DIR", requires = "model")]
    out: Option<PathBuf>,
    /// Model id the run log is filed under (what produced the predictions)
    #[arg(long, requires = "out")]
    model: Option<String>,
    /// Run id of the run log (directory name) [default: the start time]
    #[arg(long, requires = "out")]
    run_id: Option<String>,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    #[command(flatten)]
    data_dir: DataDirArg,
}

/// Runs `r2l score`.
pub fn run(args: &ScoreArgs) -> Result<ExitCode> {
    let task = resolve_task(&args.task)?;
    let split = args.split.as_deref().unwrap_or(&task.split);
    let data_dir = args.data_dir.resolve_for(std::slice::from_ref(&task))?;
    let dataset = task.dataset.load(split, &data_dir)?;
    if let (Some(out), Some(model)) = (&args.out, &args.model) {
        let options = ScoredRunOptions {
            predictions: args.predictions.clone(),
            data_dir,
            out_dir: out.clone(),
            model: model.clone(),
            run_id: args.run_id.clone(),
            bootstrap: args.bootstrap.config(),
        };
        let run = write_scored_run(&task, &dataset, &options)?;
        let manifest = &run.manifest;
        println!(
            "{}",
            json!({
                "task": manifest.task.name,
                "split": manifest.dataset.split,
                "run": run.dir.display().to_string(),
                "n": manifest.n,
                "metrics": manifest.metrics,
                "diagnostics": manifest.diagnostics,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    let predictions = read_predictions(&args.predictions)?;
    let report = score(
        &task.name,
        &task.scorer,
        &dataset,
        &predictions,
        args.bootstrap.config().as_ref(),
    )
    .with_context(|| format!("scoring {}", args.predictions.display()))?;
    println!("{}", report.summary_json());
    Ok(ExitCode::SUCCESS)
}
