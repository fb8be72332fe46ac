//! `r2l eval`: evaluates a model (over HTTP, or in-process) on one or more tasks.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chat::{ChatClient, EndpointPool, HttpClient, HttpConfig, RetryPolicy};
use distill::agents::{
    parse_agents, read_agents_file, system_prompt as agent_system_prompt, AgentSpec, Backend,
};
use harness::data::sha256_hex;
use harness::runner::{default_runs_dir, evaluate, AgentRef, EvalOptions};
use harness::task::{resolve_task, Persona};
use serde_json::json;

use super::{BootstrapArgs, CacheArgs, DataDirArg};

/// Arguments of `r2l eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Task name or task .toml file (repeat for several tasks)
    #[arg(long = "task", required = true)]
    tasks: Vec<String>,
    /// OpenAI base URL, e.g. http://127.0.0.1:8080/v1 (repeat to spread requests over replicas)
    #[arg(long = "endpoint", required_unless_present_any = ["local", "agent"])]
    endpoints: Vec<String>,
    /// Evaluate a model in-process instead: `default` or a .gguf file / checkpoint directory
    #[arg(long, conflicts_with = "endpoints", value_name = "PATH|default")]
    local: Option<String>,
    /// Evaluate an agent of the agents file as a model: its endpoint or local model, its model
    /// id, its persona before the task's system message and its sampling settings (the run is
    /// named after the agent)
    #[arg(long, value_name = "ID", conflicts_with_all = ["endpoints", "local", "model"])]
    agent: Option<String>,
    /// Agents file of --agent [default: the built-in offline agents of `r2l distill r2l`]
    #[arg(long, value_name = "FILE", requires = "agent")]
    agents: Option<PathBuf>,
    /// In-situ quantization for --local checkpoint directories: q8_0, q4_0, q4k, none
    #[arg(long, requires = "local")]
    isq: Option<String>,
    /// Sequences an in-process model (--local, or a local agent) decodes together (batching is
    /// slower than serial on a CPU)
    #[arg(long, default_value_t = serve::engine::DEFAULT_MAX_SEQS)]
    max_seqs: usize,
    /// API key sent as a bearer token to --endpoint (an agent's comes from its api_key_env) [env: R2L_API_KEY]
    #[arg(long, env = "R2L_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Model id sent with every request (also names the run directory) [default with --local: the model's id]
    #[arg(long, required_unless_present_any = ["local", "agent"])]
    model: Option<String>,
    /// Requests in flight at once (over all endpoints)
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Evaluate only the first N samples of a seeded shuffle
    #[arg(long)]
    limit: Option<usize>,
    /// Few-shot examples per prompt, from the train split
    #[arg(long, default_value_t = 0)]
    few_shot: usize,
    /// Split to evaluate [default: the task's]
    #[arg(long)]
    split: Option<String>,
    /// Seed of sample selection and few-shot choice
    #[arg(long = "sample-seed", default_value_t = 0)]
    sample_seed: u64,
    /// Root of the run directories
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Run id (directory name) [default: the start time]; reuse it to resume into the same directory
    #[arg(long)]
    run_id: Option<String>,
    #[command(flatten)]
    cache: CacheArgs,
    /// Seconds allowed per request attempt
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Retries per request on connection errors, timeouts, 429 and 5xx
    #[arg(long, default_value_t = 4)]
    retries: u32,
    /// Hide the progress bar
    #[arg(long)]
    no_progress: bool,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    #[command(flatten)]
    data_dir: DataDirArg,
}

/// Runs `r2l eval`.
pub fn run(args: &EvalArgs) -> Result<ExitCode> {
    let tasks = args
        .tasks
        .iter()
        .map(|name| resolve_task(name))
        .collect::<harness::Result<Vec<_>>>()?;
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    // An unknown agent fails here, before any model loads.
    let agent = match &args.agent {
        Some(id) => Some(find_agent(id, args.agents.as_deref())?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if let Some((spec, reference)) = agent {
        return match &spec.backend {
            Backend::Local(which) => {
                let model_spec = super::distill::local_model_spec(which, args.max_seqs)?;
                let loaded = load_in_process(&runtime, &model_spec)?;
                let model = spec.model.clone().unwrap_or(loaded.model.clone());
                let evaluated = EvaluatedModel {
                    model: model.clone(),
                    agent: Some(reference(model)),
                    ..loaded
                };
                evaluate_all(&runtime, &tasks, args, evaluated, Vec::new)
            }
            Backend::Endpoint { url, api_key_env } => {
                let api_key = match api_key_env {
                    Some(name) => Some(std::env::var(name).with_context(|| {
                        format!(
                            "agent `{}` of {}: its api_key_env names {name}, which is not set",
                            spec.id,
                            args.agents.as_ref().map_or_else(
                                || distill::protocols::r2l::ENTRY.default_agents.0.to_string(),
                                |path| path.display().to_string()
                            )
                        )
                    })?),
                    None => None,
                };
                let concurrency = spec
                    .concurrency
                    .map_or(args.concurrency, |c| c.min(args.concurrency));
                let pool = http_pool(
                    std::slice::from_ref(url),
                    api_key,
                    spec.timeout,
                    concurrency,
                    args.retries,
                )?;
                // parse_agents requires a model id of every endpoint agent.
                let model = spec.model.clone().unwrap_or_default();
                let evaluated = EvaluatedModel {
                    client: pool.clone(),
                    model: model.clone(),
                    sha256: None,
                    endpoints: vec![url.clone()],
                    agent: Some(reference(model)),
                };
                evaluate_all(&runtime, &tasks, args, evaluated, || pool.report())
            }
        };
    }
    if let Some(local) = &args.local {
        let spec = super::serve::model_spec(local, args.isq.as_deref(), args.max_seqs)?;
        let loaded = load_in_process(&runtime, &spec)?;
        let evaluated = EvaluatedModel {
            model: args.model.clone().unwrap_or(loaded.model.clone()),
            ..loaded
        };
        return evaluate_all(&runtime, &tasks, args, evaluated, Vec::new);
    }
    let pool = http_pool(
        &args.endpoints,
        args.api_key.clone(),
        Duration::from_secs(args.timeout.max(1)),
        args.concurrency,
        args.retries,
    )?;
    let evaluated = EvaluatedModel {
        client: pool.clone(),
        model: args.model.clone().unwrap_or_default(),
        sha256: None,
        endpoints: args.endpoints.clone(),
        agent: None,
    };
    evaluate_all(&runtime, &tasks, args, evaluated, || pool.report())
}

/// The model a run evaluates: how it is reached and what the run log records of it.
struct EvaluatedModel {
    /// The client that answers.
    client: Arc<dyn ChatClient>,
    /// The model id sent with every request.
    model: String,
    /// sha256 of the weights, when known (in-process models).
    sha256: Option<String>,
    /// Where it is reached: endpoint URLs, or `local:<path>`.
    endpoints: Vec<String>,
    /// The agent evaluated as the model (`--agent`).
    agent: Option<AgentRef>,
}

/// A model loaded in-process, answering as its own id.
fn load_in_process(
    runtime: &tokio::runtime::Runtime,
    spec: &serve::engine::ModelSpec,
) -> Result<EvaluatedModel> {
    eprintln!("loading {} in-process...", spec.path.display());
    let engine = Arc::new(runtime.block_on(serve::engine::Engine::load(spec))?);
    let info = engine.info().clone();
    Ok(EvaluatedModel {
        client: engine,
        model: info.id.clone(),
        sha256: Some(info.sha256),
        endpoints: vec![format!("local:{}", home_relative(&info.path))],
        agent: None,
    })
}

/// One HTTP client per endpoint URL behind a pool that spreads requests over them.
fn http_pool(
    urls: &[String],
    api_key: Option<String>,
    timeout: Duration,
    concurrency: usize,
    retries: u32,
) -> Result<Arc<EndpointPool>> {
    let mut clients: Vec<Arc<dyn ChatClient>> = Vec::new();
    for url in urls {
        let mut config = HttpConfig::new(url.clone());
        config.api_key = api_key.clone();
        config.timeout = timeout.max(Duration::from_secs(1));
        config.retry = RetryPolicy {
            max_retries: retries,
            ..RetryPolicy::default()
        };
        config.concurrency = concurrency;
        clients.push(Arc::new(HttpClient::new(config)?));
    }
    Ok(Arc::new(EndpointPool::new(clients, 3)))
}

/// What the run log records of an agent, given the model id its requests carry.
type AgentReference = Box<dyn FnOnce(String) -> AgentRef>;

/// The agent `id` of the agents file at `path` (default: the built-in offline agents of
/// `r2l distill r2l`) and how the run log records it; an unknown id fails and lists the file's
/// agents.
fn find_agent(id: &str, path: Option<&Path>) -> Result<(AgentSpec, AgentReference)> {
    let (file, text) = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the agents file {}", path.display()))?;
            (read_agents_file(path)?, text)
        }
        None => {
            let (source, text) = distill::protocols::r2l::ENTRY.default_agents;
            (
                parse_agents(text, source, Path::new("."))?,
                text.to_string(),
            )
        }
    };
    let Some(spec) = file.agents.iter().find(|a| a.id == id).cloned() else {
        let listed: Vec<String> = file
            .agents
            .iter()
            .map(|a| format!("{} ({})", a.id, a.role.name()))
            .collect();
        bail!(
            "--agent `{id}` is not an agent of {}; its agents: {}",
            file.source,
            listed.join(", ")
        );
    };
    let system_prompt = agent_system_prompt(&spec);
    let persona_sha256 = sha256_hex(system_prompt.as_bytes());
    let persona = Persona {
        system_prompt,
        temperature: Some(spec.temperature),
        top_p: spec.top_p,
        max_tokens: Some(spec.max_tokens),
    };
    let (agent_id, role, agents_file) = (spec.id.clone(), spec.role.name(), file.source);
    let agents_sha256 = sha256_hex(text.as_bytes());
    let reference = Box::new(move |model| AgentRef {
        id: agent_id,
        role: role.to_string(),
        model,
        persona,
        persona_sha256,
        agents_file,
        agents_sha256,
    });
    Ok((spec, reference))
}

/// Runs every task through the evaluated model and prints one JSON summary line per task.
fn evaluate_all(
    runtime: &tokio::runtime::Runtime,
    tasks: &[harness::task::Task],
    args: &EvalArgs,
    evaluated: EvaluatedModel,
    endpoint_report: impl Fn() -> Vec<chat::EndpointReport>,
) -> Result<ExitCode> {
    let client = evaluated.client;
    let options = EvalOptions {
        model: evaluated.model,
        agent: evaluated.agent,
        model_sha256: evaluated.sha256,
        endpoints: evaluated.endpoints,
        split: args.split.clone(),
        concurrency: args.concurrency,
        limit: args.limit,
        few_shot: args.few_shot,
        seed: args.sample_seed,
        data_dir: args.data_dir.resolve_for(tasks)?,
        out_dir: args.out.clone().unwrap_or_else(default_runs_dir),
        run_id: args.run_id.clone(),
        cache: args.cache.cache(),
        cache_mode: args.cache.mode(),
        bootstrap: args.bootstrap.config(),
        progress: !args.no_progress,
    };
    for task in tasks {
        let run = runtime.block_on(evaluate(task, client.clone(), &options, &endpoint_report))?;
        let manifest = &run.manifest;
        for endpoint in manifest.endpoint_report.iter().filter(|e| e.removed) {
            eprintln!(
                "warning: endpoint {} was taken out of rotation after repeated failures: {}",
                endpoint.endpoint,
                endpoint.last_error.as_deref().unwrap_or("unknown error")
            );
        }
        println!(
            "{}",
            json!({
                "task": manifest.task.name,
                "run": run.dir.display().to_string(),
                "n": manifest.n,
                "metrics": manifest.metrics,
                "diagnostics": manifest.diagnostics,
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A model path as run logs record it: under `$R2L_HOME` written relative to it, so a run log
/// names the model the same way on every machine.
fn home_relative(path: &str) -> String {
    let home = super::r2l_home();
    std::path::Path::new(path).strip_prefix(&home).map_or_else(
        |_| path.to_string(),
        |rest| format!("$R2L_HOME/{}", rest.display()),
    )
}
