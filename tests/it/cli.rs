//! The stable CLI contracts: `agree`, `score`, `data stats`, and error exit codes.

use std::io::Write;

use crate::support::{data_dir, json_of, run};

#[test]
fn agree_prints_the_contract_json_with_known_answers() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let csv = home.path().join("ratings.csv");
    // Krippendorff (2011): 4 coders x 12 units, units as rows here.
    let coders = [
        "1 2 3 3 2 1 4 1 2 . . .",
        "1 2 3 3 2 2 4 1 2 5 . 3",
        ". 3 3 3 2 3 4 2 2 5 1 .",
        "1 2 3 3 2 4 4 1 2 5 1 .",
    ];
    let cells: Vec<Vec<&str>> = coders.iter().map(|row| row.split(' ').collect()).collect();
    let mut file = std::fs::File::create(&csv).unwrap_or_else(|e| panic!("{e}"));
    writeln!(file, "unit,a,b,c,d").unwrap_or_default();
    for unit in 0..12 {
        let row: Vec<&str> = cells
            .iter()
            .map(|c| {
                if c[unit] == "." {
                    if unit % 2 == 0 {
                        ""
                    } else {
                        "NA"
                    }
                } else {
                    c[unit]
                }
            })
            .collect();
        writeln!(file, "u{unit},{}", row.join(",")).unwrap_or_default();
    }
    drop(file);
    for (level, expected) in [
        ("nominal", 0.743),
        ("ordinal", 0.815),
        ("interval", 0.849),
        ("ratio", 0.797),
    ] {
        let output = run(
            &[
                "agree",
                "--level",
                level,
                "--bootstrap",
                "200",
                "--seed",
                "1",
                csv.to_str().unwrap_or_default(),
            ],
            home.path(),
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report = json_of(&output);
        assert!(
            (report["alpha"].as_f64().unwrap_or(0.0) - expected).abs() < 5e-4,
            "{level}: {report}"
        );
        assert_eq!(report["level"], level);
        assert_eq!(report["units"], 11);
        assert_eq!(report["coders"], 4);
        assert_eq!(report["pairable_values"], 40);
        assert_eq!(report["ci95"].as_array().map(Vec::len), Some(2));
    }
    let output = run(
        &[
            "agree",
            "--level",
            "interval",
            "--bootstrap",
            "0",
            csv.to_str().unwrap_or_default(),
        ],
        home.path(),
    );
    assert!(json_of(&output)["ci95"].is_null());
}

#[test]
fn agree_rejects_text_at_numeric_levels_naming_line_and_coder() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let csv = home.path().join("bad.csv");
    std::fs::write(&csv, "unit,a,b\nu1,1,2\nu2,3,high\n").unwrap_or_default();
    let output = run(
        &[
            "agree",
            "--level",
            "interval",
            csv.to_str().unwrap_or_default(),
        ],
        home.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.csv:3: field `b`"), "{stderr}");
    let output = run(
        &[
            "agree",
            "--level",
            "nominal",
            csv.to_str().unwrap_or_default(),
        ],
        home.path(),
    );
    assert!(output.status.success());
}

#[test]
fn score_prints_the_contract_json_and_exits_2_on_unknown_ids() {
    let data = data_dir();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let predictions = home.path().join("p.jsonl");
    std::fs::write(&predictions, "{\"id\": \"0\", \"answer\": \"18\"}\n{\"id\": \"1\", \"output\": \"so 3 bolts.\\nAnswer: 3\"}\n").unwrap_or_default();
    let data = data.to_str().unwrap_or_default();
    let output = run(
        &[
            "score",
            "--task",
            "gsm8k",
            "--predictions",
            predictions.to_str().unwrap_or_default(),
            "--data-dir",
            data,
        ],
        home.path(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json_of(&output);
    assert_eq!(report["task"], "gsm8k");
    assert_eq!(report["split"], "test");
    assert_eq!(report["n"], 1319);
    assert!(
        (report["metrics"]["accuracy"]["value"]
            .as_f64()
            .unwrap_or(0.0)
            - 2.0 / 1319.0)
            .abs()
            < 1e-12,
        "{report}"
    );
    assert_eq!(
        report["metrics"]["accuracy"]["ci95"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        report["diagnostics"],
        serde_json::json!({"missing": 1317, "unparsed": 0, "invalid_labels": 0})
    );
    std::fs::write(&predictions, "{\"id\": \"nope\", \"answer\": \"1\"}\n").unwrap_or_default();
    let output = run(
        &[
            "score",
            "--task",
            "gsm8k",
            "--predictions",
            predictions.to_str().unwrap_or_default(),
            "--data-dir",
            data,
        ],
        home.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope"));
}

#[test]
fn data_stats_reports_every_dataset() {
    let data = data_dir();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let output = run(
        &[
            "data",
            "stats",
            "--json",
            "--data-dir",
            data.to_str().unwrap_or_default(),
        ],
        home.path(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let all = json_of(&output);
    let datasets = all.as_array().cloned().unwrap_or_default();
    assert_eq!(datasets.len(), 11);
    let visfd = &datasets[0];
    assert_eq!(visfd["dataset"], "uit-visfd");
    assert_eq!(
        visfd["splits"][2],
        serde_json::json!({"split": "test", "rows": 2224, "labels": 6722})
    );
    let polarity = visfd["tables"]["polarity"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let positive = polarity
        .iter()
        .find(|row| row["key"] == "positive")
        .cloned()
        .unwrap_or_default();
    assert_eq!(positive["train"], 13505);
    assert_eq!(positive["total"], 13505 + 1924 + 3695);
    // The text form lists every row (no elision), aligned, with the totals.
    let output = run(
        &[
            "data",
            "stats",
            "uit-visfd",
            "--data-dir",
            data.to_str().unwrap_or_default(),
        ],
        home.path(),
    );
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let aspect_rows: Vec<&str> = text
        .lines()
        .skip_while(|line| *line != "aspect:")
        .skip(2)
        .take_while(|line| !line.is_empty())
        .collect();
    assert_eq!(aspect_rows.len(), 11, "{text}");
    let storage = aspect_rows
        .iter()
        .find(|row| row.starts_with("STORAGE "))
        .unwrap_or_else(|| panic!("no STORAGE row in {text}"));
    assert_eq!(
        storage.split_whitespace().collect::<Vec<_>>(),
        ["STORAGE", "91", "14", "27", "132"]
    );
    let output = run(&["data", "stats", "imdb"], home.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("valid: uit-visfd"));
}

#[test]
fn data_sft_writes_the_gold_answers_of_the_samples_distill_selects() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = home.path().join("gold").join("sft.jsonl");
    let data = data_dir();
    let args = |limit: &str| {
        vec![
            "data".to_string(),
            "sft".to_string(),
            "--task".to_string(),
            "uit-visfd".to_string(),
            "--limit".to_string(),
            limit.to_string(),
            "--out".to_string(),
            out.display().to_string(),
            "--data-dir".to_string(),
            data.display().to_string(),
        ]
    };
    let strings = args("5");
    let output = run(
        &strings.iter().map(String::as_str).collect::<Vec<_>>(),
        home.path(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(json_of(&output)["records"], 5);
    let task = harness::task::resolve_task("uit-visfd").unwrap_or_else(|e| panic!("{e}"));
    let dataset = task
        .dataset
        .load("train", &data)
        .unwrap_or_else(|e| panic!("{e}"));
    let selected = harness::task::select(&dataset.samples, Some(5), 0);
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}"));
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert_eq!(records.len(), 5);
    for (record, sample) in records.iter().zip(&selected) {
        assert_eq!(record["id"], sample.id.as_str());
        let turns = record["messages"].as_array().cloned().unwrap_or_default();
        let last = turns.last().cloned().unwrap_or_default();
        assert_eq!(last["role"], "assistant");
        // The answer is the gold label list, as the task's parser reads it back.
        let answer = last["content"].as_str().unwrap_or_default();
        assert_eq!(answer, harness::task::gold_answer(&task, sample));
        assert_eq!(
            turns[turns.len() - 2]["content"],
            harness::task::messages(&task, sample, &[])
                .last()
                .map(|m| m.content.clone())
                .unwrap_or_default()
                .as_str()
        );
    }

    let strings = args("0");
    let output = run(
        &strings.iter().map(String::as_str).collect::<Vec<_>>(),
        home.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--limit"));
    let output = run(
        &[
            "data",
            "sft",
            "--task",
            "uit-visfd",
            "--split",
            "validation",
            "--out",
            "x.jsonl",
            "--data-dir",
            &data.display().to_string(),
        ],
        home.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("validation"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
