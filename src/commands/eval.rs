//! `r2l eval`: evaluates a model (over HTTP, or in-process) on one or more tasks.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chat::{ChatClient, EndpointPool, HttpClient, HttpConfig, RetryPolicy};
use harness::runner::{default_runs_dir, evaluate, EvalOptions};
use harness::task::resolve_task;
use serde_json::json;

use super::{BootstrapArgs, CacheArgs, DataDirArg};

/// Arguments of `r2l eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Task name or task .toml file (repeat for several tasks)
    #[arg(long = "task", required = true)]
    tasks: Vec<String>,
    /// OpenAI base URL, e.g. http://127.0.0.1:8080/v1 (repeat to spread requests over replicas)
    #[arg(long = "endpoint", required_unless_present = "local")]
    endpoints: Vec<String>,
    /// Evaluate a model in-process instead: `default` or a .gguf file / checkpoint directory
    #[arg(long, conflicts_with = "endpoints", value_name = "PATH|default")]
    local: Option<String>,
    /// In-situ quantization for --local checkpoint directories: q8_0, q4_0, q4k, none
    #[arg(long, requires = "local")]
    isq: Option<String>,
    /// Sequences the --local model decodes together (batching is slower than serial on a CPU)
    #[arg(long, requires = "local", default_value_t = serve::engine::DEFAULT_MAX_SEQS)]
    max_seqs: usize,
    /// API key sent as a bearer token [env: R2L_API_KEY]
    #[arg(long, env = "R2L_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Model id sent with every request (also names the run directory) [default with --local: the model's id]
    #[arg(long, required_unless_present = "local")]
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if let Some(local) = &args.local {
        let spec = super::serve::model_spec(local, args.isq.as_deref(), args.max_seqs)?;
        eprintln!("loading {} in-process...", spec.path.display());
        let engine = Arc::new(runtime.block_on(serve::engine::Engine::load(&spec))?);
        let info = engine.info().clone();
        let client: Arc<dyn ChatClient> = engine;
        let model = args.model.clone().unwrap_or(info.id.clone());
        let endpoints = vec![format!("local:{}", home_relative(&info.path))];
        return evaluate_all(
            &runtime,
            &tasks,
            args,
            client,
            model,
            Some(info.sha256),
            endpoints,
            Vec::new,
        );
    }
    let mut clients: Vec<Arc<dyn ChatClient>> = Vec::new();
    for endpoint in &args.endpoints {
        let mut config = HttpConfig::new(endpoint.clone());
        config.api_key = args.api_key.clone();
        config.timeout = Duration::from_secs(args.timeout.max(1));
        config.retry = RetryPolicy {
            max_retries: args.retries,
            ..RetryPolicy::default()
        };
        config.concurrency = args.concurrency;
        clients.push(Arc::new(HttpClient::new(config)?));
    }
    let pool = Arc::new(EndpointPool::new(clients, 3));
    let client: Arc<dyn ChatClient> = pool.clone();
    let model = args.model.clone().unwrap_or_default();
    evaluate_all(
        &runtime,
        &tasks,
        args,
        client,
        model,
        None,
        args.endpoints.clone(),
        || pool.report(),
    )
}

/// Runs every task through `client` and prints one JSON summary line per task.
#[allow(clippy::too_many_arguments)]
fn evaluate_all(
    runtime: &tokio::runtime::Runtime,
    tasks: &[harness::task::Task],
    args: &EvalArgs,
    client: Arc<dyn ChatClient>,
    model: String,
    model_sha256: Option<String>,
    endpoints: Vec<String>,
    endpoint_report: impl Fn() -> Vec<chat::EndpointReport>,
) -> Result<ExitCode> {
    let options = EvalOptions {
        model,
        model_sha256,
        endpoints,
        split: args.split.clone(),
        concurrency: args.concurrency,
        limit: args.limit,
        few_shot: args.few_shot,
        seed: args.sample_seed,
        data_dir: args.data_dir.resolve()?,
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
