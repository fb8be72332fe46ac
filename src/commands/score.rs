//! `r2l score`: scores a predictions file against a task's gold labels, printed as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use harness::data::load;
use harness::scoring::{read_predictions, score};
use harness::task::resolve_task;

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
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    #[command(flatten)]
    data_dir: DataDirArg,
}

/// Runs `r2l score`.
pub fn run(args: &ScoreArgs) -> Result<ExitCode> {
    let task = resolve_task(&args.task)?;
    let split = args.split.as_deref().unwrap_or(&task.split);
    let dataset = load(task.dataset, split, &args.data_dir.resolve()?)?;
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
