//! The prefix cache: finished sequences' KV caches kept by token prefix, so a request that
//! starts with the same tokens (the same instructions and examples) prefills only the rest.
//!
//! mistral.rs 0.8.1 as published never evicts on the CPU; our vendored copy
//! (`vendor/mistralrs-core-0.8.1`, see vendor/README.md) keeps the entries in least-recently-used
//! order within a byte bound, cuts each to the tokens it holds, and counts hits, misses and
//! evictions. One bound applies per loaded model.

use std::future::Future;

pub use mistralrs::core::PrefixCacheStats;

/// Megabytes of KV cache each model keeps for prefix reuse by default.
///
/// SmolLM2-135M holds 46 KB of KV per token (30 layers × 2 × 3 KV heads × 64 × f32), a
/// 1.5B-shaped Llama 61 KB: 256 MB keeps ~5,700 tokens of the 135M model — the last 5–10 eval
/// or teacher prompts of 500–1,000 tokens each, enough for consecutive calls that share their
/// instructions — at a memory cost that stays small beside the weights.
pub const DEFAULT_PREFIX_CACHE_MB: usize = 256;

/// Largest bound accepted (`--prefix-cache-mb`).
pub const MAX_PREFIX_CACHE_MB: usize = 1024;

/// `Err` with what is wrong when `mb` is above [`MAX_PREFIX_CACHE_MB`].
pub fn check_mb(mb: usize) -> std::result::Result<(), String> {
    if mb > MAX_PREFIX_CACHE_MB {
        return Err(format!(
            "{mb} MB is above the largest prefix cache, {MAX_PREFIX_CACHE_MB} MB (0 turns it off)"
        ));
    }
    Ok(())
}

/// Serialises "set the bound, build the model": mistral.rs reads the bound when it builds a
/// model, and several models may load at once (tests, a models file).
static LOADING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Awaits `build` (which builds one mistral.rs model) with the prefix cache bounded to `mb`
/// megabytes (0 is an empty bound; the caller also turns the cache off in mistral.rs).
pub(crate) async fn with_bound<F: Future>(mb: usize, build: F) -> F::Output {
    let _guard = LOADING.lock().await;
    mistralrs::core::set_prefix_cache_max_bytes(Some(mb.saturating_mul(1 << 20)));
    build.await
}

/// What the prefix caches of this process have done (every loaded model together).
pub fn stats() -> PrefixCacheStats {
    mistralrs::core::prefix_cache_stats()
}
