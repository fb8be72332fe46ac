//! `r2l distill`: selects the samples, skips the finished ones, runs the protocol on the rest
//! with bounded concurrency, streams each finished sample to the output files, and writes
//! `stats.json`. A budget stop or Ctrl-C ends the run cleanly; running the same command again
//! resumes it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chat::RetryPolicy;
use futures::StreamExt;
use harness::data::Sample;
use harness::metrics::BootstrapConfig;
use harness::task::{select, Task};
use serde_json::json;

use crate::agents::Team;
use crate::call::{Caller, Halt};
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::progress::Progress;
use crate::protocols::ProtocolSettings;
use crate::stats::{AgentFailures, Stats};
use crate::store::{check_manifest, OutputFiles, LEDGER_FILE, STATS_FILE};

/// How to run a distillation.
#[derive(Debug, Clone)]
pub struct DistillOptions {
    /// The protocol, with its settings.
    pub protocol: Arc<dyn ProtocolSettings>,
    /// The split to distil (default `train`).
    pub split: Option<String>,
    /// Only the first N samples of a seeded shuffle.
    pub limit: Option<usize>,
    /// Seed of the sample selection.
    pub sample_seed: u64,
    /// Seed sent with every request.
    pub seed: u64,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The output directory.
    pub out: PathBuf,
    /// Paid calls in flight at once, over all agents.
    pub concurrency: usize,
    /// Budget (USD) over every run in the output directory.
    pub budget: Option<f64>,
    /// Retries of failed attempts (timeouts, 429, 5xx).
    pub retry: RetryPolicy,
    /// Repair turns after an answer that does not parse.
    pub parse_retries: u32,
    /// Show progress bars.
    pub progress: bool,
    /// Bootstrap of the agreement CIs (None = no CI).
    pub bootstrap: Option<BootstrapConfig>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Status {
    /// Every selected sample is finished.
    Complete,
    /// Stopped before a call would have exceeded the budget.
    BudgetReached {
        /// Spent (USD), over every run in the directory.
        spent: f64,
        /// The budget (USD).
        budget: f64,
    },
    /// Stopped by Ctrl-C.
    Interrupted,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Complete => "complete",
            Status::BudgetReached { .. } => "budget",
            Status::Interrupted => "interrupted",
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// The summary written to `stats.json`.
    pub stats: Stats,
    /// The output directory.
    pub dir: PathBuf,
}

/// Runs `task` through the protocol with `team`.
pub async fn distill(task: &Task, team: &Team, options: &DistillOptions) -> Result<Outcome> {
    let clock = Instant::now();
    let split = options.split.clone().unwrap_or_else(|| "train".to_string());
    task.dataset.check_split(&split)?;
    let entry = options.protocol.entry();
    let protocol = options.protocol.build(task, team)?;
    let dataset = task.dataset.load(&split, &options.data_dir)?;
    let selected = select(&dataset.samples, options.limit, options.sample_seed);
    let mut manifest = json!({
        "protocol": entry.name,
        "task": task.name,
        "task_version": task.version,
        "split": split,
        "dataset_sha256": dataset.sha256,
        "sample_seed": options.sample_seed,
        "seed": options.seed,
        "agents": team.fingerprint,
        "agents_file": team.source,
        "parse_retries": options.parse_retries,
        "r2l_version": env!("CARGO_PKG_VERSION"),
    });
    let settings = protocol.settings();
    let mut compared = vec![
        "protocol",
        "task",
        "task_version",
        "split",
        "dataset_sha256",
        "sample_seed",
        "seed",
        "agents",
        "parse_retries",
    ];
    compared.extend(settings.keys().map(String::as_str));
    if let Some(object) = manifest.as_object_mut() {
        object.extend(settings.clone());
    }
    check_manifest(&options.out, &manifest, &compared)?;
    let mut files = OutputFiles::open(&options.out)?;
    let ledger = Arc::new(Ledger::open(
        &options.out.join(LEDGER_FILE),
        options.budget,
    )?);
    let caller = Caller::new(
        ledger.clone(),
        options.concurrency,
        options.retry,
        options.parse_retries,
        options.seed,
    );
    let pending: Vec<&Sample> = selected.iter().filter(|s| !files.is_done(&s.id)).collect();
    let progress = Progress::new(
        selected.len(),
        selected.len() - pending.len(),
        entry.phases,
        options.progress,
    );

    let halted = AtomicBool::new(false);
    let mut status = Status::Complete;
    // More samples than calls in flight, so a sample in a one-call phase leaves room for others.
    let in_flight = options.concurrency.max(1) * 2;
    let mut running = futures::stream::iter(pending)
        .map(|sample| {
            let (protocol, caller, progress, halted) = (&*protocol, &caller, &progress, &halted);
            async move {
                if halted.load(Ordering::Relaxed) {
                    return None;
                }
                Some(protocol.run_sample(caller, sample, progress).await)
            }
        })
        .buffer_unordered(in_flight);
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    loop {
        let next = tokio::select! {
            next = running.next() => next,
            _ = &mut interrupt => {
                status = Status::Interrupted;
                break;
            }
        };
        match next {
            None => break,
            Some(None) => {}
            Some(Some(Ok(finished))) => {
                files.write(&finished)?;
                progress.sample_done();
            }
            Some(Some(Err(Halt::Budget))) => {
                if !halted.swap(true, Ordering::Relaxed) {
                    progress.message("budget reached: finishing samples in flight".to_string());
                }
                status = Status::BudgetReached {
                    spent: ledger.spent(),
                    budget: options.budget.unwrap_or(0.0),
                };
            }
            Some(Some(Err(Halt::Fatal(message)))) => return Err(Error::Fatal(message)),
        }
    }
    drop(running);
    progress.finish();
    if let Status::BudgetReached { budget, .. } = status {
        status = Status::BudgetReached {
            spent: ledger.spent(),
            budget,
        };
    }
    if status == Status::Complete && files.done_count() < selected.len() {
        return Err(Error::Fatal(format!(
            "{} of {} samples finished without a stop; this is a bug",
            files.done_count(),
            selected.len()
        )));
    }

    // Figures and predictions come from the transcripts on disk, so a resumed run writes the
    // same as one that ran through.
    let transcripts = files.transcripts()?;
    let transcripts_path = options.out.join(crate::store::TRANSCRIPTS_FILE);
    let order: Vec<String> = selected.iter().map(|s| s.id.clone()).collect();
    if let Some(lines) = protocol.predictions(&transcripts, &transcripts_path)? {
        files.write_predictions(lines, &order)?;
    }
    let figures = protocol.figures(transcripts, &transcripts_path, options.bootstrap.as_ref())?;
    let ledger_totals = ledger.per_agent();
    let failures = team
        .all()
        .map(|agent| {
            let id = agent.id().to_string();
            let totals = ledger_totals.get(&id).copied().unwrap_or_default();
            let (parse_retries, abstained) =
                figures.parse_failures.get(&id).copied().unwrap_or_default();
            let failures = AgentFailures {
                retried: totals.transport_retries + parse_retries,
                abstained,
                failed_calls: totals.failed_calls,
            };
            (id, failures)
        })
        .collect();
    let records = files.record_counts()?;
    let stats = Stats {
        protocol: entry.name.to_string(),
        task: task.name.clone(),
        split,
        n: files.done_count(),
        selected: selected.len(),
        status: status.name().to_string(),
        protocol_figures: figures.value,
        ledger: ledger_totals,
        failures,
        records,
        cost_usd: ledger.spent(),
        budget_usd: options.budget,
        wall_s: clock.elapsed().as_secs_f64(),
    };
    if status == Status::Complete {
        files.finalize(&order)?;
    }
    let stats_path = options.out.join(STATS_FILE);
    let mut text = serde_json::to_vec_pretty(&stats).map_err(|e| Error::Fatal(e.to_string()))?;
    text.push(b'\n');
    chat::write_atomically(&stats_path, &text).map_err(crate::error::io_error(&stats_path))?;
    Ok(Outcome {
        status,
        stats,
        dir: options.out.clone(),
    })
}
