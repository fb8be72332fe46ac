//! `r2l serve` as a process: readiness, the official `openai` Python client against it, and
//! SIGTERM draining in-flight requests.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::r2l;

fn r2l_home() -> PathBuf {
    std::env::var_os("R2L_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/r2l")
        })
}

/// A running `r2l serve` on an ephemeral port, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `r2l serve` with the default model and waits until `/ready` is 200; fails when the
/// default model is not set up.
fn start_server(extra: &[&str]) -> Server {
    assert!(
        r2l_home()
            .join("models/SmolLM2-135M-Instruct/config.json")
            .is_file(),
        "the default model is not set up: run scripts/setup.sh"
    );
    let mut child = r2l()
        .args(["serve", "--port", "0"])
        .args(extra)
        .env("R2L_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on ") {
                let _ = sender.send(line[at + "listening on ".len()..].trim().to_string());
            }
        }
    });
    let base = receiver
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("no listening line: {e}"));
    let server = Server { child, base };
    let started = Instant::now();
    loop {
        let ready = reqwest::blocking_get(&format!("{}/ready", server.base));
        if ready == Some(200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "not ready after 180 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    server
}

mod reqwest {
    //! Tiny blocking helpers over the async client.
    pub fn blocking_get(url: &str) -> Option<u16> {
        crate::support::RUNTIME
            .block_on(async { ::reqwest::get(url).await.ok().map(|r| r.status().as_u16()) })
    }
}

#[test]
fn the_official_openai_python_client_completes_and_streams() {
    let python = r2l_home().join("venv/bin/python");
    assert!(
        python.is_file(),
        "{} not found: run scripts/setup.sh",
        python.display()
    );
    let server = start_server(&["--api-key", "test-key"]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openai_client.py");
    let output = Command::new(python)
        .arg(script)
        .arg(format!("{}/v1", server.base))
        .arg("test-key")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn sigterm_drains_in_flight_requests_then_exits() {
    let mut server = start_server(&[]);
    let url = format!("{}/v1/chat/completions", server.base);
    let body = serde_json::json!({"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 48});
    let in_flight = std::thread::spawn(move || {
        crate::support::RUNTIME.block_on(async {
            let response = ::reqwest::Client::new()
                .post(&url)
                .json(&body)
                .send()
                .await
                .ok()?;
            let status = response.status().as_u16();
            let json: serde_json::Value = response.json().await.ok()?;
            Some((status, json["usage"]["completion_tokens"].as_u64()))
        })
    });
    std::thread::sleep(Duration::from_millis(400));
    let pid = server.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .map(|s| s.success());
    assert_eq!(killed.ok(), Some(true));
    let answered = in_flight.join().ok().flatten();
    assert_eq!(
        answered.map(|(status, _)| status),
        Some(200),
        "the in-flight request was not drained"
    );
    let started = Instant::now();
    let exit = loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(30) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        exit.and_then(|s| s.code()),
        Some(0),
        "the server did not exit cleanly after SIGTERM"
    );
}

/// The per-sample log-likelihoods of a run under `out` (id → each choice's), and its manifest.
fn loglikelihood_run(
    out: &std::path::Path,
) -> (
    std::collections::BTreeMap<String, Vec<f64>>,
    serde_json::Value,
) {
    let task_dir = out.join("arc-challenge-ll/smollm2-135m-instruct");
    let run = std::fs::read_dir(&task_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", task_dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .next()
        .unwrap_or_else(|| panic!("no run under {}", task_dir.display()));
    let text = std::fs::read_to_string(run.join("samples.jsonl")).unwrap_or_else(|e| panic!("{e}"));
    let lines = text
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}"))
        })
        .map(|line| {
            let lls = line["loglikelihoods"]
                .as_array()
                .unwrap_or_else(|| panic!("no loglikelihoods: {line}"))
                .iter()
                .filter_map(serde_json::Value::as_f64)
                .collect();
            (line["id"].as_str().unwrap_or_default().to_string(), lls)
        })
        .collect();
    let manifest = std::fs::read_to_string(run.join("run.json")).unwrap_or_else(|e| panic!("{e}"));
    (
        lines,
        serde_json::from_str(&manifest).unwrap_or_else(|e| panic!("{e}")),
    )
}

#[test]
fn a_loglikelihood_task_scores_the_same_over_http_and_in_process_and_reuses_the_cache() {
    let server = start_server(&[]);
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = crate::support::data_dir();
    let eval = |source: &[&str], out: &str| {
        let output = r2l()
            .args([
                "eval",
                "--task",
                "arc-challenge-ll",
                "--limit",
                "8",
                "--no-progress",
            ])
            .args(source)
            .args(["--model", "smollm2-135m-instruct", "--out"])
            .arg(work.path().join(out))
            .arg("--cache-dir")
            .arg(work.path().join("cache"))
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let endpoint = format!("{}/v1", server.base);
    eval(&["--endpoint", &endpoint], "http");
    // In-process, not from the cache the HTTP run filled.
    eval(&["--local", "default", "--no-cache"], "local");
    let (http, manifest) = loglikelihood_run(&work.path().join("http"));
    let (local, _) = loglikelihood_run(&work.path().join("local"));
    assert_eq!(http.len(), 8);
    assert_eq!(
        http.keys().collect::<Vec<_>>(),
        local.keys().collect::<Vec<_>>()
    );
    for (id, lls) in &http {
        assert!(
            lls.len() >= 3 && lls.iter().all(|ll| *ll < 0.0),
            "{id}: {lls:?}"
        );
        for (a, b) in lls.iter().zip(&local[id]) {
            assert!((a - b).abs() < 1e-6, "{id}: over HTTP {a}, in-process {b}");
        }
    }
    for metric in ["acc", "acc_norm"] {
        let value = manifest["metrics"][metric]["value"].as_f64();
        assert!(
            value.is_some_and(|v| (0.0..=1.0).contains(&v)),
            "{manifest}"
        );
    }
    // The same requests again come from the answer cache.
    eval(&["--endpoint", &endpoint], "again");
    let (again, manifest) = loglikelihood_run(&work.path().join("again"));
    assert_eq!(again, http);
    assert_eq!(manifest["cached"], 8, "{manifest}");
}
