//! Prometheus metrics: requests by route and status, latency histograms, tokens in and out,
//! queue depth, generations in flight and the prefix cache, in the text exposition format.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::engine::prefix_cache::PrefixCacheStats;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's counters and histograms.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    tokens_in: AtomicU64,
    tokens_out: AtomicU64,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, route: &str, status: u16, seconds: f64) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((route.to_string(), status)).or_insert(0) += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            let histogram = latency.entry(route.to_string()).or_default();
            for (bucket, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    histogram.counts[bucket] += 1;
                }
            }
            histogram.count += 1;
            histogram.sum += seconds;
        }
    }

    /// Adds token counts of a finished generation.
    pub fn add_tokens(&self, prompt: u64, completion: u64) {
        self.tokens_in.fetch_add(prompt, Ordering::Relaxed);
        self.tokens_out.fetch_add(completion, Ordering::Relaxed);
    }

    /// Requests answered so far with `status` on `route`.
    pub fn requests(&self, route: &str, status: u16) -> u64 {
        self.requests
            .lock()
            .ok()
            .and_then(|r| r.get(&(route.to_string(), status)).copied())
            .unwrap_or(0)
    }

    /// The text exposition, with the current queue depth, in-flight count and prefix cache.
    pub fn render(
        &self,
        queue_depth: usize,
        in_flight: usize,
        prefix_cache: &PrefixCacheStats,
    ) -> String {
        let mut out = String::new();
        out.push_str("# HELP r2l_requests_total HTTP requests by route and status.\n# TYPE r2l_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((route, status), count) in requests.iter() {
                out.push_str(&format!(
                    "r2l_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}\n"
                ));
            }
        }
        out.push_str("# HELP r2l_request_duration_seconds Request latency by route.\n# TYPE r2l_request_duration_seconds histogram\n");
        if let Ok(latency) = self.latency.lock() {
            for (route, histogram) in latency.iter() {
                for (bucket, bound) in BUCKETS.iter().enumerate() {
                    out.push_str(&format!(
                        "r2l_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}\n",
                        histogram.counts[bucket]
                    ));
                }
                out.push_str(&format!(
                    "r2l_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n",
                    histogram.count
                ));
                out.push_str(&format!(
                    "r2l_request_duration_seconds_sum{{route=\"{route}\"}} {}\n",
                    histogram.sum
                ));
                out.push_str(&format!(
                    "r2l_request_duration_seconds_count{{route=\"{route}\"}} {}\n",
                    histogram.count
                ));
            }
        }
        out.push_str(&format!(
            "# HELP r2l_tokens_in_total Prompt tokens processed.\n# TYPE r2l_tokens_in_total counter\nr2l_tokens_in_total {}\n",
            self.tokens_in.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "# HELP r2l_tokens_out_total Tokens generated.\n# TYPE r2l_tokens_out_total counter\nr2l_tokens_out_total {}\n",
            self.tokens_out.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "# HELP r2l_queue_depth Requests waiting for a generation slot.\n# TYPE r2l_queue_depth gauge\nr2l_queue_depth {queue_depth}\n"
        ));
        out.push_str(&format!(
            "# HELP r2l_in_flight Generations running.\n# TYPE r2l_in_flight gauge\nr2l_in_flight {in_flight}\n"
        ));
        render_prefix_cache(&mut out, prefix_cache);
        out
    }
}

/// The prefix cache's counters (every loaded model together).
fn render_prefix_cache(out: &mut String, stats: &PrefixCacheStats) {
    let lines = [
        (
            "hits_total",
            "counter",
            "Requests that reused a cached prompt prefix.",
            stats.hits,
        ),
        (
            "misses_total",
            "counter",
            "Requests that found no cached prefix.",
            stats.misses,
        ),
        (
            "hit_tokens_total",
            "counter",
            "Prompt tokens taken from the cache instead of a prefill.",
            stats.hit_tokens,
        ),
        (
            "evictions_total",
            "counter",
            "Entries dropped to stay within the byte bound.",
            stats.evictions,
        ),
        ("bytes", "gauge", "KV-cache bytes held.", stats.bytes),
        ("entries", "gauge", "Cached prefixes held.", stats.entries),
    ];
    for (name, kind, help, value) in lines {
        out.push_str(&format!(
            "# HELP r2l_prefix_cache_{name} {help}\n# TYPE r2l_prefix_cache_{name} {kind}\nr2l_prefix_cache_{name} {value}\n"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_counters_buckets_and_gauges() {
        let metrics = Metrics::default();
        metrics.observe("/v1/chat/completions", 200, 0.3);
        metrics.observe("/v1/chat/completions", 400, 0.001);
        metrics.add_tokens(10, 5);
        let cache = PrefixCacheStats {
            hits: 3,
            evictions: 1,
            bytes: 4096,
            ..PrefixCacheStats::default()
        };
        let text = metrics.render(2, 1, &cache);
        assert!(text.contains("r2l_prefix_cache_hits_total 3\n"));
        assert!(text.contains("r2l_prefix_cache_evictions_total 1\n"));
        assert!(text.contains("r2l_prefix_cache_bytes 4096\n"));
        assert!(text.contains("r2l_prefix_cache_misses_total 0\n"));
        assert!(
            text.contains("r2l_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 1")
        );
        assert!(text.contains(
            "r2l_request_duration_seconds_bucket{route=\"/v1/chat/completions\",le=\"0.5\"} 2"
        ));
        assert!(text.contains(
            "r2l_request_duration_seconds_bucket{route=\"/v1/chat/completions\",le=\"0.25\"} 1"
        ));
        assert!(text.contains("r2l_tokens_out_total 5"));
        assert!(text.contains("r2l_queue_depth 2"));
        assert_eq!(metrics.requests("/v1/chat/completions", 400), 1);
    }
}
