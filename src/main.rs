//! The `r2l` command line: parses arguments and dispatches to one command module each.

mod commands;
mod reproduce;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Distil, serve and measure small LLM students for ABSA and reasoning.
#[derive(Parser)]
#[command(name = "r2l", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what r2l needs: the default model (SmolLM2-135M-Instruct Q4_1) into $R2L_HOME.
    Setup(commands::setup::SetupArgs),
    /// Inspect the datasets.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Krippendorff's alpha of a reliability CSV (unit id, then one column per coder).
    Agree(commands::agree::AgreeArgs),
    /// Score a predictions file against a task's gold labels.
    Score(commands::score::ScoreArgs),
    /// Evaluate a model on tasks through OpenAI-compatible endpoints; writes a run log.
    Eval(commands::eval::EvalArgs),
    /// Compare two runs with paired tests (exit 1 on a significant regression), or a run with published numbers.
    Compare(commands::runs::CompareArgs),
    /// Render runs as Markdown and self-contained HTML with plots.
    Report(commands::runs::ReportArgs),
    /// Flatten runs into one per-sample table (CSV or Parquet).
    Export(commands::runs::ExportArgs),
    /// Distil teacher agents into training data (SFT, DPO, stepwise): R2L, Debate & Reflect, AgentArk.
    Distill(commands::distill::DistillArgs),
    /// Serve models behind an OpenAI-compatible HTTP API.
    Serve(commands::serve::ServeArgs),
    /// Convert a llama-architecture GGUF into a checkpoint directory (safetensors + tokenizer + config).
    Convert(commands::serve::ConvertArgs),
    /// Fine-tune a student (SFT or DPO, LoRA or full) or a process reward model into a checkpoint `r2l serve` loads.
    #[command(subcommand)]
    Train(commands::train::TrainCommand),
    /// Use a trained process reward model (score the steps of stepwise rows).
    #[command(subcommand)]
    Prm(commands::prm::PrmCommand),
    /// The whole loop: baselines, R2L distillation, training, serving and evaluating the student, comparison, report.
    Reproduce(commands::reproduce::ReproduceArgs),
}

fn main() -> ExitCode {
    let args = match commands::distill::protocol_alias(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("R2L_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,mistralrs_core=warn,mistralrs=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command {
        Command::Setup(args) => commands::setup::run(&args),
        Command::Data(command) => commands::data::run(&command),
        Command::Agree(args) => commands::agree::run(&args),
        Command::Score(args) => commands::score::run(&args),
        Command::Eval(args) => commands::eval::run(&args),
        Command::Compare(args) => commands::runs::compare_command(&args),
        Command::Report(args) => commands::runs::report_command(&args),
        Command::Export(args) => commands::runs::export_command(&args),
        Command::Distill(args) => commands::distill::run(&args),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Convert(args) => commands::serve::convert(&args),
        Command::Train(command) => commands::train::run(&command),
        Command::Prm(command) => commands::prm::run(&command),
        Command::Reproduce(args) => commands::reproduce::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
