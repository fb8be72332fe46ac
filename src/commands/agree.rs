//! `r2l agree`: Krippendorff's alpha of a reliability CSV, printed as one JSON object.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use harness::data::read_reliability_csv;
use harness::metrics::{bootstrap_ci, Level};
use serde_json::json;

use super::BootstrapArgs;

/// Arguments of `r2l agree`.
#[derive(clap::Args, Debug)]
pub struct AgreeArgs {
    /// Measurement level: nominal, ordinal, interval or ratio
    #[arg(long, value_parser = parse_level)]
    level: Level,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// CSV file: header row, unit id in the first column, one column per coder; empty or NA = missing
    file: PathBuf,
}

fn parse_level(text: &str) -> std::result::Result<Level, String> {
    Level::parse(text).map_err(|error| error.to_string())
}

/// Runs `r2l agree`.
pub fn run(args: &AgreeArgs) -> Result<ExitCode> {
    let table = read_reliability_csv(&args.file, args.level)?;
    let alpha = table.data.alpha(args.level)?;
    let ci95 = args
        .bootstrap
        .config()
        .and_then(|config| bootstrap_ci(&table.data.metric(args.level), &config));
    let report = json!({
        "alpha": alpha,
        "level": args.level.name(),
        "units": table.data.pairable_unit_count(),
        "coders": table.coders.len(),
        "pairable_values": table.data.pairable_value_count(),
        "ci95": ci95.map(|(low, high)| [low, high]),
    });
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}
