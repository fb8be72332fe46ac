//! The prefix cache on the real default model, through real servers on 127.0.0.1: greedy outputs
//! with the cache equal outputs without it (chat and completions, a shared prefix and a repeated
//! prompt), and a stream of distinct prompts stays within the byte bound.
//!
//! A binary of its own: the cache's counters are process-wide, so no other engine may add to
//! them while these tests read them.

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use serve::api::AppState;
use serve::config::ServeConfig;
use serve::engine::prefix_cache::{self, PrefixCacheStats};
use serve::engine::{Engine, ModelSpec};
use serve::registry::ModelRegistry;
use support::{default_spec, post, start, RUNTIME};

/// The tests read the process-wide counters: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A server for the default model with a prefix cache of `mb` megabytes (0 = off).
fn server(mb: usize) -> String {
    let spec = ModelSpec {
        prefix_cache_mb: mb,
        ..default_spec()
    };
    let engine = RUNTIME
        .block_on(Engine::load(&spec))
        .unwrap_or_else(|e| panic!("loading the default model: {e}"));
    let registry = ModelRegistry::with_engine(spec, Arc::new(engine));
    start(AppState::new(Arc::new(registry), ServeConfig::default()))
}

/// Fixed instructions and examples before the per-sample text, as the task prompts put them.
const INSTRUCTIONS: &str = "You label the sentiment of hotel reviews. Read the review and answer \
with one word: positive, negative or neutral. Examples: \"The room was spotless and the staff \
were kind.\" -> positive. \"Breakfast was cold and the lift was broken.\" -> negative. \"The \
hotel is near the station.\" -> neutral.\nReview: ";

const REVIEWS: [&str; 3] = [
    "The bed was comfortable but the street noise kept us awake.",
    "Great view from the balcony, we would come back.",
    "Check-in took an hour and nobody apologised.",
];

fn chat(url: &str, text: &str) -> String {
    let body = json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 16,
        "temperature": 0.0,
    });
    let (status, answer) = post(&format!("{url}/v1/chat/completions"), &body, None);
    assert_eq!(status, 200, "{answer}");
    content(&answer, "/choices/0/message/content")
}

fn complete(url: &str, text: &str) -> String {
    let body = json!({"model": "smollm2", "prompt": text, "max_tokens": 12, "temperature": 0.0});
    let (status, answer) = post(&format!("{url}/v1/completions"), &body, None);
    assert_eq!(status, 200, "{answer}");
    content(&answer, "/choices/0/text")
}

/// The counters once nothing has changed them for half a second: an engine stores a finished
/// sequence's entry just after its answer is sent.
fn settled() -> PrefixCacheStats {
    let mut last = prefix_cache::stats();
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let now = prefix_cache::stats();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the prefix-cache counters kept changing for 20 s: {last:?}");
}

fn content(answer: &Value, pointer: &str) -> String {
    answer
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {answer}"))
        .to_string()
}

#[test]
fn greedy_outputs_with_the_prefix_cache_equal_outputs_without_it() {
    let _serial = serial();
    let cached = server(64);
    let uncached = server(0);
    let before = settled();
    let mut prompts: Vec<String> = REVIEWS
        .iter()
        .map(|review| format!("{INSTRUCTIONS}{review}"))
        .collect();
    // The same prompt again: the whole prompt but its last token comes from the cache.
    prompts.push(prompts[2].clone());
    for prompt in &prompts {
        let with = (chat(&cached, prompt), complete(&cached, prompt));
        let without = (chat(&uncached, prompt), complete(&uncached, prompt));
        assert_eq!(with, without, "prompt: {prompt}");
    }
    let after = settled();
    // The first request of each kind is a miss; every later one shares the instructions.
    let hits = after.hits - before.hits;
    assert!(
        hits >= 6,
        "expected the cached server to reuse prefixes: {before:?} -> {after:?}"
    );
    let prefix_tokens = (after.hit_tokens - before.hit_tokens) / hits;
    assert!(
        prefix_tokens >= 60,
        "a hit should reuse the ~70-token instructions, reused {prefix_tokens} on average"
    );
}

#[test]
fn distinct_prompts_stay_within_the_byte_bound() {
    let _serial = serial();
    const BOUND_MB: usize = 8;
    let url = server(BOUND_MB);
    let before = settled();
    let mut largest = PrefixCacheStats::default();
    // Each prompt starts with its own number, so none shares a prefix with another; about 100
    // tokens of KV each (46 KB a token), so two fill the bound.
    for n in 0..8 {
        let prompt = format!(
            "{n} {}. {INSTRUCTIONS}{}",
            "seven".repeat(n + 1),
            REVIEWS[n % REVIEWS.len()]
        );
        complete(&url, &prompt);
        // Another test's cache may hold entries too; it takes no requests while this one runs.
        let now = settled();
        let held = PrefixCacheStats {
            bytes: now.bytes - before.bytes,
            entries: now.entries - before.entries,
            ..now
        };
        assert!(
            held.bytes <= (BOUND_MB << 20) as u64,
            "after prompt {n}: {held:?} holds more than {BOUND_MB} MB"
        );
        largest.bytes = largest.bytes.max(held.bytes);
        largest.entries = largest.entries.max(held.entries);
    }
    let after = settled();
    assert!(
        after.evictions > before.evictions,
        "8 prompts of ~4.6 MB must have evicted under an 8 MB bound: {after:?}"
    );
    assert!(
        largest.entries >= 1 && largest.bytes > (1 << 20),
        "the cache held nothing: {largest:?}"
    );
}
