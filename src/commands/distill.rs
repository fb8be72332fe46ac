//! `r2l distill`: teacher agents into training data (R2L, Debate & Reflect, AgentArk),
//! resumable, metered.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chat::{ChatClient, RetryPolicy};
use distill::agents::{
    build_team, parse_agents, read_agents_file, Backend, LocalClient, LocalModel,
    DEFAULT_AGENTS_TOML,
};
use distill::protocols::agentark::AgentArkSettings;
use distill::protocols::debate::DebateSettings;
use distill::protocols::r2l::{R2lSettings, Rule};
use distill::protocols::{ProtocolName, ProtocolSettings};
use distill::{DistillOptions, Status};
use harness::task::resolve_task;
use serde_json::json;

use super::{CacheArgs, DataDirArg};

/// Arguments of `r2l distill`.
#[derive(clap::Args, Debug)]
pub struct DistillArgs {
    /// Protocol: r2l (ABSA tasks), debate or agentark (reasoning tasks)
    #[arg(long, default_value = "r2l")]
    protocol: String,
    /// Task name or task .toml file (an ABSA task for r2l, a reasoning task for debate and agentark)
    #[arg(long)]
    task: String,
    /// Split to distil
    #[arg(long, default_value = "train")]
    split: String,
    /// Only the first N samples of a seeded shuffle
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of the sample selection
    #[arg(long = "sample-seed", default_value_t = 0)]
    sample_seed: u64,
    /// Seed sent with every request (sampled answers are reproducible where the endpoint honours it)
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Agents file [default: the built-in offline agents: three teachers, a meta-agent and a student on the default model]
    #[arg(long, value_name = "FILE")]
    agents: Option<PathBuf>,
    /// Output directory (re-running the same command resumes into it)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Rounds after round 0 (the independent first answers) [default: r2l 1 (revisions on a
    /// conflict), debate 3, agentark 2]
    #[arg(long)]
    rounds: Option<usize>,
    /// debate: most words of earlier-round context in one T-DPO prompt (words, not tokens;
    /// longer contexts give further records with the same pair)
    #[arg(long, value_name = "WORDS", default_value_t = distill::protocols::debate::DEFAULT_PROMPT_BUDGET)]
    prompt_token_budget: usize,
    /// agentark: trajectory augmentation, up to K more right solutions per R-SFT question
    #[arg(long, value_name = "K", default_value_t = 0)]
    augment: usize,
    /// Aggregation: majority, weighted or meta [default: meta when a meta agent exists, else majority]
    #[arg(long)]
    consensus: Option<String>,
    /// Write rationales for the gold labels of rejected samples (STaR) [default: on for the built-in agents]
    #[arg(long, conflicts_with = "no_rationalize")]
    rationalize: bool,
    /// Do not rationalize rejected samples
    #[arg(long)]
    no_rationalize: bool,
    /// Stop before a call would take the spend (over every run in --out) past this many USD
    #[arg(long, value_name = "USD")]
    budget: Option<f64>,
    /// Paid calls in flight at once, over all agents [default: 8; --max-seqs when every agent
    /// runs in-process, whose engine decodes that many at once and queues the rest]
    #[arg(long)]
    concurrency: Option<usize>,
    /// Retries of a failed attempt (timeouts, 429, 5xx), with exponential backoff
    #[arg(long, default_value_t = 4)]
    retries: u32,
    /// Repair turns after an answer that does not parse
    #[arg(long, default_value_t = 2)]
    parse_retries: u32,
    /// Sequences each in-process model decodes together (batching is slower than serial on a CPU)
    #[arg(long, default_value_t = serve::engine::DEFAULT_MAX_SEQS)]
    max_seqs: usize,
    /// Hide the progress bars
    #[arg(long)]
    no_progress: bool,
    #[command(flatten)]
    cache: CacheArgs,
    /// Bootstrap resamples for the CIs of the agreement alphas (0 = no CI)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    bootstrap: usize,
    #[command(flatten)]
    data_dir: DataDirArg,
}

/// Exit code of a run stopped by its budget (everything so far is written).
const EXIT_BUDGET: u8 = 3;
/// Calls in flight when some agent is reached over HTTP and --concurrency is not given.
const DEFAULT_CONCURRENCY: usize = 8;
/// Exit code of a run stopped by Ctrl-C.
const EXIT_INTERRUPTED: u8 = 130;

/// Runs `r2l distill`.
pub fn run(args: &DistillArgs) -> Result<ExitCode> {
    let protocol = ProtocolName::parse(&args.protocol)?;
    let task = resolve_task(&args.task)?;
    protocol.check_task(&task)?;
    let data_dir = args.data_dir.resolve()?;
    if protocol != ProtocolName::R2l {
        let r2l_only = [
            ("--consensus", args.consensus.is_some()),
            ("--rationalize", args.rationalize),
            ("--no-rationalize", args.no_rationalize),
        ];
        if let Some((flag, _)) = r2l_only.iter().find(|(_, given)| *given) {
            bail!("{flag} applies to the r2l protocol only");
        }
    }
    if protocol != ProtocolName::Debate
        && args.prompt_token_budget != distill::protocols::debate::DEFAULT_PROMPT_BUDGET
    {
        bail!("--prompt-token-budget applies to the debate protocol only");
    }
    if protocol != ProtocolName::AgentArk && args.augment != 0 {
        bail!("--augment applies to the agentark protocol only");
    }
    let rounds = args.rounds.unwrap_or(protocol.default_rounds());
    if args.concurrency == Some(0) {
        bail!("--concurrency must be at least 1");
    }
    if let Some(budget) = args.budget {
        if !(budget.is_finite() && budget >= 0.0) {
            bail!("--budget must be a number of USD >= 0, got {budget}");
        }
    }
    let consensus = args
        .consensus
        .as_deref()
        .map(Rule::parse)
        .transpose()
        .map_err(anyhow::Error::msg)
        .context("--consensus")?;
    let agents = match &args.agents {
        Some(path) => read_agents_file(path)?,
        None => parse_agents(DEFAULT_AGENTS_TOML, "built-in:agents.toml", Path::new("."))?,
    };
    let in_process = agents
        .agents
        .iter()
        .all(|a| matches!(a.backend, Backend::Local(_)));
    // Samples in flight beyond what the in-process engine decodes together only wait in its
    // queue, and delay every sample's end: offline, finished samples come one after another.
    let concurrency = args.concurrency.unwrap_or(if in_process {
        args.max_seqs.max(1)
    } else {
        DEFAULT_CONCURRENCY
    });
    let rationalize = match (args.rationalize, args.no_rationalize) {
        (true, _) => true,
        (_, true) => false,
        _ => args.agents.is_none(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let max_seqs = args.max_seqs;
    let mut load_local = |which: &LocalModel| -> distill::Result<LocalClient> {
        let spec = match which {
            LocalModel::Default => super::serve::model_spec("default", None, max_seqs),
            LocalModel::Path(path) => {
                super::serve::model_spec(&path.display().to_string(), None, max_seqs)
            }
        }
        .map_err(|e| distill::Error::Fatal(format!("{e:#}")))?;
        eprintln!("loading {} in-process...", spec.path.display());
        let engine = runtime
            .block_on(serve::engine::Engine::load(&spec))
            .map_err(|e| distill::Error::Fatal(e.to_string()))?;
        let model = engine.info().id.clone();
        let client: Arc<dyn ChatClient> = Arc::new(engine);
        Ok(LocalClient { client, model })
    };
    let team = build_team(
        &agents,
        &args.cache.cache(),
        args.cache.mode(),
        concurrency,
        &mut load_local,
    )?;
    let options = DistillOptions {
        protocol,
        split: Some(args.split.clone()),
        limit: args.limit,
        sample_seed: args.sample_seed,
        seed: args.seed,
        data_dir,
        out: args.out.clone(),
        concurrency,
        budget: args.budget,
        retry: RetryPolicy {
            max_retries: args.retries,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        },
        parse_retries: args.parse_retries,
        progress: !args.no_progress,
        settings: ProtocolSettings {
            r2l: R2lSettings {
                consensus,
                rationalize,
                rounds,
            },
            debate: DebateSettings {
                rounds,
                prompt_budget: args.prompt_token_budget,
            },
            agentark: AgentArkSettings {
                rounds,
                augment: args.augment,
            },
        },
        // --seed is the agents' request seed here; the resampling keeps the default seed.
        bootstrap: super::bootstrap_config(
            args.bootstrap,
            harness::metrics::BootstrapConfig::default().seed,
        ),
    };
    let outcome = runtime.block_on(distill::distill(&task, &team, &options))?;
    let stats = &outcome.stats;
    println!(
        "{}",
        json!({
            "out": outcome.dir.display().to_string(),
            "status": stats.status,
            "n": stats.n,
            "selected": stats.selected,
            "records": stats.records,
            "cost_usd": stats.cost_usd,
            "wall_s": stats.wall_s,
        })
    );
    match outcome.status {
        Status::Complete => Ok(ExitCode::SUCCESS),
        Status::BudgetReached { spent, budget } => {
            eprintln!(
                "stopped before a call would take the spend past the budget: ${spent:.4} of ${budget:.4} spent, {} of {} samples finished (all written to {}). To go on, run the same command with a larger --budget; finished samples are not redone.",
                stats.n,
                stats.selected,
                outcome.dir.display()
            );
            Ok(ExitCode::from(EXIT_BUDGET))
        }
        Status::Interrupted => {
            eprintln!(
                "interrupted after {} of {} samples (all written to {}); run the same command again to resume.",
                stats.n,
                stats.selected,
                outcome.dir.display()
            );
            Ok(ExitCode::from(EXIT_INTERRUPTED))
        }
    }
}
