//! `r2l compare` as a CI gate, plus `report` and `export` on the same runs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chat::{ChatRequest, Reply, ScriptedServer};

use crate::support::{data_dir, run, RUNTIME};

/// Gold answers of ARC-Challenge keyed by question text.
fn arc_gold(data: &Path) -> Arc<HashMap<String, String>> {
    let dataset = harness::data::load(harness::data::DatasetName::ArcChallenge, "test", data)
        .unwrap_or_else(|e| panic!("{e}"));
    Arc::new(
        dataset
            .samples
            .into_iter()
            .filter_map(|s| match s.target {
                harness::data::Target::Answer { value } => Some((s.input, value)),
                _ => None,
            })
            .collect(),
    )
}

/// Answers correctly except for questions whose hash falls under `wrong_percent`.
fn script(
    gold: Arc<HashMap<String, String>>,
    wrong_percent: u64,
) -> impl Fn(&ChatRequest, u32) -> Reply + Send + Sync {
    move |request, _| {
        let user = request
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let hash = user
            .bytes()
            .fold(11u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b)));
        let letter = gold
            .iter()
            .find(|(q, _)| user.contains(q.as_str()))
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| "A".into());
        let letter = if hash % 100 < wrong_percent {
            if letter == "A" {
                "B".into()
            } else {
                "A".into()
            }
        } else {
            letter
        };
        Reply::Text(format!("Answer: {letter}"))
    }
}

fn evaluate(home: &Path, data: &Path, base_url: &str, run_id: &str) {
    let out = home.join("runs").display().to_string();
    let output = run(
        &[
            "eval",
            "--task",
            "arc-challenge",
            "--endpoint",
            base_url,
            "--model",
            "m",
            "--limit",
            "300",
            "--concurrency",
            "8",
            "--out",
            &out,
            "--no-cache",
            "--data-dir",
            &data.display().to_string(),
            "--no-progress",
            "--run-id",
            run_id,
        ],
        home,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn compare_exits_1_on_a_planted_regression_and_0_on_identical_runs() {
    let data = data_dir();
    let gold = arc_gold(&data);
    let good = RUNTIME
        .block_on(ScriptedServer::start(script(gold.clone(), 10)))
        .unwrap_or_else(|e| panic!("{e}"));
    let worse = RUNTIME
        .block_on(ScriptedServer::start(script(gold, 40)))
        .unwrap_or_else(|e| panic!("{e}"));
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    evaluate(home.path(), &data, &good.base_url(), "base");
    evaluate(home.path(), &data, &good.base_url(), "same");
    evaluate(home.path(), &data, &worse.base_url(), "worse");
    let dir = |id: &str| {
        home.path()
            .join("runs/arc-challenge/m")
            .join(id)
            .display()
            .to_string()
    };

    let same = run(&["compare", &dir("base"), &dir("same")], home.path());
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    let worse_run = run(&["compare", &dir("base"), &dir("worse")], home.path());
    let text = String::from_utf8_lossy(&worse_run.stdout);
    assert_eq!(worse_run.status.code(), Some(1), "{text}");
    assert!(
        text.contains("REGRESSION") && text.contains("McNemar") && text.contains("now wrong"),
        "{text}"
    );
    let json = run(
        &["compare", "--json", &dir("base"), &dir("worse")],
        home.path(),
    );
    let comparison: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap_or_default();
    assert_eq!(comparison["aligned"], 300);
    assert!(
        comparison["metrics"][0]["delta"].as_f64().unwrap_or(0.0) < -0.15,
        "{comparison}"
    );
    assert!(
        comparison["mcnemar"]["p_value"].as_f64().unwrap_or(1.0) < 0.001,
        "{comparison}"
    );
    // The better run compared the other way round is no regression.
    assert_eq!(
        run(&["compare", &dir("worse"), &dir("base")], home.path())
            .status
            .code(),
        Some(0)
    );
    // A max drop gate trips on a small drop even without significance.
    assert_eq!(
        run(
            &["compare", "--max-drop", "0.0", &dir("base"), &dir("worse")],
            home.path()
        )
        .status
        .code(),
        Some(1)
    );

    let report = run(
        &[
            "report",
            &dir("base"),
            &dir("worse"),
            "--out",
            &home.path().join("report").display().to_string(),
        ],
        home.path(),
    );
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let html = std::fs::read_to_string(home.path().join("report/report.html")).unwrap_or_default();
    assert!(
        html.contains("<svg") && html.contains("accuracy") && !html.contains("src=\"http"),
        "{}",
        &html[..html.len().min(400)]
    );
    let markdown =
        std::fs::read_to_string(home.path().join("report/report.md")).unwrap_or_default();
    assert!(markdown.contains("| accuracy |"), "{markdown}");

    let csv = home.path().join("runs.csv");
    let export = run(
        &[
            "export",
            &home.path().join("runs").display().to_string(),
            "--format",
            "csv",
            "--out",
            &csv.display().to_string(),
        ],
        home.path(),
    );
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let rows = std::fs::read_to_string(&csv)
        .unwrap_or_default()
        .lines()
        .count();
    assert_eq!(rows, 1 + 3 * 300);
    let parquet = home.path().join("runs.parquet");
    let export = run(
        &[
            "export",
            &dir("base"),
            "--format",
            "parquet",
            "--out",
            &parquet.display().to_string(),
        ],
        home.path(),
    );
    assert!(export.status.success() && parquet.metadata().map(|m| m.len()).unwrap_or(0) > 0);
}

#[test]
fn compare_refuses_runs_of_different_tasks() {
    let data = data_dir();
    let gold = arc_gold(&data);
    let server = RUNTIME
        .block_on(ScriptedServer::start(script(gold, 0)))
        .unwrap_or_else(|e| panic!("{e}"));
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    evaluate(home.path(), &data, &server.base_url(), "arc");
    let out = home.path().join("runs").display().to_string();
    let output = run(
        &[
            "eval",
            "--task",
            "strategyqa",
            "--endpoint",
            &server.base_url(),
            "--model",
            "m",
            "--limit",
            "20",
            "--out",
            &out,
            "--no-cache",
            "--data-dir",
            &data.display().to_string(),
            "--no-progress",
            "--run-id",
            "sqa",
        ],
        home.path(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let compared = run(
        &[
            "compare",
            &home
                .path()
                .join("runs/arc-challenge/m/arc")
                .display()
                .to_string(),
            &home
                .path()
                .join("runs/strategyqa/m/sqa")
                .display()
                .to_string(),
        ],
        home.path(),
    );
    assert_eq!(compared.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&compared.stderr).contains("refusing to compare"));
}
