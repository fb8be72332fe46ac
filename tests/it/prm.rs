//! `r2l train prm`, `r2l prm score` and `r2l train grpo` with the real default model: a PRM
//! trained on stepwise rows built from real GSM8K solutions and scoring them, RL on GSM8K train
//! questions with that PRM's reward and with the verifiable reward alone, and bad input.

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

fn train_log(dir: &Path) -> Vec<Value> {
    ok(std::fs::read_to_string(dir.join("train_log.jsonl")))
        .lines()
        .map(|l| ok(serde_json::from_str(l)))
        .collect()
}

/// `r2l train grpo` on GSM8K train questions: with a PRM trained here (its reward added to the
/// verifiable one) and with the verifiable reward alone; the student loads; bad input.
#[test]
fn train_grpo_samples_groups_scores_them_and_writes_a_student() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = ok(tempfile::tempdir());
    let data = tmp.path().join("stepwise.jsonl");
    write_rows(&data, &stepwise_rows(2));
    let prm = tmp.path().join("prm");
    let output = ok(r2l()
        .args([
            "train",
            "prm",
            "--freeze-backbone",
            "--max-steps",
            "1",
            "--no-progress",
            "--base",
        ])
        .arg(default_dir())
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&prm)
        .output());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let data_dir = data_dir();
    let grpo = |out: &Path, reward: &[&str], extra: &[&str]| {
        let group: &[&str] = if extra.contains(&"--group") {
            &[]
        } else {
            &["--group", "2"]
        };
        r2l()
            .args(["train", "grpo", "--task", "gsm8k", "--limit", "1"])
            .args(group)
            .args([
                "--max-new-tokens",
                "24",
                "--max-steps",
                "1",
                "--no-progress",
                "--full",
            ])
            .args(["--policy"])
            .arg(default_dir())
            .arg("--data-dir")
            .arg(&data_dir)
            .args(reward)
            .args(extra)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let with_prm = tmp.path().join("grpo-prm");
    let prm_arg = prm.display().to_string();
    let output = grpo(&with_prm, &["--prm", &prm_arg], &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = train_log(&with_prm);
    assert_eq!(log.len(), 1);
    let step = &log[0];
    for field in [
        "reward_mean",
        "reward_std",
        "verifiable_accuracy",
        "kl",
        "generated_tokens_per_s",
    ] {
        assert!(step[field].as_f64().is_some(), "{field} missing: {step}");
    }
    assert_eq!(step["answers"], 2);
    // The first update starts at the reference: no KL yet.
    assert!(
        step["kl"].as_f64().is_some_and(|kl| kl.abs() < 1e-6),
        "{step}"
    );
    let training: Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(
        with_prm.join("training.json"),
    ))));
    assert_eq!(training["hyperparameters"]["grpo"]["group"], 2);
    assert_eq!(training["data"]["task"], "gsm8k");
    assert!(with_prm.join("model.safetensors").is_file());

    let verifiable = tmp.path().join("grpo-vr");
    let output = grpo(
        &verifiable,
        &["--verifiable-only"],
        &["--advantage", "rloo"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let step = &train_log(&verifiable)[0];
    // Verifiable rewards alone are ±1 per answer.
    let mean = step["reward_mean"].as_f64().unwrap_or(f64::NAN);
    let accuracy = step["verifiable_accuracy"].as_f64().unwrap_or(f64::NAN);
    assert!((mean - (2.0 * accuracy - 1.0)).abs() < 1e-9, "{step}");

    // Bad input: a group of one, a task without a verifiable judge, a PRM of another tokenizer.
    let output = grpo(
        &tmp.path().join("g1"),
        &["--verifiable-only"],
        &["--group", "1"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--group 1"), "{stderr}");
    let output = r2l()
        .args([
            "train",
            "grpo",
            "--task",
            "uit-visfd",
            "--verifiable-only",
            "--out",
        ])
        .arg(tmp.path().join("absa"))
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs a reasoning task"), "{stderr}");
    let other_policy = tmp.path().join("other-policy");
    ok(std::fs::create_dir_all(&other_policy));
    for entry in ok(std::fs::read_dir(default_dir())) {
        let entry = ok(entry);
        ok(std::fs::copy(
            entry.path(),
            other_policy.join(entry.file_name()),
        ));
    }
    // The same tokenizer written differently is another file: the PRM must not trust it.
    let tokenizer: Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(
        other_policy.join("tokenizer.json"),
    ))));
    ok(std::fs::write(
        other_policy.join("tokenizer.json"),
        ok(serde_json::to_string_pretty(&tokenizer)),
    ));
    let output = r2l()
        .args(["train", "grpo", "--task", "gsm8k", "--limit", "1", "--prm"])
        .arg(&prm)
        .arg("--policy")
        .arg(&other_policy)
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--out")
        .arg(tmp.path().join("other"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("trained with another tokenizer"),
        "{stderr}"
    );
}
