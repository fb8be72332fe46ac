//! One module per subcommand.

pub mod agree;
pub mod data;
pub mod distill;
pub mod eval;
pub mod prm;
pub mod reproduce;
pub mod runs;
pub mod score;
pub mod serve;
pub mod setup;
pub mod train;
mod train_trl;

use std::path::PathBuf;

/// r2l's cache directory: `$R2L_HOME`, else `~/.cache/r2l`.
pub fn r2l_home() -> PathBuf {
    match std::env::var_os("R2L_HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home),
        _ => std::env::var_os("HOME").map_or_else(
            || PathBuf::from(".r2l"),
            |home| PathBuf::from(home).join(".cache").join("r2l"),
        ),
    }
}

/// The data directory flag shared by the commands that read datasets.
#[derive(clap::Args, Debug, Clone)]
pub struct DataDirArg {
    /// Directory holding the datasets [default: $R2L_DATA_DIR, else ./shared/data or ../shared/data beside the working directory]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DataDirArg {
    /// The directory to read from, resolved at run time; an error says where it looked.
    pub fn resolve(&self) -> harness::Result<PathBuf> {
        harness::data::find_data_dir(self.data_dir.as_deref())
    }

    /// The directory for `tasks`: as [`DataDirArg::resolve`] when one of them reads a built-in
    /// dataset; when all read their own files, the data directory is not needed (`.` stands in
    /// when none is found).
    pub fn resolve_for(&self, tasks: &[harness::task::Task]) -> harness::Result<PathBuf> {
        let all_local = tasks
            .iter()
            .all(|task| matches!(task.dataset, harness::data::DatasetSource::Local(_)));
        match self.resolve() {
            Err(_) if all_local => Ok(PathBuf::from(".")),
            resolved => resolved,
        }
    }
}

/// Bootstrap flags shared by the commands that report confidence intervals.
#[derive(clap::Args, Debug, Clone)]
pub struct BootstrapArgs {
    /// Bootstrap resamples for the 95% CIs (0 = no CI)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub bootstrap: usize,
    /// Seed of the bootstrap resampling
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
}

impl BootstrapArgs {
    /// The harness configuration, or None when no CI is wanted.
    pub fn config(&self) -> Option<harness::metrics::BootstrapConfig> {
        bootstrap_config(self.bootstrap, self.seed)
    }
}

/// `resamples` bootstrap resamples drawn with `seed`, or None when `resamples` is 0 (no CI).
pub fn bootstrap_config(resamples: usize, seed: u64) -> Option<harness::metrics::BootstrapConfig> {
    (resamples > 0).then(|| harness::metrics::BootstrapConfig {
        resamples,
        seed,
        ..Default::default()
    })
}

/// Answer-cache flags shared by the commands that ask models (`eval`, `distill`).
#[derive(clap::Args, Debug, Clone)]
pub struct CacheArgs {
    /// Do not read or write the answer cache
    #[arg(long, conflicts_with = "refresh")]
    pub no_cache: bool,
    /// Ask every request again and overwrite its cached answer
    #[arg(long)]
    pub refresh: bool,
    /// Answer cache directory [default: $R2L_HOME/cache/chat]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl CacheArgs {
    /// The cache directory (the same for `eval` and `distill`).
    pub fn cache(&self) -> chat::ChatCache {
        chat::ChatCache::new(
            self.cache_dir
                .clone()
                .unwrap_or_else(|| r2l_home().join("cache").join("chat")),
        )
    }

    /// How the cache is used.
    pub fn mode(&self) -> chat::CacheMode {
        match (self.no_cache, self.refresh) {
            (true, _) => chat::CacheMode::Off,
            (false, true) => chat::CacheMode::Refresh,
            (false, false) => chat::CacheMode::Use,
        }
    }
}

/// A flag set by the first Ctrl-C, after printing `message` (the command then finishes its
/// current unit of work and saves it); a second Ctrl-C exits at once (130).
pub fn ctrl_c_flag(
    message: &'static str,
) -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let set = std::sync::Arc::new(AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&set);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("starting the signal handler: {e}"))?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\n{message}");
                flag.store(true, Ordering::SeqCst);
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        });
    });
    Ok(set)
}
