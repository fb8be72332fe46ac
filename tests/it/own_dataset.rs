//! "Your own regression set": a task file naming a local JSON Lines file (real ARC-Challenge
//! questions in a user's shape), evaluated in-process with the real default model, pinned by
//! sha256 in the run log, and gated by `r2l compare`.

use std::path::Path;

use harness::data::{DatasetName, Target};

use crate::support::{data_dir, r2l, run};

const TASK: &str = r#"name = "my-science-set"
version = "1"
description = "Ten ARC-Challenge questions kept as our own regression set."
scorer = "loglikelihood"

[dataset]
path = "questions.jsonl"
kind = "multiple_choice"

[dataset.fields]
id = "qid"
question = "stem"
choices = "options"
answer = "key"

[prompt]
user = """Question: {{input}}
Answer:"""
"#;

/// Writes ten real ARC-Challenge questions, the answer given as the choice's text.
fn write_questions(path: &Path, data: &Path) {
    let dataset = harness::data::load(DatasetName::ArcChallenge, "test", data)
        .unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<String> = dataset
        .samples
        .iter()
        .take(10)
        .map(|sample| {
            let Target::Answer { value } = &sample.target else {
                panic!("ARC gold is a letter")
            };
            let options: Vec<&str> = sample.choices.iter().map(|c| c.text.as_str()).collect();
            let key = sample
                .choices
                .iter()
                .find(|c| &c.label == value)
                .map(|c| c.text.as_str())
                .unwrap_or_else(|| panic!("gold among the choices"));
            serde_json::json!({"qid": sample.id, "stem": sample.input, "options": options, "key": key})
                .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_local_file_task_is_evaluated_pinned_and_gated_by_compare() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let set = home.path().join("regression");
    std::fs::create_dir_all(&set).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(set.join("task.toml"), TASK).unwrap_or_else(|e| panic!("{e}"));
    write_questions(&set.join("questions.jsonl"), &data_dir());
    let task = set.join("task.toml").display().to_string();
    let out = home.path().join("runs").display().to_string();
    let cache = home.path().join("cache").display().to_string();
    // The default model from the setup step's home; answers cached in the test's own directory.
    let eval = |run_id: &str| {
        let output = r2l()
            .args(["eval", "--task", &task, "--local", "default", "--out", &out])
            .args(["--run-id", run_id, "--cache-dir", &cache, "--no-progress"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let run_dir = |id: &str| {
        home.path()
            .join("runs/my-science-set/smollm2-135m-instruct")
            .join(id)
    };
    eval("base");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir("base").join("run.json"))
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(set.join("questions.jsonl")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(manifest["dataset"]["name"], "questions", "{manifest}");
    assert_eq!(manifest["dataset"]["split"], "test");
    assert_eq!(
        manifest["dataset"]["sha256"],
        harness::data::sha256_hex(&bytes)
    );
    assert_eq!(manifest["n"], 10, "{manifest}");
    let acc = manifest["metrics"]["acc"]["value"].as_f64();
    assert!(acc.is_some_and(|a| (0.0..=1.0).contains(&a)), "{manifest}");

    // The same student on the same file passes the gate.
    eval("again");
    let base = run_dir("base").display().to_string();
    let again = run_dir("again").display().to_string();
    let gate = run(&["compare", &base, &again], home.path());
    assert!(
        gate.status.success(),
        "{}",
        String::from_utf8_lossy(&gate.stderr)
    );

    // An edited file is another dataset: compare refuses to pair the runs.
    let edited = String::from_utf8_lossy(&bytes).replacen("\"stem\":\"", "\"stem\":\"(edited) ", 1);
    std::fs::write(set.join("questions.jsonl"), edited).unwrap_or_else(|e| panic!("{e}"));
    eval("edited");
    let edited = run_dir("edited").display().to_string();
    let gate = run(&["compare", &base, &edited], home.path());
    let stderr = String::from_utf8_lossy(&gate.stderr);
    assert!(!gate.status.success(), "{stderr}");
    assert!(
        stderr.contains("datasets") && stderr.contains("sha256"),
        "{stderr}"
    );
}
