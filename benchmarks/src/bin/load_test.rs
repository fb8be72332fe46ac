//! Load test of a running `r2l serve` (loopback only): N requests at C concurrency, a fraction of
//! them malformed in assorted ways. Reports status counts; a good request must get 200 (a 429
//! when the queue is full is retried, up to 50 times, 200 ms apart), a bad one a 4xx, nothing a
//! 5xx.
//!
//! With `SERVER_PID` set (the `r2l serve` process), it also prints the server's resident set
//! size before and after the load: memory must stay bounded over many requests (mistral.rs
//! 0.8.1's CPU prefix cache never evicts, so with it on every finished sequence kept its KV
//! cache, 23.6 MB each for SmolLM2-135M).
//!
//! Usage: [SERVER_PID=PID] load_test BASE_URL [REQUESTS=2000] [CONCURRENCY=32] [BAD_PERCENT=20]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Semaphore};

/// The malformed bodies, cycled through.
fn bad_body(index: usize) -> (Vec<u8>, &'static str) {
    let cases: [(&[u8], &str); 8] = [
        (b"{\"model\": \"m\", \"messages\": [", "truncated JSON"),
        (b"{\"model\": \"m\", \"messages\": \"hi\"}", "wrong type"),
        (b"{\"model\": \"m\"}", "missing messages"),
        (b"{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 1000000}", "max_tokens over cap"),
        (b"{\"model\": \"no-such-model\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "unknown model"),
        (&[b'{', 0xff, 0xfe, b'}'], "invalid UTF-8"),
        (b"", "empty body"),
        (b"{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"n\": 5}", "n > 1"),
    ];
    let (body, name) = cases[index % cases.len()];
    (body.to_vec(), name)
}

fn good_body(model: &str, index: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": format!("Say the number {index}.")}],
        "max_tokens": 4,
        "temperature": 0.0
    }))
    .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let base = args
        .get(1)
        .ok_or("usage: load_test BASE_URL [REQUESTS] [CONCURRENCY] [BAD_PERCENT]")?
        .trim_end_matches('/')
        .to_string();
    let total: usize = args
        .get(2)
        .map_or(Ok(2000), |v| v.parse())
        .map_err(|e| format!("REQUESTS: {e}"))?;
    let concurrency: usize = args
        .get(3)
        .map_or(Ok(32), |v| v.parse())
        .map_err(|e| format!("CONCURRENCY: {e}"))?;
    let bad_percent: usize = args
        .get(4)
        .map_or(Ok(20), |v| v.parse())
        .map_err(|e| format!("BAD_PERCENT: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| e.to_string())?;
    let models: serde_json::Value = client
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let model = models["data"][0]["id"]
        .as_str()
        .ok_or("no model served")?
        .to_string();
    let url = format!("{base}/v1/chat/completions");
    let server_pid = std::env::var("SERVER_PID").ok();
    let rss_before = server_pid.as_deref().and_then(resident_mb);
    let outcomes: Arc<Mutex<BTreeMap<(String, u16), usize>>> = Arc::default();
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for index in 0..total {
        let (client, url, model, outcomes, permits) = (
            client.clone(),
            url.clone(),
            model.clone(),
            outcomes.clone(),
            permits.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await.ok()?;
            let bad = index % 100 < bad_percent;
            let (body, kind) = if bad {
                bad_body(index)
            } else {
                (good_body(&model, index), "good")
            };
            let mut retries = 0;
            let status = loop {
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let status = match response {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                if status == 429 && !bad && retries < 50 {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                break status;
            };
            *outcomes
                .lock()
                .await
                .entry((kind.to_string(), status))
                .or_insert(0) += 1;
            Some(())
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let outcomes = outcomes.lock().await;
    let count = |pred: &dyn Fn(&str, u16) -> bool| {
        outcomes
            .iter()
            .filter(|((k, s), _)| pred(k, *s))
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    let good_ok = count(&|k, s| k == "good" && s == 200);
    let good_total = count(&|k, _| k == "good");
    let server_errors = count(&|_, s| s >= 500);
    let bad_5xx = count(&|k, s| k != "good" && s >= 500);
    let dropped = count(&|_, s| s == 0);
    println!("{total} requests at concurrency {concurrency} ({bad_percent}% malformed) in {elapsed:.1} s ({:.1} req/s)", total as f64 / elapsed);
    for ((kind, status), n) in outcomes.iter() {
        println!("  {kind:<22} HTTP {status}: {n}");
    }
    println!("good requests answered 200: {good_ok}/{good_total}; 5xx: {server_errors} (on bad input: {bad_5xx}); connection failures: {dropped}");
    let healthy = client
        .get(format!("{base}/health"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    println!("server alive after the test: {}", healthy == 200);
    if let (Some(before), Some(after)) = (rss_before, server_pid.as_deref().and_then(resident_mb)) {
        println!(
            "server RSS: {before:.0} MB before, {after:.0} MB after ({:+.0} MB over {good_total} answered requests)",
            after - before
        );
    }
    if good_ok != good_total || server_errors > 0 || dropped > 0 || healthy != 200 {
        return Err("load test failed".to_string());
    }
    Ok(())
}

/// The resident set size of process `pid`, in MB (Linux `/proc`).
fn resident_mb(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}
