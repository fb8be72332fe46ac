//! `r2l distill debate|agentark` as a process against scripted agents on 127.0.0.1:
//! the runs complete, report their figures, and their files (stepwise included) load unchanged
//! with Hugging Face `datasets` and TRL's column names.

use std::path::{Path, PathBuf};

use chat::{ChatRequest, Reply, ScriptedServer};
use harness::data::{load, DatasetName, Target};
use harness::task::select;

use crate::support::{data_dir, json_of, run, RUNTIME};

const LIMIT: usize = 4;

/// The first `limit` questions of the seed-0 shuffle of each GSM8K split: (text, gold).
pub fn questions(splits: &[&str], limit: usize) -> Vec<(String, String)> {
    let mut questions = Vec::new();
    for split in splits {
        let dataset = load(DatasetName::Gsm8k, split, &data_dir())
            .unwrap_or_else(|e| panic!("loading gsm8k {split}: {e}"));
        questions.extend(
            select(&dataset.samples, Some(limit), 0)
                .into_iter()
                .map(|sample| match sample.target {
                    Target::Answer { value } => (sample.input, value),
                    other => panic!("not an answer: {other:?}"),
                }),
        );
    }
    questions
}

/// An agent that is right on `questions` (or, `wrong`, off by one) and writes short feedback.
pub fn solver(
    wrong: bool,
    questions: Vec<(String, String)>,
) -> impl Fn(&ChatRequest, u32) -> Reply + Send + Sync {
    move |request, _| {
        let last = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == chat::Role::User)
            .map_or("", |m| m.content.as_str());
        if last.contains("An incorrect answer from another agent:")
            || last.contains("Your answer was incorrect.")
        {
            return Reply::Text("Recheck the second step.".to_string());
        }
        let Some((_, gold)) = questions
            .iter()
            .find(|(input, _)| request.messages.iter().any(|m| m.content.contains(input)))
        else {
            return Reply::Status(400, None);
        };
        let answer = if wrong {
            gold.replace(',', "")
                .parse::<i64>()
                .map_or(0, |n| n + 1)
                .to_string()
        } else {
            gold.clone()
        };
        Reply::Text(format!("Step by step, it comes to this.\nAnswer: {answer}"))
    }
}

/// An agents file naming each scripted server as an agent (model `scripted-<id>`).
pub fn agents_file(dir: &Path, servers: &[(&str, &str, &ScriptedServer)]) -> PathBuf {
    let text: String = servers
        .iter()
        .map(|(id, role, server)| {
            format!(
                "[[agents]]\nid = \"{id}\"\nrole = \"{role}\"\nendpoint = \"{}\"\nmodel = \"scripted-{id}\"\n\n",
                server.base_url()
            )
        })
        .collect();
    let path = dir.join("agents.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn r2l_home() -> PathBuf {
    std::env::var_os("R2L_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/r2l")
        })
}

/// Runs the TRL-format check on `dir`; returns its row counts.
fn trl_check(dir: &Path) -> serde_json::Value {
    let python = r2l_home().join("venv/bin/python");
    assert!(
        python.is_file(),
        "{} not found: run scripts/setup.sh",
        python.display()
    );
    let check = std::process::Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check_trl_files.py"))
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        check.status.success(),
        "the TRL-format check failed: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    serde_json::from_slice(&check.stdout).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn debate_and_agentark_runs_write_files_that_load_with_datasets_and_trl_columns() {
    let start = |wrong| {
        RUNTIME
            .block_on(ScriptedServer::start(solver(
                wrong,
                questions(&["train"], LIMIT),
            )))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (right, wrong, student, judge) = (start(false), start(true), start(true), start(false));
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let agents = agents_file(
        home.path(),
        &[
            ("a", "teacher", &right),
            ("b", "teacher", &wrong),
            ("judge", "meta", &judge),
            ("s", "student", &student),
        ],
    );
    // The debate counts its context in the student's tokens: the scripted student is an
    // endpoint, so the default model's tokenizer is named (the test's R2L_HOME is empty).
    let tokenizer = format!(
        "--tokenizer={}",
        r2l_home().join("models/SmolLM2-135M-Instruct").display()
    );
    for (protocol, extras) in [
        ("debate", vec!["--rounds=1", tokenizer.as_str()]),
        ("agentark", vec!["--augment=1"]),
    ] {
        let out = home.path().join(protocol);
        let (agents, out_arg, data) = (
            agents.display().to_string(),
            out.display().to_string(),
            data_dir().display().to_string(),
        );
        let limit = LIMIT.to_string();
        let mut args = vec![
            "distill",
            protocol,
            "--task",
            "gsm8k",
            "--limit",
            &limit,
            "--agents",
            &agents,
            "--out",
            &out_arg,
            "--data-dir",
            &data,
            "--no-progress",
        ];
        args.extend(extras);
        let output = run(&args, home.path());
        assert!(
            output.status.success(),
            "{protocol}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary = json_of(&output);
        assert_eq!(summary["status"], "complete", "{summary}");
        let stats: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("stats.json")).unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stats["protocol"], protocol);
        assert_eq!(stats["n"], LIMIT);
        assert!(
            stats["accuracy_per_round"][0]["accuracy"].is_number(),
            "{stats}"
        );
        for figure in ["calls_per_question", "tokens_per_question"] {
            assert!(stats[figure].as_f64().is_some_and(|v| v > 0.0), "{stats}");
        }
        // The team's answers are a predictions file `r2l score` reads, as a run of its own.
        let predictions = out.join("predictions.jsonl").display().to_string();
        let runs = home.path().join("runs").display().to_string();
        let scored = run(
            &[
                "score",
                "--task",
                "gsm8k",
                "--split",
                "train",
                "--predictions",
                &predictions,
                "--out",
                &runs,
                "--model",
                protocol,
                "--data-dir",
                &data,
            ],
            home.path(),
        );
        assert!(
            scored.status.success(),
            "{protocol}: {}",
            String::from_utf8_lossy(&scored.stderr)
        );
        let scored = json_of(&scored);
        assert_eq!(scored["n"], LIMIT, "{scored}");
        assert!(
            scored["metrics"]["accuracy"]["value"].is_number(),
            "{scored}"
        );
        let counts = trl_check(&out);
        for kind in ["sft", "dpo", "stepwise"] {
            assert_eq!(counts[kind], stats["records"][kind], "{protocol} {kind}");
        }
        match protocol {
            "debate" => {
                // a right, b and the student wrong, in rounds 0 and 1.
                assert_eq!(counts["dpo"], 2 * 2 * LIMIT, "{stats}");
                assert_eq!(counts["sft"], LIMIT);
            }
            _ => {
                // By default round 0 and one update round (AgentArk's rounds_num 2).
                assert_eq!(
                    stats["accuracy_per_round"].as_array().map(Vec::len),
                    Some(2),
                    "{stats}"
                );
                // One right and one wrong solution per question: stepwise rows, no R-SFT.
                assert_eq!(counts["stepwise"], LIMIT, "{stats}");
                assert_eq!(counts["sft"], 0);
            }
        }
    }
}
