//! `r2l compare`, `r2l report` and `r2l export`: commands that read run logs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use harness::compare::{
    against_published, built_in_references, compare, render_comparison, CompareOptions,
};
use harness::report::{build_report, export_runs, write_report, ExportFormat};
use harness::runner::{RunLog, MANIFEST_FILE};

use super::BootstrapArgs;

/// Reads runs from directories (a directory without `run.json` is searched for runs below it).
pub fn collect_runs(paths: &[PathBuf]) -> Result<Vec<RunLog>> {
    let mut runs = Vec::new();
    for path in paths {
        let mut found = Vec::new();
        find_runs(path, &mut found)?;
        if found.is_empty() {
            bail!(
                "{}: no run found (expected a run directory holding {MANIFEST_FILE})",
                path.display()
            );
        }
        found.sort();
        for dir in found {
            runs.push(RunLog::load(&dir)?);
        }
    }
    Ok(runs)
}

fn find_runs(path: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_file() && path.file_name().is_some_and(|n| n == MANIFEST_FILE) {
        found.push(path.parent().unwrap_or(Path::new(".")).to_path_buf());
    } else if path.join(MANIFEST_FILE).is_file() {
        found.push(path.to_path_buf());
    } else if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                find_runs(&entry.path(), found)?;
            }
        }
    } else {
        bail!("{}: not found", path.display());
    }
    Ok(())
}

/// Arguments of `r2l compare`.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Baseline run directory (with --published: the run to place beside published numbers)
    baseline: PathBuf,
    /// Candidate run directory
    candidate: Option<PathBuf>,
    /// Gate on this metric only (repeatable) [default: every metric of the task]
    #[arg(long = "metric")]
    metrics: Vec<String>,
    /// Fail when a metric drops by more than this much (absolute), significant or not
    #[arg(long)]
    max_drop: Option<f64>,
    /// Significance level of the paired tests
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Place the baseline run beside the published numbers instead
    #[arg(long)]
    published: bool,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
}

/// Runs `r2l compare`; exit code 1 on a significant regression.
pub fn compare_command(args: &CompareArgs) -> Result<ExitCode> {
    let base = RunLog::load(&args.baseline)?;
    if args.published {
        let cells = against_published(&base.manifest, &built_in_references()?);
        if args.json {
            println!("{}", serde_json::to_string(&cells)?);
        } else if cells.is_empty() {
            println!(
                "no published numbers for {} ({} split)",
                base.manifest.task.name, base.manifest.dataset.split
            );
        } else {
            for cell in &cells {
                println!(
                    "{:<36} {:<26} published {:.4} ± {:<5} run {:.4}  {}",
                    cell.reference.system,
                    cell.reference.metric,
                    cell.reference.value,
                    cell.reference.tolerance,
                    cell.run_value,
                    cell.verdict
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(candidate) = &args.candidate else {
        bail!("give a CANDIDATE run to compare with the baseline (or --published)");
    };
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        bail!("--alpha must be in (0, 1), found {}", args.alpha);
    }
    let candidate = RunLog::load(candidate)?;
    let options = CompareOptions {
        metrics: args.metrics.clone(),
        max_drop: args.max_drop,
        alpha: args.alpha,
        bootstrap: args.bootstrap.config().unwrap_or_default(),
    };
    let comparison = compare(&base, &candidate, &options)?;
    if args.json {
        println!("{}", serde_json::to_string(&comparison)?);
    } else {
        print!("{}", render_comparison(&comparison, args.alpha));
    }
    Ok(ExitCode::from(comparison.exit_code()))
}

/// Arguments of `r2l report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Run directories (or directories holding runs)
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Output directory [default: <first run>/report]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Runs `r2l report`.
pub fn report_command(args: &ReportArgs) -> Result<ExitCode> {
    let runs = collect_runs(&args.runs)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| runs[0].dir.join("report"));
    let report = build_report(&runs, &built_in_references()?);
    let (markdown, html) = write_report(&report, &out)?;
    println!("{}\n{}", markdown.display(), html.display());
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `r2l export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Run directories (or directories holding runs)
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// csv or parquet
    #[arg(long, default_value = "csv")]
    format: String,
    /// Output file [default: runs.csv or runs.parquet]
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Runs `r2l export`.
pub fn export_command(args: &ExportArgs) -> Result<ExitCode> {
    let format = ExportFormat::parse(&args.format)?;
    let runs = collect_runs(&args.runs)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs.{}", args.format)));
    let rows = export_runs(&runs, format, &out)?;
    println!(
        "{} rows from {} run(s) → {}",
        rows,
        runs.len(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
