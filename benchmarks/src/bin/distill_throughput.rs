//! Throughput of `r2l distill`'s call path: the R2L protocol over UIT-ViSFD train samples with
//! three teachers and a meta-agent that are scripted OpenAI-compatible servers on 127.0.0.1,
//! each answering after 200 ms. With C calls allowed in flight, the best possible rate is
//! C / 0.2 s; the bench prints how much of it the run achieved (goal: at least 90 %).
//!
//! Usage: distill_throughput [SAMPLES=200] [CONCURRENCY=16]

use std::path::Path;
use std::time::{Duration, Instant};

use chat::{CacheMode, ChatCache, ChatRequest, Reply, RetryPolicy, ScriptedServer};
use distill::agents::{build_team, parse_agents, LocalClient, LocalModel};
use distill::protocols::r2l::R2lSettings;
use distill::DistillOptions;

const LATENCY: Duration = Duration::from_millis(200);

/// Answers every R2L prompt after [`LATENCY`]; teachers disagree on CAMERA so every phase runs.
fn teacher(aspect: &'static str) -> impl Fn(&ChatRequest, u32) -> Reply + Send + Sync {
    move |request, _| {
        let user = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == chat::Role::User)
            .map_or("", |m| m.content.as_str());
        let labels = format!("[{{\"aspect\": \"{aspect}\", \"polarity\": \"positive\"}}]");
        let text = if user.contains("Do not change the labels")
            || user.contains("The correct labels are:")
        {
            "The review says so.".to_string()
        } else if user.contains("The other annotators:")
            || user.contains("The annotators' positions:")
        {
            format!("Rationale: The review supports it.\nLabels: {labels}")
        } else {
            labels
        };
        Reply::Delayed(LATENCY, Box::new(Reply::Text(text)))
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let samples: usize = args
        .next()
        .map_or(Ok(200), |a| a.parse())
        .map_err(|e| format!("SAMPLES: {e}"))?;
    let concurrency: usize = args
        .next()
        .map_or(Ok(16), |a| a.parse())
        .map_err(|e| format!("CONCURRENCY: {e}"))?;
    let mut servers = Vec::new();
    for aspect in ["BATTERY", "BATTERY", "CAMERA", "BATTERY"] {
        servers.push(
            ScriptedServer::start(teacher(aspect))
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let roles = ["teacher", "teacher", "teacher", "meta"];
    let toml: String = servers
        .iter()
        .zip(roles)
        .enumerate()
        .map(|(k, (server, role))| {
            format!(
                "[[agents]]\nid = \"agent{k}\"\nrole = \"{role}\"\nendpoint = \"{}\"\nmodel = \"scripted\"\n\n",
                server.base_url()
            )
        })
        .collect();
    let file =
        parse_agents(&toml, "bench-agents.toml", Path::new(".")).map_err(|e| e.to_string())?;
    let work = std::env::temp_dir().join(format!("r2l-distill-bench-{}", std::process::id()));
    let mut no_local = |_: &LocalModel| -> distill::Result<LocalClient> {
        Err(distill::Error::Fatal("no local models here".to_string()))
    };
    let team = build_team(
        &file,
        &ChatCache::new(work.join("cache")),
        CacheMode::Off,
        concurrency,
        &mut no_local,
    )
    .map_err(|e| e.to_string())?;
    let options = DistillOptions {
        protocol: std::sync::Arc::new(R2lSettings {
            consensus: None,
            rationalize: true,
            rounds: 1,
            ..R2lSettings::default()
        }),
        split: Some("train".to_string()),
        limit: Some(samples),
        sample_seed: 0,
        seed: 0,
        data_dir: r2l_benchmarks::data_dir(),
        out: work.join("out"),
        concurrency,
        budget: None,
        retry: RetryPolicy::default(),
        parse_retries: 2,
        progress: false,
        bootstrap: None,
    };
    let task = harness::task::resolve_task("uit-visfd").map_err(|e| e.to_string())?;
    let started = Instant::now();
    let outcome = distill::distill(&task, &team, &options)
        .await
        .map_err(|e| e.to_string())?;
    let wall = started.elapsed().as_secs_f64();
    let calls: u64 = outcome.stats.ledger.values().map(|l| l.calls).sum();
    let requests: u64 = servers.iter().map(ScriptedServer::requests).sum();
    let _ = std::fs::remove_dir_all(&work);
    let in_flight = calls as f64 * LATENCY.as_secs_f64() / wall;
    println!(
        "{}",
        serde_json::json!({
            "samples": outcome.stats.n,
            "calls": calls,
            "http_requests": requests,
            "concurrency": concurrency,
            "wall_s": (wall * 1000.0).round() / 1000.0,
            "calls_per_s": (calls as f64 / wall * 10.0).round() / 10.0,
            "ideal_calls_per_s": concurrency as f64 / LATENCY.as_secs_f64(),
            "mean_in_flight": (in_flight * 100.0).round() / 100.0,
            "fraction_of_concurrency": (in_flight / concurrency as f64 * 1000.0).round() / 1000.0,
        })
    );
    Ok(())
}
