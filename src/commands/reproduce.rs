//! `r2l reproduce`: the whole loop (baselines → distill → train → serve + eval → compare →
//! report) as resumable steps.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::reproduce::{reproduce, Paper, ReproduceConfig, ReproduceOptions, SUMMARY_FILE};

use super::serve::DEFAULT_MODEL_DIR;
use super::{r2l_home, DataDirArg};

/// Arguments of `r2l reproduce`.
#[derive(clap::Args, Debug)]
pub struct ReproduceArgs {
    /// The paper whose table to build: its rows (teachers, ablations, students) side by side
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(Paper::ALL.map(Paper::name)))]
    paper: String,
    /// The quick preset: small slices that finish within 30 minutes on a 2-core CPU [default: the full preset]
    #[arg(long)]
    quick: bool,
    /// reproduce.toml overriding fields of the preset (sizes, agents file, base model, DPO)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output directory (re-running the same command skips the finished steps) [default: results/runs/reproduce/PAPER]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    data_dir: DataDirArg,
}

/// Runs `r2l reproduce`: exit 0 unless a step failed (a student that does not beat the base is
/// a result, not a failure).
pub fn run(args: &ReproduceArgs) -> Result<ExitCode> {
    let paper = Paper::parse(&args.paper)?;
    let config = ReproduceConfig::load(paper, args.quick, args.config.as_deref())?;
    // Resolve the data directory once, so a missing one fails before any model loads.
    let data_dir = args.data_dir.resolve()?;
    let mode = if args.quick { "quick" } else { "full" };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results/runs/reproduce").join(paper.name()));
    eprintln!(
        "r2l reproduce {} ({mode}): {}; output in {}",
        paper.name(),
        config.sizes(),
        out.display()
    );
    let summary = reproduce(&ReproduceOptions {
        paper,
        config,
        mode: mode.to_string(),
        out: out.clone(),
        data_dir: Some(data_dir),
        default_model_dir: r2l_home().join("models").join(DEFAULT_MODEL_DIR),
        // Ctrl-C reaches every process of the foreground group: the running step's child saves
        // its work (the trainer a resume point, distill and eval their finished samples) and
        // exits; this process waits for it and then reports the interruption.
        interrupted: super::ctrl_c_flag(
            "interrupted: letting the running step save its work (Ctrl-C again to quit at once)",
        )?,
    })?;
    print!("{}", summary.text());
    println!(
        "summary: {}\nreport: {}",
        out.join(SUMMARY_FILE).display(),
        out.join("report").join("report.html").display()
    );
    Ok(ExitCode::SUCCESS)
}
