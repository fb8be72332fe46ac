//! r2l patch: a byte bound and counters for the sequence-level prefix cache.
//!
//! Published 0.8.1 evicts prefix-cache entries only when they are *not* on the CPU, so on a CPU
//! every finished sequence's KV cache stays in memory for good. With a bound set here
//! ([`set_prefix_cache_max_bytes`]) each prefix cache (one per loaded model) keeps its entries in
//! least-recently-used order and drops the oldest until the KV bytes it holds fit the bound.
//! The counters are process-wide (every model's cache adds to them).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

static MAX_BYTES: AtomicUsize = AtomicUsize::new(usize::MAX);
static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);
static HIT_TOKENS: AtomicU64 = AtomicU64::new(0);
static EVICTIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static ENTRIES: AtomicU64 = AtomicU64::new(0);

/// Sets the most KV-cache bytes one model's prefix cache may hold (`None`: no bound, as
/// published). Applies to the prefix caches created after the call (a model built later).
pub fn set_prefix_cache_max_bytes(bytes: Option<usize>) {
    MAX_BYTES.store(bytes.unwrap_or(usize::MAX), Ordering::Relaxed);
}

/// The bound now set by [`set_prefix_cache_max_bytes`] (`usize::MAX` when unbounded).
pub(crate) fn max_bytes() -> usize {
    MAX_BYTES.load(Ordering::Relaxed)
}

/// What the prefix caches of this process have done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefixCacheStats {
    /// Requests that reused a cached prefix.
    pub hits: u64,
    /// Requests that searched the cache and found no usable prefix.
    pub misses: u64,
    /// Prompt tokens whose KV came from the cache instead of a prefill.
    pub hit_tokens: u64,
    /// Entries dropped to keep a cache within its byte bound.
    pub evictions: u64,
    /// KV-cache bytes held by the entries now.
    pub bytes: u64,
    /// Entries held now.
    pub entries: u64,
}

/// A snapshot of the counters.
pub fn prefix_cache_stats() -> PrefixCacheStats {
    PrefixCacheStats {
        hits: HITS.load(Ordering::Relaxed),
        misses: MISSES.load(Ordering::Relaxed),
        hit_tokens: HIT_TOKENS.load(Ordering::Relaxed),
        evictions: EVICTIONS.load(Ordering::Relaxed),
        bytes: BYTES.load(Ordering::Relaxed),
        entries: ENTRIES.load(Ordering::Relaxed),
    }
}

pub(crate) fn record_hit(tokens: usize) {
    HITS.fetch_add(1, Ordering::Relaxed);
    HIT_TOKENS.fetch_add(tokens as u64, Ordering::Relaxed);
}

pub(crate) fn record_miss() {
    MISSES.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn record_eviction() {
    EVICTIONS.fetch_add(1, Ordering::Relaxed);
}

/// An entry of `bytes` came in (`added`) or went out.
pub(crate) fn record_entry(bytes: usize, added: bool) {
    if added {
        BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
        ENTRIES.fetch_add(1, Ordering::Relaxed);
    } else {
        BYTES.fetch_sub(bytes as u64, Ordering::Relaxed);
        ENTRIES.fetch_sub(1, Ordering::Relaxed);
    }
}
