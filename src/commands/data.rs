//! `r2l data stats`: rows per split and label distributions of the real datasets.
//! `r2l data sft`: SFT records whose answers are the gold labels (traditional fine-tuning, the
//! baseline every distillation is measured against).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chat::Message;
use harness::data::{dataset_stats, DatasetName, DatasetStats};
use harness::task::{gold_answer, messages, resolve_task, select};
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
    /// SFT records (TRL `messages`) of a task's split with the gold answers as the assistant
    /// turns: the same prompts `r2l eval` sends, the same seeded selection as `r2l distill`
    Sft {
        /// Task name or task .toml file
        #[arg(long)]
        task: String,
        /// Split to write
        #[arg(long, default_value = "train")]
        split: String,
        /// Only the first N samples of a seeded shuffle (the samples `r2l distill --limit N` picks)
        #[arg(long)]
        limit: Option<usize>,
        /// Seed of the sample selection
        #[arg(long = "sample-seed", default_value_t = 0)]
        sample_seed: u64,
        /// The JSONL file written
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
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
        DataCommand::Sft {
            task,
            split,
            limit,
            sample_seed,
            out,
            data_dir,
        } => {
            let records = gold_sft(task, split, *limit, *sample_seed, &data_dir.resolve()?, out)?;
            println!(
                "{}",
                serde_json::json!({"out": out.display().to_string(), "records": records})
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes the gold SFT records of `task`'s `split` into `out` (atomically); returns how many.
fn gold_sft(
    task: &str,
    split: &str,
    limit: Option<usize>,
    sample_seed: u64,
    data_dir: &std::path::Path,
    out: &std::path::Path,
) -> Result<usize> {
    if limit == Some(0) {
        bail!("--limit must be at least 1 (leave it out for the whole split)");
    }
    let task = resolve_task(task)?;
    task.dataset.check_split(split)?;
    let dataset = task.dataset.load(split, data_dir)?;
    let selected = select(&dataset.samples, limit, sample_seed);
    let mut body = Vec::new();
    for sample in &selected {
        let mut conversation = messages(&task, sample, &[]);
        conversation.push(Message::assistant(gold_answer(&task, sample)));
        let record = distill::SftRecord {
            messages: conversation,
            id: sample.id.clone(),
        };
        serde_json::to_writer(&mut body, &record)?;
        body.write_all(b"\n")?;
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    chat::write_atomically(out, &body).with_context(|| format!("writing {}", out.display()))?;
    Ok(selected.len())
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
