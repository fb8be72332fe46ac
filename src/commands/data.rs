//! `r2l data stats`: rows per split and label distributions of the real datasets.

use std::process::ExitCode;

use anyhow::Result;
use harness::data::{dataset_stats, DatasetName, DatasetStats};
use serde_json::Value;

use super::DataDirArg;

/// Subcommands of `r2l data`.
#[derive(clap::Subcommand, Debug)]
pub enum DataCommand {
    /// Counts per split and label distributions (all datasets, or one)
    Stats {
        /// Dataset name; all datasets when omitted
        dataset: Option<String>,
        /// Print JSON instead of tables
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
}

/// Runs `r2l data ...`.
pub fn run(command: &DataCommand) -> Result<ExitCode> {
    match command {
        DataCommand::Stats {
            dataset,
            json,
            data_dir,
        } => {
            let names = match dataset {
                Some(name) => vec![DatasetName::parse(name)?],
                None => DatasetName::ALL.to_vec(),
            };
            let data_dir = data_dir.resolve()?;
            let mut all = Vec::new();
            for name in names {
                let stats = dataset_stats(name, &data_dir)?;
                if *json {
                    all.push(stats.to_json());
                } else {
                    print_stats(&stats);
                }
            }
            if *json {
                println!("{}", Value::Array(all));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_stats(stats: &DatasetStats) {
    println!("## {}", stats.name);
    for (split, rows, labels) in &stats.splits {
        println!("{split:>14}: {rows:>6} rows, {labels:>6} gold labels");
    }
    for table in &stats.tables {
        println!("\n{}:\n{}", table.title, table.to_text());
    }
    println!();
}
