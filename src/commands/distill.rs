//! `r2l distill r2l|debate|agentark`: teacher agents into training data, resumable, metered.
//! Each protocol is a subcommand with its own flags; the flags every run has are
//! [`RunArgs`], flattened into each. `r2l distill --protocol NAME …` (the older form) still
//! works: [`protocol_alias`] rewrites it before parsing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chat::{ChatClient, RetryPolicy};
use distill::agents::{
    build_team, parse_agents, read_agents_file, AgentsFile, Backend, LocalClient, LocalModel, Role,
};
use distill::protocols::agentark::{self, AgentArkSettings};
use distill::protocols::debate::{self, ContextTokenizer, DebateSettings};
use distill::protocols::r2l::{Participants, R2lSettings, Rule};
use distill::protocols::{find_protocol, ProtocolEntry, ProtocolSettings};
use distill::{DistillOptions, Status};
use harness::task::resolve_task;
use serde_json::json;

use super::serve::DEFAULT_MODEL_DIR;
use super::{r2l_home, CacheArgs, DataDirArg};

/// Arguments of `r2l distill`: the protocol, as a subcommand.
#[derive(clap::Args, Debug)]
#[command(
    subcommand_value_name = "PROTOCOL",
    subcommand_help_heading = "Protocols",
    after_help = "Every protocol takes the run flags (--task, --out, --agents, --limit, --budget, --concurrency, ...); `r2l distill PROTOCOL --help` lists them with the protocol's own.\nThe older form `r2l distill --protocol PROTOCOL ...` still works (no protocol: r2l)."
)]
pub struct DistillArgs {
    #[command(subcommand)]
    protocol: ProtocolCommand,
}

/// One subcommand per protocol of the registry (`distill::protocols::PROTOCOLS`).
#[derive(clap::Subcommand, Debug)]
enum ProtocolCommand {
    /// R2L (LREC 2026) on ABSA tasks: detection, rationales, revision on conflicts, aggregation
    R2l(R2lArgs),
    /// Debate & Reflect (ACL Findings 2025) on reasoning tasks: debate with critiques and reflections, T-DPO pairs
    Debate(DebateArgs),
    /// AgentArk (2026) on reasoning tasks: debate, aggregation, R-SFT, trajectory augmentation, stepwise labels
    #[command(name = "agentark")]
    AgentArk(AgentArkArgs),
}

/// The flags of `r2l distill r2l`.
#[derive(clap::Args, Debug)]
struct R2lArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Aggregation: majority, weighted or meta [default: meta when a meta agent exists, else majority]
    #[arg(long, value_parser = Rule::parse)]
    consensus: Option<Rule>,
    /// Write rationales for the gold labels of rejected samples (STaR) [default: on for the built-in agents]
    #[arg(long, conflicts_with = "no_rationalize")]
    rationalize: bool,
    /// Do not rationalize rejected samples
    #[arg(long)]
    no_rationalize: bool,
    /// Revision rounds on a conflict, after the independent first labels
    #[arg(long, default_value_t = R2lSettings::default().rounds)]
    rounds: usize,
    /// Only these teachers of the agents file take part (comma-separated ids) [default: all]
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    teachers: Option<Vec<String>>,
    /// Leave the meta-agent out: aggregation by the teachers' votes (one teacher: its labels)
    #[arg(long)]
    no_meta: bool,
}

/// The flags of `r2l distill debate`.
#[derive(clap::Args, Debug)]
struct DebateArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Debate rounds after round 0 (the independent first answers)
    #[arg(long, default_value_t = debate::DEFAULT_ROUNDS)]
    rounds: usize,
    /// Most tokens of earlier-round context in one T-DPO prompt, counted by the student's
    /// tokenizer (an entry over 95 % of it keeps the first 47 % of its answer and of its notes;
    /// longer contexts give further records with the same pair)
    #[arg(long, value_name = "TOKENS", default_value_t = debate::DEFAULT_PROMPT_BUDGET)]
    prompt_token_budget: usize,
    /// Checkpoint directory whose tokenizer.json counts --prompt-token-budget [default: the
    /// student agent's when it is a local checkpoint directory, else the default model's]
    #[arg(long, value_name = "DIR")]
    tokenizer: Option<PathBuf>,
}

/// The flags of `r2l distill agentark`.
#[derive(clap::Args, Debug)]
struct AgentArkArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Update rounds after round 0 (the independent first solutions)
    #[arg(long, default_value_t = agentark::DEFAULT_ROUNDS)]
    rounds: usize,
    /// Trajectory augmentation: up to K more right solutions per R-SFT question
    #[arg(long, value_name = "K", default_value_t = 0)]
    augment: usize,
}

/// The flags every protocol's run has.
#[derive(clap::Args, Debug)]
struct RunArgs {
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
    /// Agents file [default: the protocol's built-in offline agents, all on the default model]
    #[arg(long, value_name = "FILE")]
    agents: Option<PathBuf>,
    /// Output directory (re-running the same command resumes into it)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Stop before a call would take the spend (over every run in --out) past this many USD
    #[arg(long, value_name = "USD")]
    budget: Option<f64>,
    /// Paid calls in flight at once, over all agents [default: 8; --max-seqs when every agent
    /// runs in-process, whose engine decodes that many at once and queues the rest]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    concurrency: Option<u64>,
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

/// `r2l distill --protocol NAME …` rewritten to `r2l distill NAME …` (`--protocol=NAME` too),
/// and `r2l distill --task …` with no protocol to `r2l distill r2l …`, as the older form
/// defaulted to r2l. Other command lines are returned unchanged. An unknown NAME fails and
/// lists the valid ones.
pub fn protocol_alias(mut args: Vec<OsString>) -> Result<Vec<OsString>> {
    const AT: usize = 2;
    if args.get(1).and_then(|a| a.to_str()) != Some("distill") || args.len() <= AT {
        return Ok(args);
    }
    let first = args[AT].to_str().unwrap_or_default();
    let names = distill::protocols::protocol_names();
    if names.contains(&first) || !first.starts_with('-') || ["-h", "--help"].contains(&first) {
        return Ok(args);
    }
    let position = args[AT..].iter().position(|a| {
        a.to_str()
            .is_some_and(|a| a == "--protocol" || a.starts_with("--protocol="))
    });
    let name = match position.map(|p| p + AT) {
        None => "r2l".to_string(),
        Some(at) => {
            let flag = args.remove(at).to_string_lossy().into_owned();
            match flag.strip_prefix("--protocol=") {
                Some(name) => name.to_string(),
                None if at < args.len() => args.remove(at).to_string_lossy().into_owned(),
                None => bail!("--protocol needs a value: one of {}", names.join(", ")),
            }
        }
    };
    find_protocol(&name)?;
    args.insert(AT, name.into());
    Ok(args)
}

/// A protocol's settings from its flags, once the agents file is read (before any model loads).
type SettingsFrom<'a> = Box<dyn FnOnce(&AgentsFile) -> Result<Arc<dyn ProtocolSettings>> + 'a>;

/// Runs `r2l distill PROTOCOL`.
pub fn run(args: &DistillArgs) -> Result<ExitCode> {
    let (run, entry, settings): (&RunArgs, &ProtocolEntry, SettingsFrom) = match &args.protocol {
        ProtocolCommand::R2l(r2l) => (
            &r2l.run,
            &distill::protocols::r2l::ENTRY,
            Box::new(|agents| {
                let participants = Participants {
                    teachers: r2l.teachers.clone(),
                    without_meta: r2l.no_meta,
                };
                participants.check(agents)?;
                Ok(Arc::new(R2lSettings {
                    consensus: r2l.consensus,
                    rationalize: match (r2l.rationalize, r2l.no_rationalize) {
                        (true, _) => true,
                        (_, true) => false,
                        _ => r2l.run.agents.is_none(),
                    },
                    rounds: r2l.rounds,
                    participants,
                }))
            }),
        ),
        ProtocolCommand::Debate(debate) => (
            &debate.run,
            &debate::ENTRY,
            Box::new(|agents| {
                let dir = context_tokenizer_dir(debate.tokenizer.as_deref(), agents)?;
                let tokenizer = ContextTokenizer::load(&dir).with_context(|| {
                    format!(
                        "the tokenizer that counts --prompt-token-budget ({})",
                        dir.display()
                    )
                })?;
                Ok(Arc::new(DebateSettings {
                    rounds: debate.rounds,
                    prompt_budget: debate.prompt_token_budget,
                    tokenizer,
                }))
            }),
        ),
        ProtocolCommand::AgentArk(agentark) => (
            &agentark.run,
            &agentark::ENTRY,
            Box::new(|_| {
                Ok(Arc::new(AgentArkSettings {
                    rounds: agentark.rounds,
                    augment: agentark.augment,
                }))
            }),
        ),
    };
    distill_with(run, entry, settings)
}

/// The checkpoint directory whose `tokenizer.json` counts the debate's T-DPO context: `given`,
/// else the first student agent's local checkpoint directory, else the default model's (what
/// `r2l train --base default` trains; an endpoint student's tokenizer is not at hand, so pass
/// `--tokenizer` to count with it).
fn context_tokenizer_dir(given: Option<&Path>, agents: &AgentsFile) -> Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir.to_path_buf());
    }
    let student_checkpoint = agents
        .with_role(Role::Student)
        .find_map(|a| match &a.backend {
            Backend::Local(LocalModel::Path(path)) if path.join("tokenizer.json").is_file() => {
                Some(path.clone())
            }
            _ => None,
        });
    if let Some(dir) = student_checkpoint {
        return Ok(dir);
    }
    let dir = r2l_home().join("models").join(DEFAULT_MODEL_DIR);
    if !dir.join("tokenizer.json").is_file() {
        bail!(
            "the default model's tokenizer, which counts --prompt-token-budget, is not set up at {}; run `r2l setup`, or pass --tokenizer DIR (a checkpoint directory with tokenizer.json)",
            dir.display()
        );
    }
    Ok(dir)
}

/// Runs the protocol of `entry` with the run flags `args` and the settings `settings` builds.
fn distill_with(args: &RunArgs, entry: &ProtocolEntry, settings: SettingsFrom) -> Result<ExitCode> {
    let task = resolve_task(&args.task)?;
    (entry.check_task)(&task)?;
    let data_dir = args.data_dir.resolve()?;
    if let Some(budget) = args.budget {
        if !(budget.is_finite() && budget >= 0.0) {
            bail!("--budget must be a number of USD >= 0, got {budget}");
        }
    }
    let agents = match &args.agents {
        Some(path) => read_agents_file(path)?,
        None => {
            let (source, text) = entry.default_agents;
            parse_agents(text, source, Path::new("."))?
        }
    };
    let settings = settings(&agents)?;
    let in_process = agents
        .agents
        .iter()
        .all(|a| matches!(a.backend, Backend::Local(_)));
    // Samples in flight beyond what the in-process engine decodes together only wait in its
    // queue, and delay every sample's end: offline, finished samples come one after another.
    let concurrency = match args.concurrency {
        Some(given) => usize::try_from(given).context("--concurrency")?,
        None if in_process => args.max_seqs.max(1),
        None => DEFAULT_CONCURRENCY,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let max_seqs = args.max_seqs;
    let mut load_local = |which: &LocalModel| -> distill::Result<LocalClient> {
        let spec = local_model_spec(which, max_seqs)
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
        protocol: settings,
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

/// How an agent's in-process model is loaded (by `r2l distill` and `r2l eval --agent`): the
/// default model, or the agent's .gguf file / checkpoint directory, with `max_seqs` sequences
/// decoded together.
pub fn local_model_spec(which: &LocalModel, max_seqs: usize) -> Result<serve::engine::ModelSpec> {
    match which {
        LocalModel::Default => super::serve::model_spec("default", None, max_seqs),
        LocalModel::Path(path) => {
            super::serve::model_spec(&path.display().to_string(), None, max_seqs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(line: &str) -> Result<String> {
        let args = line.split(' ').map(OsString::from).collect();
        Ok(protocol_alias(args)?
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" "))
    }

    #[test]
    fn the_protocol_flag_becomes_the_subcommand() {
        let cases = [
            (
                "r2l distill --task gsm8k --protocol debate --rounds 1",
                "r2l distill debate --task gsm8k --rounds 1",
            ),
            (
                "r2l distill --protocol=agentark --augment 2",
                "r2l distill agentark --augment 2",
            ),
            (
                "r2l distill --task uit-visfd",
                "r2l distill r2l --task uit-visfd",
            ),
            (
                "r2l distill debate --task gsm8k",
                "r2l distill debate --task gsm8k",
            ),
            ("r2l distill --help", "r2l distill --help"),
            ("r2l distill", "r2l distill"),
            ("r2l eval --protocol x", "r2l eval --protocol x"),
        ];
        for (given, expected) in cases {
            assert_eq!(rewritten(given).ok().as_deref(), Some(expected), "{given}");
        }
        let error = rewritten("r2l distill --protocol debat --task gsm8k")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("invalid input: unknown protocol `debat`; valid: r2l, debate, agentark")
        );
    }
}
