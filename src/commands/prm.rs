//! `r2l prm score`: a trained process reward model's `P(correct)` for every step of every row of
//! a stepwise file, one JSON line per row, so a PRM can be checked on held-out rows.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use distill::student::{read_stepwise, PrmModel};
use serde_json::json;

/// `r2l prm` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum PrmCommand {
    /// Print `step_probabilities` (P(correct) per step) for each row of a stepwise file
    Score(ScoreArgs),
}

/// `r2l prm score` flags.
#[derive(clap::Args, Debug)]
pub struct ScoreArgs {
    /// The PRM checkpoint directory (`r2l train prm --out`)
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Stepwise rows (`prompt`, `completions`; `labels` optional)
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
}

/// Runs `r2l prm score`: rows on stdout; with labels, the step accuracy at 0.5 on stderr.
pub fn run(command: &PrmCommand) -> Result<ExitCode> {
    let PrmCommand::Score(args) = command;
    let prm = PrmModel::load(&args.model)?;
    let rows = read_stepwise(&args.data, false)?;
    let (mut right, mut judged) = (0usize, 0usize);
    for row in &rows {
        let probabilities = prm
            .step_probabilities(&row.prompt, &row.completions)
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", args.data.display(), row.line))?;
        if let Some(labels) = &row.labels {
            for (p, &l) in probabilities.iter().zip(labels) {
                judged += 1;
                right += usize::from((*p > 0.5) == l);
            }
        }
        println!(
            "{}",
            json!({
                "line": row.line,
                "id": row.id,
                "steps": row.completions.len(),
                "step_probabilities": probabilities,
                "labels": row.labels,
            })
        );
    }
    if judged > 0 {
        eprintln!(
            "{} rows, {judged} labelled steps scored, accuracy at 0.5: {:.3}",
            rows.len(),
            right as f64 / judged as f64
        );
    }
    Ok(ExitCode::SUCCESS)
}
