//! `r2l prm score`: a trained process reward model's `P(correct)` for every step of every row of
//! a stepwise file, one JSON line per row, so a PRM can be checked on held-out rows.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use distill::student::{read_stepwise, PrmModel};
use harness::metrics::roc_auc;
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

/// Runs `r2l prm score`: rows on stdout; with labels, the step accuracy at 0.5 and the ROC AUC
/// of P(correct) on stderr.
pub fn run(command: &PrmCommand) -> Result<ExitCode> {
    let PrmCommand::Score(args) = command;
    let prm = PrmModel::load(&args.model)?;
    let rows = read_stepwise(&args.data, false)?;
    let (mut scores, mut truths) = (Vec::new(), Vec::new());
    for row in &rows {
        let probabilities = prm
            .step_probabilities(&row.prompt, &row.completions)
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", args.data.display(), row.line))?;
        if let Some(labels) = &row.labels {
            scores.extend(probabilities.iter().copied());
            truths.extend(labels.iter().take(probabilities.len()).copied());
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
    if !scores.is_empty() {
        let right = scores
            .iter()
            .zip(&truths)
            .filter(|(p, l)| (**p > 0.5) == **l)
            .count();
        let auc = roc_auc(&scores, &truths).map_or("-".to_string(), |a| format!("{a:.3}"));
        eprintln!(
            "{} rows, {} labelled steps scored, accuracy at 0.5: {:.3}, ROC AUC: {auc}",
            rows.len(),
            scores.len(),
            right as f64 / scores.len() as f64
        );
    }
    Ok(ExitCode::SUCCESS)
}
