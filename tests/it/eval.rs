//! `r2l eval` against a scripted OpenAI-compatible server on 127.0.0.1 that answers correctly,
//! malformed, slowly, with 429 and 500, or drops the connection.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat::{ChatRequest, Reply, ScriptedServer};

use crate::support::{data_dir, json_of, r2l, run, RUNTIME};

/// Gold letters of MedMCQA `hard` keyed by question text, for a script that knows the answers.
fn medmcqa_hard_gold(data: &Path) -> Arc<HashMap<String, String>> {
    let dataset = harness::data::load(harness::data::DatasetName::Medmcqa, "hard", data)
        .unwrap_or_else(|e| panic!("{e}"));
    Arc::new(
        dataset
            .samples
            .into_iter()
            .map(|s| {
                let harness::data::Target::Answer { value } = s.target else {
                    unreachable!("multiple choice")
                };
                (s.input, value)
            })
            .collect(),
    )
}

/// The gold letter of the question in `request` (found by its text), if any.
fn gold_of(request: &ChatRequest, gold: &HashMap<String, String>) -> Option<String> {
    let user = request.messages.last()?.content.clone();
    gold.iter()
        .find(|(question, _)| user.contains(question.as_str()))
        .map(|(_, letter)| letter.clone())
}

/// A stable hash of the question, to vary behaviour per sample.
fn bucket(request: &ChatRequest) -> u64 {
    request.messages.last().map_or(0, |m| {
        m.content
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
    })
}

/// Every misbehaviour on the first attempt, a deterministic answer afterwards: right for about
/// two thirds of the questions, a wrong letter for the rest.
fn flaky_script(
    gold: Arc<HashMap<String, String>>,
    delay: Duration,
) -> impl Fn(&ChatRequest, u32) -> Reply + Send + Sync {
    move |request, attempt| {
        let b = bucket(request);
        let answer = match gold_of(request, &gold) {
            Some(letter) if !b.is_multiple_of(3) => {
                format!("The answer is clear.\nAnswer: {letter}")
            }
            Some(letter) => format!("Answer: {}", if letter == "A" { "B" } else { "A" }),
            None => "Answer: A".to_string(),
        };
        let text = Reply::Delayed(delay, Box::new(Reply::Text(answer)));
        if attempt > 0 {
            return text;
        }
        match b % 10 {
            0 => Reply::Status(429, Some(0)),
            1 => Reply::Status(500, None),
            2 => Reply::Malformed,
            3 => Reply::Drop,
            _ => text,
        }
    }
}

fn eval_args<'a>(
    base_url: &'a str,
    out: &'a str,
    cache: &'a str,
    data: &'a str,
    run_id: &'a str,
) -> Vec<&'a str> {
    vec![
        "eval",
        "--task",
        "medmcqa",
        "--split",
        "hard",
        "--endpoint",
        base_url,
        "--model",
        "scripted",
        "--concurrency",
        "4",
        "--out",
        out,
        "--cache-dir",
        cache,
        "--data-dir",
        data,
        "--run-id",
        run_id,
        "--bootstrap",
        "200",
        "--seed",
        "3",
        "--no-progress",
        "--retries",
        "3",
    ]
}

fn samples_lines(run_dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(run_dir.join("samples.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn run_dir(out: &Path, run_id: &str) -> PathBuf {
    out.join("medmcqa").join("scripted").join(run_id)
}

#[test]
fn eval_retries_through_failures_and_its_metrics_equal_score_on_the_same_outputs() {
    let data = data_dir();
    let gold = medmcqa_hard_gold(&data);
    let server = RUNTIME
        .block_on(ScriptedServer::start(flaky_script(gold, Duration::ZERO)))
        .unwrap_or_else(|e| panic!("{e}"));
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = home.path().join("runs");
    let cache = home.path().join("cache");
    let (base, out_s, cache_s, data_s) = (
        server.base_url(),
        out.display().to_string(),
        cache.display().to_string(),
        data.display().to_string(),
    );
    let output = run(
        &eval_args(&base, &out_s, &cache_s, &data_s, "a"),
        home.path(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = json_of(&output);
    assert_eq!(summary["n"], 100);
    assert_eq!(summary["diagnostics"]["errors"], 0, "{summary}");
    assert!(
        server.requests() >= 130,
        "only {} requests: retries did not happen",
        server.requests()
    );
    let accuracy = summary["metrics"]["accuracy"]["value"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(accuracy > 0.4 && accuracy < 0.9, "{summary}");

    // The same outputs through `r2l score` give the same metrics, CIs included.
    let dir = run_dir(&out, "a");
    let predictions = home.path().join("outputs.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(dir.join("samples.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let sample: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            serde_json::json!({"id": sample["id"], "output": sample["output"]}).to_string()
        })
        .collect();
    std::fs::write(&predictions, lines.join("\n")).unwrap_or_default();
    let scored = run(
        &[
            "score",
            "--task",
            "medmcqa",
            "--split",
            "hard",
            "--predictions",
            predictions.to_str().unwrap_or_default(),
            "--bootstrap",
            "200",
            "--seed",
            "3",
            "--data-dir",
            &data_s,
        ],
        home.path(),
    );
    assert!(
        scored.status.success(),
        "{}",
        String::from_utf8_lossy(&scored.stderr)
    );
    assert_eq!(json_of(&scored)["metrics"], summary["metrics"]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(manifest["task"]["name"], "medmcqa");
    assert_eq!(manifest["dataset"]["split"], "hard");
    assert_eq!(
        manifest["dataset"]["sha256"].as_str().map(str::len),
        Some(64)
    );
    assert_eq!(manifest["model"]["id"], "scripted");
    assert_eq!(manifest["generation"]["max_tokens"], 192);
    assert!(manifest["wall_seconds"].as_f64().unwrap_or(0.0) > 0.0);
}

#[test]
fn a_run_killed_mid_way_and_resumed_matches_an_uninterrupted_run() {
    let data = data_dir();
    let gold = medmcqa_hard_gold(&data);
    let server = RUNTIME
        .block_on(ScriptedServer::start(flaky_script(
            gold,
            Duration::from_millis(60),
        )))
        .unwrap_or_else(|e| panic!("{e}"));
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = home.path().join("runs");
    let (base, out_s, data_s) = (
        server.base_url(),
        out.display().to_string(),
        data.display().to_string(),
    );

    let clean_cache = home.path().join("clean-cache").display().to_string();
    let output = run(
        &eval_args(&base, &out_s, &clean_cache, &data_s, "clean"),
        home.path(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let cache = home.path().join("cache").display().to_string();
    let args = eval_args(&base, &out_s, &cache, &data_s, "killed");
    let mut child = r2l()
        .args(&args)
        .env("R2L_HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let killed_dir = run_dir(&out, "killed");
    let started = Instant::now();
    while samples_lines(&killed_dir).len() < 30 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap_or_else(|e| panic!("SIGKILL: {e}"));
    let _ = child.wait();
    let partial = samples_lines(&killed_dir).len();
    assert!(
        (30..100).contains(&partial),
        "killed after {partial} samples"
    );

    let output = run(&args, home.path());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let resumed = json_of(&output);
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(killed_dir.join("run.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    assert!(
        manifest["cached"].as_u64().unwrap_or(0) >= 30,
        "the resumed run did not reuse the cache: {manifest}"
    );
    assert_eq!(
        samples_lines(&killed_dir),
        samples_lines(&run_dir(&out, "clean"))
    );
    let clean: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir(&out, "clean").join("run.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(resumed["metrics"], clean["metrics"]);
    assert_eq!(samples_lines(&killed_dir).len(), 100);
}

#[test]
fn an_endpoint_that_keeps_failing_is_taken_out_of_rotation() {
    let data = data_dir();
    let gold = medmcqa_hard_gold(&data);
    let good = RUNTIME
        .block_on(ScriptedServer::start(flaky_script(gold, Duration::ZERO)))
        .unwrap_or_else(|e| panic!("{e}"));
    let bad = RUNTIME
        .block_on(ScriptedServer::start(|_, _| Reply::Status(503, Some(0))))
        .unwrap_or_else(|e| panic!("{e}"));
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = home.path().join("runs").display().to_string();
    let data_s = data.display().to_string();
    let output = run(
        &[
            "eval",
            "--task",
            "medmcqa",
            "--split",
            "hard",
            "--endpoint",
            &bad.base_url(),
            "--endpoint",
            &good.base_url(),
            "--model",
            "scripted",
            "--concurrency",
            "4",
            "--out",
            &out,
            "--no-cache",
            "--data-dir",
            &data_s,
            "--no-progress",
            "--retries",
            "1",
            "--run-id",
            "pool",
        ],
        home.path(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(json_of(&output)["diagnostics"]["errors"], 0);
    assert!(String::from_utf8_lossy(&output.stderr).contains("taken out of rotation"));
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join("runs/medmcqa/scripted/pool/run.json"))
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(manifest["endpoint_report"][0]["removed"], true);
    assert_eq!(manifest["endpoint_report"][1]["served"], 100);
}
