//! `r2l serve` and `r2l convert`: host models over HTTP; turn a GGUF into a checkpoint directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serve::config::{read_models_file, Limits, ServeConfig};
use serve::engine::{Isq, ModelSpec};
use serve::registry::ModelRegistry;

use super::r2l_home;

/// The converted default model's directory name under `$R2L_HOME/models`.
pub const DEFAULT_MODEL_DIR: &str = "SmolLM2-135M-Instruct";
/// The default model's id.
pub const DEFAULT_MODEL_ID: &str = "smollm2-135m-instruct";

/// Arguments of `r2l serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to bind
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind (0 = any free port)
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// `default` (the setup step's SmolLM2, converted) or a .gguf file or checkpoint directory
    #[arg(long, default_value = "default")]
    model: String,
    /// In-situ quantization of a checkpoint directory: q8_0, q4_0, q4k or none [default: q8_0]
    #[arg(long)]
    isq: Option<String>,
    /// Models file: [[models]] id, path, isq, default, max_seqs, prefix_cache_mb (overrides --model)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Sequences each model decodes together (others wait) [default: 1, or the models file's max_seqs]
    #[arg(long, value_name = "N")]
    max_seqs: Option<usize>,
    /// Megabytes of KV cache each model keeps to reuse shared prompt prefixes (0 = off, at most
    /// 1024) [default: 256, or the models file's prefix_cache_mb]
    #[arg(long, value_name = "MB")]
    prefix_cache_mb: Option<usize>,
    /// Accepted API key (repeatable) [env: R2L_API_KEYS, comma-separated]
    #[arg(long = "api-key")]
    api_keys: Vec<String>,
    /// Generations running at once
    #[arg(long, default_value_t = Limits::default().max_in_flight)]
    max_in_flight: usize,
    /// Requests waiting for a slot before 429
    #[arg(long, default_value_t = Limits::default().max_queue)]
    max_queue: usize,
    /// Largest request body in bytes (413 above)
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Largest max_tokens a request may ask for (400 above)
    #[arg(long, default_value_t = Limits::default().max_tokens_cap)]
    max_tokens_cap: usize,
    /// Most choices (`n`) per request (400 above)
    #[arg(long, default_value_t = Limits::default().max_n)]
    max_n: usize,
    /// Most messages per chat request (400 above)
    #[arg(long, default_value_t = Limits::default().max_messages)]
    max_messages: usize,
    /// Seconds allowed per generation (504 after)
    #[arg(long, default_value_t = Limits::default().request_timeout.as_secs())]
    timeout: u64,
}

/// The default model's spec: the converted SmolLM2 directory, served with ISQ (Q8_0 unless told).
pub fn default_model_spec(isq: Option<Isq>, max_seqs: usize) -> Result<ModelSpec> {
    let dir = r2l_home().join("models").join(DEFAULT_MODEL_DIR);
    if !dir.join("config.json").is_file() {
        bail!(
            "the default model is not set up at {}; run `bash scripts/setup.sh` (or `r2l setup`)",
            dir.display()
        );
    }
    Ok(ModelSpec {
        max_seqs,
        ..ModelSpec::new(DEFAULT_MODEL_ID, dir, isq)
    })
}

/// The spec for `--model default|PATH` and `--isq`. A checkpoint directory (the default model
/// included) is quantized to Q8_0 unless `--isq` says otherwise (`none` keeps F32); a GGUF is
/// served as it is. `max_seqs` is how many sequences mistral.rs decodes together.
pub fn model_spec(model: &str, isq: Option<&str>, max_seqs: usize) -> Result<ModelSpec> {
    if max_seqs == 0 {
        bail!("--max-seqs must be at least 1");
    }
    let requested: Option<Option<Isq>> = isq.map(Isq::parse).transpose()?;
    if model == "default" {
        return default_model_spec(requested.unwrap_or(Some(Isq::Q8_0)), max_seqs);
    }
    let path = PathBuf::from(model);
    let id = path
        .file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string)
        .with_context(|| format!("{model}: cannot name a model after this path"))?;
    let isq = if path.is_dir() {
        requested.unwrap_or(Some(Isq::Q8_0))
    } else {
        requested.flatten()
    };
    Ok(ModelSpec {
        max_seqs,
        ..ModelSpec::new(id, path, isq)
    })
}

fn api_keys(args: &ServeArgs) -> Vec<String> {
    let mut keys = args.api_keys.clone();
    if let Ok(list) = std::env::var("R2L_API_KEYS") {
        keys.extend(
            list.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string),
        );
    }
    keys
}

/// Runs `r2l serve` until SIGTERM / Ctrl-C.
pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    let max_seqs = args.max_seqs.unwrap_or(serve::engine::DEFAULT_MAX_SEQS);
    let (mut specs, default) = match &args.config {
        Some(file) => read_models_file(file)?,
        None => (
            vec![model_spec(&args.model, args.isq.as_deref(), max_seqs)?],
            0,
        ),
    };
    if let Some(max_seqs) = args.max_seqs {
        if max_seqs == 0 {
            bail!("--max-seqs must be at least 1");
        }
        for spec in &mut specs {
            spec.max_seqs = max_seqs;
        }
    }
    if let Some(mb) = args.prefix_cache_mb {
        serve::engine::prefix_cache::check_mb(mb)
            .map_err(|message| anyhow::anyhow!("--prefix-cache-mb: {message}"))?;
        for spec in &mut specs {
            spec.prefix_cache_mb = mb;
        }
    }
    let address: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .with_context(|| {
            format!(
                "--host {} --port {} is not a socket address",
                args.host, args.port
            )
        })?;
    let config = ServeConfig {
        api_keys: api_keys(args),
        limits: Limits {
            max_body_bytes: args.max_body_bytes,
            max_messages: args.max_messages,
            max_tokens_cap: args.max_tokens_cap,
            max_n: args.max_n.max(1),
            max_in_flight: args.max_in_flight.max(1),
            max_queue: args.max_queue,
            request_timeout: Duration::from_secs(args.timeout.max(1)),
        },
    };
    let registry = Arc::new(ModelRegistry::new(specs, default));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve::server::run(address, registry, config))?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `r2l convert`.
#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// The GGUF file (llama architecture)
    gguf: PathBuf,
    /// Output checkpoint directory (config.json, tokenizer.json, model.safetensors, ...)
    out: PathBuf,
}

/// Runs `r2l convert`.
pub fn convert(args: &ConvertArgs) -> Result<ExitCode> {
    let converted = checkpoint::convert::convert_gguf(&args.gguf, &args.out)?;
    println!(
        "{} tensors, {} parameters ({}) → {}",
        converted.tensors,
        converted.parameters,
        converted.architecture,
        display(&converted.dir)
    );
    Ok(ExitCode::SUCCESS)
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
