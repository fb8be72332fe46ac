//! `r2l score --out`: a predictions file for a few real GSM8K test samples written as a run log
//! that `r2l compare` reads and aligns; bad predictions name file and line.

use std::path::Path;

use harness::data::{load, DatasetName, Target};
use harness::task::select;
use serde_json::{json, Value};

use crate::support::{data_dir, json_of, run};

/// The first `n` samples of the seed-0 shuffle of GSM8K test: (id, gold).
fn samples(n: usize) -> Vec<(String, String)> {
    let dataset = load(DatasetName::Gsm8k, "test", &data_dir())
        .unwrap_or_else(|e| panic!("loading gsm8k test: {e}"));
    select(&dataset.samples, Some(n), 0)
        .into_iter()
        .map(|sample| match sample.target {
            Target::Answer { value } => (sample.id, value),
            other => panic!("not an answer: {other:?}"),
        })
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
}

fn score(predictions: &Path, out: &Path, model: &str, home: &Path) -> std::process::Output {
    let (predictions, out, data) = (
        predictions.display().to_string(),
        out.display().to_string(),
        data_dir().display().to_string(),
    );
    run(
        &[
            "score",
            "--task",
            "gsm8k",
            "--predictions",
            &predictions,
            "--out",
            &out,
            "--model",
            model,
            "--run-id",
            "r1",
            "--data-dir",
            &data,
            "--bootstrap",
            "200",
        ],
        home,
    )
}

#[test]
fn score_out_writes_a_run_log_of_the_predicted_samples_that_compare_aligns() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let samples = samples(5);
    // Three right (structured and raw text), one wrong, one that does not parse.
    let lines: Vec<String> = samples
        .iter()
        .enumerate()
        .map(|(k, (id, gold))| {
            match k {
                0 => json!({"id": id, "answer": gold}),
                1 | 2 => json!({"id": id, "output": format!("Step by step.\nAnswer: {gold}")}),
                3 => json!({"id": id, "output": "Answer: -1"}),
                _ => json!({"id": id, "output": "I cannot tell."}),
            }
            .to_string()
        })
        .collect();
    let predictions = home.path().join("predictions.jsonl");
    write_lines(&predictions, &lines);
    let runs = home.path().join("runs");
    let output = score(&predictions, &runs, "team", home.path());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = json_of(&output);
    assert_eq!(summary["n"], 5, "{summary}");
    let dir = runs.join("gsm8k").join("team").join("r1");
    assert_eq!(summary["run"], dir.display().to_string());
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap_or_default())
            .unwrap_or_else(|e| panic!("run.json: {e}"));
    assert_eq!(manifest["n"], 5);
    assert_eq!(manifest["task"]["name"], "gsm8k");
    assert_eq!(manifest["dataset"]["split"], "test");
    assert_eq!(manifest["model"]["id"], "team");
    assert_eq!(manifest["metrics"]["accuracy"]["value"], 0.6, "{manifest}");
    assert_eq!(manifest["diagnostics"]["unparsed"], 1);
    let run = harness::runner::RunLog::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut ids: Vec<&str> = run.samples.iter().map(|s| s.score.id.as_str()).collect();
    let mut expected: Vec<&str> = samples.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected, "exactly the predicted samples");
    assert_eq!(
        run.rescore().unwrap_or_else(|e| panic!("{e}"))["accuracy"].value,
        0.6,
        "the manifest agrees with its samples"
    );

    // The run compared with itself: every sample aligned, nothing flipped.
    let compare = run_compare(&dir, &dir, home.path());
    assert_eq!(compare["aligned"], 5, "{compare}");
    assert_eq!(compare["unaligned"], 0, "{compare}");
    // Against a run of two of the same samples (another model): they align by id.
    let student = home.path().join("student.jsonl");
    write_lines(&student, &[lines[3].clone(), lines[0].clone()]);
    let output = score(&student, &runs, "student", home.path());
    assert!(output.status.success());
    let compare = run_compare(&dir, &runs.join("gsm8k/student/r1"), home.path());
    assert_eq!(compare["aligned"], 2, "{compare}");
    assert_eq!(compare["unaligned"], 3, "{compare}");
}

fn run_compare(base: &Path, candidate: &Path, home: &Path) -> Value {
    let (base, candidate) = (base.display().to_string(), candidate.display().to_string());
    let output = run(&["compare", &base, &candidate, "--json"], home);
    assert!(
        output.status.code().is_some_and(|code| code <= 1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_of(&output)
}

#[test]
fn score_out_names_file_and_line_of_an_unknown_id_or_a_malformed_line() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let samples = samples(2);
    let known = json!({"id": samples[0].0, "answer": samples[0].1}).to_string();
    let runs = home.path().join("runs");
    for (name, second, wanted) in [
        (
            "unknown.jsonl",
            json!({"id": "no-such-sample", "answer": "1"}).to_string(),
            "unknown.jsonl:2: field `id`: id `no-such-sample` is not a sample of gsm8k test",
        ),
        (
            "malformed.jsonl",
            "{\"id\": \"x\", \"answer\": ".to_string(),
            "malformed.jsonl:2: field `(json)`: not valid JSON",
        ),
    ] {
        let path = home.path().join(name);
        write_lines(&path, &[known.clone(), second]);
        let output = score(&path, &runs, "team", home.path());
        assert!(!output.status.success(), "{name} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(wanted), "{name}: {stderr}");
    }
    assert!(
        !runs.join("gsm8k/team/r1/run.json").exists(),
        "no run is written from bad predictions"
    );
}
