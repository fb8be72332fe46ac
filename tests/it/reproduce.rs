//! `r2l reproduce` at tiny size: the real default model as base and student, scripted teachers
//! over HTTP on 127.0.0.1 (the remote-teacher configuration), a Ctrl-C during training, and a
//! re-run that finishes without redoing the baselines or the distillation. Every artifact is
//! checked for consistency: run ids, hashes, and the trained student being the model served.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use chat::ScriptedServer;
use serde_json::Value;

use crate::distill::{agents_file, teacher};
use crate::support::{data_dir, r2l, RUNTIME};
use crate::train::{default_dir, ONE_AT_A_TIME};

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn json_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ok(serde_json::from_str(&text))
}

fn modified(path: &Path) -> SystemTime {
    ok(ok(std::fs::metadata(path)).modified())
}

fn sha256_of(path: &Path) -> String {
    harness::data::sha256_hex(&ok(std::fs::read(path)))
}

/// Runs `command` in a process group of its own and sends the group Ctrl-C (as a terminal
/// does) once `log` has a line; returns the interrupted run's stderr (its exit was a failure).
pub fn interrupt_once_logged(mut command: Command, log: &Path) -> String {
    let mut run = ok(command
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn());
    let started = Instant::now();
    while std::fs::read_to_string(log)
        .map(|t| t.lines().count())
        .unwrap_or(0)
        < 1
    {
        if let Some(status) = ok(run.try_wait()) {
            let output = ok(run.wait_with_output());
            panic!(
                "reproduce ended ({status}) before {} had a line: {}",
                log.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "{} never got a line",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let group = format!("-{}", run.id());
    assert_eq!(
        ok(Command::new("kill").args(["-INT", "--", &group]).status()).code(),
        Some(0)
    );
    let output = ok(run.wait_with_output());
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!output.status.success(), "{stderr}");
    stderr
}

/// The R2L steps that finish before the student's training (with teachers a, b, c and a meta).
const BEFORE_TRAINING: [&str; 12] = [
    "eval-base",
    "eval-teacher-a",
    "eval-teacher-b",
    "eval-teacher-c",
    "eval-meta",
    "gold",
    "train-fine-tune",
    "eval-fine-tune",
    "distill-single-agent",
    "train-single-agent",
    "eval-single-agent",
    "distill",
];

#[test]
fn reproduce_runs_the_loop_resumes_after_ctrl_c_in_training_and_its_artifacts_agree() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let work = ok(tempfile::tempdir());
    let servers: Vec<ScriptedServer> = ["BATTERY", "BATTERY", "CAMERA", "BATTERY"]
        .into_iter()
        .map(|aspect| ok(RUNTIME.block_on(ScriptedServer::start(teacher(aspect)))))
        .collect();
    let agents = agents_file(
        work.path(),
        &[
            ("a", "teacher", &servers[0]),
            ("b", "teacher", &servers[1]),
            ("c", "teacher", &servers[2]),
            ("judge", "meta", &servers[3]),
        ],
    );
    let config = work.path().join("reproduce.toml");
    ok(std::fs::write(
        &config,
        format!(
            "base = \"{}\"\n[eval]\ntasks = [\"uit-visfd\", \"absabank-imm-constrained\"]\nlimit = 2\n\
             [distill]\nlimit = 3\nagents = \"{}\"\n[sft]\nmax_steps = 40\nbatch = 1\n",
            default_dir().display(),
            agents.display()
        ),
    ));
    let out = work.path().join("out");
    let home = work.path().join("home");
    // A relative --out, as users type it (the served models' files must still name them).
    let command = || {
        let mut command = r2l();
        command
            .current_dir(work.path())
            .args(["reproduce", "r2l", "--quick", "--config"])
            .arg(&config)
            .args(["--out", "out"])
            .arg("--data-dir")
            .arg(data_dir())
            .env("R2L_HOME", &home);
        command
    };

    // First run: Ctrl-C (to the whole process group, as a terminal sends it) once training
    // has logged a step.
    let train_log = out.join("train/r2l").join(distill::student::TRAIN_LOG_FILE);
    let stderr = interrupt_once_logged(command(), &train_log);
    assert!(
        stderr.contains("interrupted during r2l train sft"),
        "{stderr}"
    );
    assert!(
        out.join("train/r2l")
            .join(distill::student::RESUME_DIR)
            .is_dir(),
        "{stderr}"
    );
    let state = json_file(&out.join("reproduce.json"));
    for finished in BEFORE_TRAINING {
        assert!(state["steps"][finished].is_object(), "{finished}: {state}");
    }
    assert!(state["steps"]["train-r2l"].is_null(), "{state}");
    let base_run_json = out
        .join(
            state["steps"]["eval-base"]["outputs"]["runs"]["uit-visfd"]
                .as_str()
                .unwrap_or_default(),
        )
        .join("run.json");
    let (base_time, transcripts_time) = (
        modified(&base_run_json),
        modified(&out.join("distill/transcripts.jsonl")),
    );

    // Second run: the same command finishes, skipping the baselines and the distillation.
    let output = ok(command().output());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stderr}");
    for skipped in BEFORE_TRAINING {
        assert!(
            stderr.contains(&format!("{skipped}: unchanged since it finished")),
            "{skipped}: {stderr}"
        );
    }
    assert!(
        stderr.contains("resuming the interrupted training"),
        "{stderr}"
    );
    assert_eq!(modified(&base_run_json), base_time);
    assert_eq!(
        modified(&out.join("distill/transcripts.jsonl")),
        transcripts_time
    );
    assert!(
        stdout.contains("uit-visfd:") && stdout.contains("absabank-imm-constrained:"),
        "{stdout}"
    );

    // Consistency of the artifacts.
    let state = json_file(&out.join("reproduce.json"));
    let steps = &state["steps"];
    for step in BEFORE_TRAINING
        .into_iter()
        .chain(["train-r2l", "eval-r2l", "compare", "report"])
    {
        assert!(
            steps[step]["wall_seconds"].as_f64().is_some(),
            "{step}: {state}"
        );
    }
    let student_dir = out.join("train/r2l");
    let weights = sha256_of(&student_dir.join("model.safetensors"));
    assert_eq!(
        steps["train-r2l"]["outputs"]["weights_sha256"],
        weights.as_str()
    );
    let training = json_file(&student_dir.join("training.json"));
    let sft_sha256 = sha256_of(&out.join("distill/sft.jsonl"));
    assert_eq!(
        training["data"]["sha256"],
        sft_sha256.as_str(),
        "{training}"
    );
    assert_eq!(
        steps["distill"]["outputs"]["sft_sha256"],
        sft_sha256.as_str()
    );
    let base_weights = sha256_of(&default_dir().join("model.safetensors"));
    assert_eq!(
        training["base"]["sha256"],
        base_weights.as_str(),
        "{training}"
    );
    let gold_sha256 = sha256_of(&out.join("gold/sft.jsonl"));
    assert_eq!(steps["gold"]["outputs"]["sft_sha256"], gold_sha256.as_str());
    assert_eq!(steps["gold"]["outputs"]["sft_records"], 3);
    let fine_tune = json_file(&out.join("train/fine-tune/training.json"));
    assert_eq!(fine_tune["data"]["sha256"], gold_sha256.as_str());
    let fine_tune_weights = sha256_of(&out.join("train/fine-tune/model.safetensors"));
    let single_weights = sha256_of(&out.join("train/single-agent/model.safetensors"));
    let run_of = |step: &str, task: &str| {
        json_file(
            &out.join(
                steps[step]["outputs"]["runs"][task]
                    .as_str()
                    .unwrap_or_default(),
            )
            .join("run.json"),
        )
    };
    for task in ["uit-visfd", "absabank-imm-constrained"] {
        let base = run_of("eval-base", task);
        let student = run_of("eval-r2l", task);
        let fine_tuned = run_of("eval-fine-tune", task);
        assert_eq!(base["run_id"], "base");
        assert_eq!(student["run_id"], "r2l");
        assert_eq!(fine_tuned["run_id"], "fine-tune");
        assert_eq!(
            base["model"]["id"],
            format!("base-{}-q8_0", &base_weights[..12]).as_str()
        );
        // The served student is the trained checkpoint; weights an earlier row served (the
        // single-agent student, when its records equal the team's) keep that row's id.
        let label = if single_weights == weights {
            "single-agent"
        } else {
            "r2l"
        };
        assert_eq!(
            student["model"]["id"],
            format!("{label}-{}-q8_0", &weights[..12]).as_str(),
            "the served student is the trained checkpoint"
        );
        if label == "single-agent" {
            assert_eq!(student["cached"], student["n"], "answered from the cache");
        }
        assert_eq!(
            fine_tuned["model"]["id"],
            format!("fine-tune-{}-q8_0", &fine_tune_weights[..12]).as_str()
        );
        assert_eq!(base["n"], 2);
        assert_eq!(base["dataset"]["sha256"], student["dataset"]["sha256"]);
        assert_eq!(base["task"]["version"], student["task"]["version"]);
        for row in ["r2l", "fine-tune"] {
            let comparison = json_file(&out.join("compare").join(row).join(format!("{task}.json")));
            assert_eq!(comparison["comparison"]["aligned"], 2, "{comparison}");
            assert!(comparison["verdict"]
                .as_str()
                .is_some_and(|v| !v.is_empty()));
        }
    }
    let html = ok(std::fs::read_to_string(out.join("report/report.html")));
    assert!(
        html.contains("<svg") && html.contains("per-aspect F1"),
        "the report has its plots"
    );
    let summary = ok(std::fs::read_to_string(out.join("summary.md")));
    assert!(summary.contains("base → student"), "{summary}");
    let summary_json = json_file(&out.join("summary.json"));
    assert_eq!(summary_json["tasks"].as_array().map(Vec::len), Some(2));
    let rows: Vec<&str> = summary_json["rows"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["row"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        rows,
        [
            "teacher-a",
            "teacher-b",
            "teacher-c",
            "meta",
            "fine-tune",
            "single-agent",
            "fine-tune-budget",
            "r2l"
        ]
    );
    // Fine-tuning at the team's cost: the gold records the distillation's and the student's
    // training time pays for, at the fine-tune row's measured rate.
    let budget = &steps["gold-budget"]["outputs"]["budget"];
    let spent = steps["distill"]["wall_seconds"]
        .as_f64()
        .unwrap_or_default()
        + steps["train-r2l"]["wall_seconds"]
            .as_f64()
            .unwrap_or_default();
    assert!(
        (budget["seconds"].as_f64().unwrap_or_default() - spent).abs() < 1e-6,
        "{budget}"
    );
    assert_eq!(
        steps["gold-budget"]["outputs"]["sft_records"], budget["records"],
        "{budget}"
    );
    let budget_training = json_file(&out.join("train/fine-tune-budget/training.json"));
    assert_eq!(budget_training["hyperparameters"]["max_steps"], Value::Null);
    assert_eq!(
        budget_training["data"]["sha256"],
        sha256_of(&out.join("gold-budget/sft.jsonl")).as_str()
    );
    // Each agent is evaluated as itself: its model id is the agent's.
    let teacher = json_file(
        &out.join(
            steps["eval-teacher-c"]["outputs"]["runs"]["uit-visfd"]
                .as_str()
                .unwrap_or_default(),
        )
        .join("run.json"),
    );
    assert_eq!(teacher["model"]["id"], "c", "{teacher}");
    assert_eq!(teacher["run_id"], "teacher-c");
    // The single-agent ablation asked teacher a alone.
    let single = json_file(&out.join("distill-single-agent/distill.json"));
    assert!(single.to_string().contains("\"teachers\""), "{single}");
    assert!(
        summary.contains("The table") && summary.contains("fine-tune"),
        "{summary}"
    );
}

#[test]
fn reproduce_rejects_an_unknown_paper_listing_the_papers() {
    let work = ok(tempfile::tempdir());
    let output = ok(r2l()
        .args(["reproduce", "bert", "--quick", "--out"])
        .arg(work.path().join("out"))
        .output());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bert") && stderr.contains("r2l"),
        "{stderr}"
    );
    assert!(!work.path().join("out").exists(), "nothing ran");
}

#[test]
fn reproduce_rejects_a_bad_config_naming_the_field() {
    let work = ok(tempfile::tempdir());
    let config = work.path().join("reproduce.toml");
    ok(std::fs::write(&config, "[sft]\nlora_rnak = 8\n"));
    let output = ok(r2l()
        .args(["reproduce", "r2l", "--quick", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(work.path().join("out"))
        .output());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("lora_rnak") && stderr.contains("reproduce.toml"),
        "{stderr}"
    );
}
