//! Harness overhead: `evaluate` against a zero-latency scripted endpoint on 127.0.0.1 at
//! concurrency 64 (cache off), so the figure is r2l's own cost per sample: prompt rendering,
//! HTTP round trip, parsing, judging, streaming the log line. Throughput is in samples/s.

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use std::sync::Arc;

use chat::{ChatClient, HttpClient, HttpConfig, Reply, ScriptedServer};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use harness::data::{load, DatasetName};
use harness::runner::{evaluate, EvalOptions};
use harness::task::resolve_task;
use r2l_benchmarks::data_dir;

fn eval_overhead(c: &mut Criterion) {
    let data_dir = data_dir();
    let dataset = load(DatasetName::Gsm8k, "test", &data_dir)
        .unwrap_or_else(|e| panic!("the benchmark needs the real GSM8K test split: {e}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let server = runtime
        .block_on(ScriptedServer::start(|_, _| {
            Reply::Text("Answer: 42".to_string())
        }))
        .unwrap_or_else(|e| panic!("scripted server: {e}"));
    let task = resolve_task("gsm8k").unwrap_or_else(|e| panic!("{e}"));
    let mut config = HttpConfig::new(server.base_url());
    config.concurrency = 64;
    let client = HttpClient::new(config).unwrap_or_else(|e| panic!("{e}"));
    let client: Arc<dyn ChatClient> = Arc::new(client);
    let out = std::env::temp_dir().join("r2l-eval-overhead");
    let options = EvalOptions {
        model: "scripted".to_string(),
        agent: None,
        model_sha256: None,
        endpoints: vec![server.base_url()],
        split: None,
        concurrency: 64,
        limit: None,
        few_shot: 0,
        seed: 0,
        data_dir,
        out_dir: out.clone(),
        run_id: Some("bench".to_string()),
        cache: chat::ChatCache::new(out.join("cache")),
        cache_mode: chat::CacheMode::Off,
        bootstrap: None,
        progress: false,
    };
    let mut group = c.benchmark_group("eval overhead");
    group.sample_size(10);
    group.throughput(Throughput::Elements(dataset.samples.len() as u64));
    group.bench_function("gsm8k test, zero-latency endpoint, concurrency 64", |b| {
        b.iter(|| {
            runtime
                .block_on(evaluate(&task, client.clone(), &options, Vec::new))
                .map(|run| run.samples.len())
                .unwrap_or_else(|e| panic!("evaluate: {e}"))
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(out);
}

criterion_group!(benches, eval_overhead);
criterion_main!(benches);
