//! `r2l train prm` and `r2l prm score` on stepwise rows built from real GSM8K solutions, with
//! the real default model: a short run, its PRM checkpoint scoring the rows, and bad input.

use std::path::Path;

use serde_json::{json, Value};

use crate::support::{data_dir, json_of, r2l};
use crate::train::{default_dir, ONE_AT_A_TIME};

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// The first `n` GSM8K train solutions, one line per step, with a wrong final step appended.
fn stepwise_rows(n: usize) -> Vec<Value> {
    let text = ok(std::fs::read_to_string(
        data_dir().join("gsm8k/train.jsonl"),
    ));
    text.lines()
        .take(n)
        .enumerate()
        .map(|(i, line)| {
            let record: Value = ok(serde_json::from_str(line));
            let mut steps: Vec<String> = record["answer"]
                .as_str()
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect();
            let mut labels = vec![true; steps.len()];
            steps.push("So the answer is 0.".to_string());
            labels.push(false);
            json!({"prompt": record["question"], "completions": steps, "labels": labels, "id": format!("gsm8k-train-{i}")})
        })
        .collect()
}

fn write_rows(path: &Path, rows: &[Value]) {
    ok(std::fs::write(
        path,
        rows.iter().map(|r| format!("{r}\n")).collect::<String>(),
    ));
}

#[test]
fn train_prm_writes_a_checkpoint_that_prm_score_reads() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = ok(tempfile::tempdir());
    let data = tmp.path().join("stepwise.jsonl");
    let rows = stepwise_rows(3);
    write_rows(&data, &rows);
    let out = tmp.path().join("prm");
    let output = ok(r2l()
        .args(["train", "prm", "--base"])
        .arg(default_dir())
        .args([
            "--no-progress",
            "--max-steps",
            "2",
            "--batch",
            "3",
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output());
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json_of(&output);
    assert_eq!(
        (report["steps"].as_u64(), report["examples"].as_u64()),
        (Some(2), Some(3))
    );
    let training: Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(
        out.join("training.json"),
    ))));
    let settings = &training["hyperparameters"];
    assert_eq!(settings["objective"], "prm");
    assert_eq!(settings["prm"]["separator"], "\n");
    assert_eq!(settings["prm"]["contrastive"], 0.5);
    assert_eq!(settings["adamw"]["beta2"], 0.95);
    assert_eq!(settings["adamw"]["weight_decay"], 0.1);

    let output = ok(r2l()
        .args(["prm", "score", "--model"])
        .arg(&out)
        .arg("--data")
        .arg(&data)
        .output());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    assert!(stderr.contains("accuracy at 0.5"), "{stderr}");
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| ok(serde_json::from_str(l)))
        .collect();
    assert_eq!(lines.len(), rows.len());
    for (line, row) in lines.iter().zip(&rows) {
        let p = line["step_probabilities"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(p.len(), row["completions"].as_array().map_or(0, Vec::len));
        assert!(p
            .iter()
            .all(|v| v.as_f64().is_some_and(|v| (0.0..=1.0).contains(&v))));
    }

    // A checkpoint without a PRM head, and a row whose labels do not match its steps.
    let output = ok(r2l()
        .args(["prm", "score", "--model"])
        .arg(default_dir())
        .arg("--data")
        .arg(&data)
        .output());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a PRM checkpoint"), "{stderr}");
    write_rows(
        &data,
        &[json!({"prompt": "q", "completions": ["a", "b"], "labels": [true]})],
    );
    let output = ok(r2l()
        .args(["train", "prm", "--no-progress", "--base"])
        .arg(default_dir())
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(tmp.path().join("bad"))
        .output());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("stepwise.jsonl:1: field `labels` has 1 entries and `completions` 2"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
