//! `r2l reproduce debate` and `r2l reproduce agentark` at tiny size: the real default model as
//! base and students, scripted teachers on 127.0.0.1 that solve GSM8K questions (right or off by
//! one), every row of the paper's table present, Ctrl-C during the first student's training, a
//! re-run that finishes the table, and one that skips every step.

use std::path::Path;

use chat::{ChatRequest, Reply, ScriptedServer};
use serde_json::Value;

use crate::distill_reasoning::{agents_file, questions};
use crate::reproduce::interrupt_once_logged;
use crate::support::{data_dir, r2l, RUNTIME};
use crate::train::{default_dir, ONE_AT_A_TIME};

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// A scripted teacher that knows the first `limit` GSM8K train and test questions.
fn solver(wrong: bool, limit: usize) -> impl Fn(&ChatRequest, u32) -> Reply + Send + Sync {
    crate::distill_reasoning::solver(wrong, questions(&["train", "test"], limit))
}

fn json_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ok(serde_json::from_str(&text))
}

/// Runs `r2l reproduce PAPER --quick` with `config` (TOML) in `work` three times: Ctrl-C once
/// the first student's training (`train/<first_student>`) has logged a step, a re-run that
/// finishes what was left, and a last run that skips every step. Returns the summary.
fn reproduce_interrupted_then_rerun(
    paper: &str,
    work: &Path,
    config: &str,
    first_student: &str,
) -> Value {
    let config_file = work.join("reproduce.toml");
    ok(std::fs::write(&config_file, config));
    let command = || {
        let mut command = r2l();
        command
            .args(["reproduce", paper, "--quick", "--config"])
            .arg(&config_file)
            .arg("--out")
            .arg(work.join("out"))
            .arg("--data-dir")
            .arg(data_dir())
            .env("R2L_HOME", work.join("home"));
        command
    };
    let train_log = work
        .join("out/train")
        .join(first_student)
        .join(distill::student::TRAIN_LOG_FILE);
    let stderr = interrupt_once_logged(command(), &train_log);
    assert!(
        stderr.contains("interrupted during r2l "),
        "{paper}: {stderr}"
    );
    let run = || ok(command().output());
    let first = run();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{paper}: {stderr}");
    assert!(
        stderr.contains("eval-base: unchanged since it finished"),
        "{paper}: the re-run redid the base: {stderr}"
    );
    let state = json_file(&work.join("out/reproduce.json"));
    let steps: Vec<String> = state["steps"]
        .as_object()
        .map(|steps| steps.keys().cloned().collect())
        .unwrap_or_default();
    let second = run();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{paper}: {stderr}");
    for step in steps.iter().filter(|s| *s != "compare" && *s != "report") {
        assert!(
            stderr.contains(&format!("{step}: unchanged since it finished")),
            "{paper}: {step} ran again: {stderr}"
        );
    }
    let summary = json_file(&work.join("out/summary.json"));
    let markdown = ok(std::fs::read_to_string(work.join("out/summary.md")));
    assert!(markdown.contains("The table"), "{markdown}");
    assert!(
        ok(std::fs::read_to_string(work.join("out/report/report.html"))).contains("<svg"),
        "the report has its plots"
    );
    summary
}

fn rows(summary: &Value, key: &str) -> Vec<String> {
    summary[key]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r["row"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The tiny sizes both papers run at: 2 evaluated GSM8K test questions, 3 distilled train
/// questions, a few training steps.
fn tiny_config(agents: &Path, extra: &str) -> String {
    format!(
        "base = \"{}\"\n[eval]\nlimit = 2\nside_limit = 2\n[distill]\nlimit = 3\nrounds = 1\nagents = \"{}\"\n\
         [sft]\nmax_steps = 3\nbatch = 1\n{extra}",
        default_dir().display(),
        agents.display()
    )
}

#[test]
fn reproduce_debate_builds_every_row_of_the_table_and_skips_them_on_a_rerun() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let work = ok(tempfile::tempdir());
    let start = |wrong| ok(RUNTIME.block_on(ScriptedServer::start(solver(wrong, 3))));
    let (right, wrong, judge, student) = (start(false), start(true), start(false), start(true));
    let agents = agents_file(
        work.path(),
        &[
            ("a", "teacher", &right),
            ("b", "teacher", &wrong),
            ("judge", "meta", &judge),
            ("s", "student", &student),
        ],
    );
    let summary = reproduce_interrupted_then_rerun(
        "debate",
        work.path(),
        &tiny_config(&agents, "[tdpo]\nmax_steps = 2\nbatch = 1\n"),
        "static",
    );
    assert_eq!(rows(&summary, "rows"), ["static", "dr-sft", "dr-tdpo"]);
    assert_eq!(
        rows(&summary, "against_student"),
        ["base", "static", "dr-sft"]
    );
    assert_eq!(summary["student_row"], "dr-tdpo");
    let students: Vec<&str> = summary["students"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["row"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(students, ["static", "dr-sft", "dr-tdpo"]);
    // The static row trains on the teachers' correct round-0 answers only.
    let static_records = ok(std::fs::read_to_string(
        work.path().join("out/distill").join(distill::STATIC_FILE),
    ));
    assert!(
        static_records.lines().count() >= 1 && static_records.lines().count() <= 3,
        "{static_records}"
    );
    let tdpo = json_file(&work.path().join("out/train/dr-tdpo/training.json"));
    assert_eq!(tdpo["hyperparameters"]["lr"], 5e-6, "{tdpo}");
}

#[test]
fn reproduce_agentark_scores_the_team_at_test_time_beside_the_students() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let work = ok(tempfile::tempdir());
    let start = |wrong| ok(RUNTIME.block_on(ScriptedServer::start(solver(wrong, 3))));
    let (a, b, c, aggregator) = (start(false), start(true), start(false), start(false));
    let agents = agents_file(
        work.path(),
        &[
            ("a", "teacher", &a),
            ("b", "teacher", &b),
            ("c", "teacher", &c),
            ("aggregator", "meta", &aggregator),
        ],
    );
    let summary = reproduce_interrupted_then_rerun(
        "agentark",
        work.path(),
        &tiny_config(
            &agents,
            "[prm]\nmax_steps = 2\nbatch = 1\n\
             [rl]\nlimit = 1\nmax_steps = 1\ngroup = 2\nmax_new_tokens = 16\n",
        )
        .replace("rounds = 1\n", "rounds = 1\naugment = 1\n"),
        "r-sft",
    );
    assert_eq!(
        rows(&summary, "rows"),
        ["debate", "r-sft", "r-sft-aug", "pad"]
    );
    assert_eq!(summary["student_row"], "r-sft");
    // PAD: a PRM on the debate's stepwise rows (one right and one wrong teacher make them
    // mixed), then RL of the R-SFT student rewarded by it.
    let out = work.path().join("out");
    assert!(out
        .join("train/prm")
        .join(distill::student::PRM_HEAD_FILE)
        .is_file());
    let pad = json_file(&out.join("train/pad/training.json"));
    let grpo = &pad["hyperparameters"]["grpo"];
    assert!(
        grpo["prm"]
            .as_str()
            .is_some_and(|p| p.ends_with("train/prm")),
        "{pad}"
    );
    assert_eq!(
        (grpo["group"].as_u64(), pad["steps"].as_u64()),
        (Some(2), Some(1))
    );
    let r_sft = json_file(&out.join("train/r-sft/training.json"));
    assert!(
        pad["base"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("train/r-sft")),
        "RL starts from the R-SFT student: {pad} {r_sft}"
    );
    let costs = summary["costs"].as_array().cloned().unwrap_or_default();
    let cost = |row: &str| {
        costs
            .iter()
            .find(|c| c["row"] == row)
            .unwrap_or_else(|| panic!("no cost of {row}: {costs:?}"))
            .clone()
    };
    // The team spends several calls per question; a student one.
    assert!(
        cost("debate")["calls_per_question"].as_f64().unwrap_or(0.0) >= 4.0,
        "{costs:?}"
    );
    assert_eq!(cost("r-sft")["calls_per_question"], 1.0);
    // The team's row is scored on the same test questions as the base.
    let debate_vs_base = summary["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["row"] == "debate"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(debate_vs_base["tasks"][0]["comparison"]["aligned"], 2);
    // With two right teachers of three and a right aggregator, the team is right on both.
    assert_eq!(
        debate_vs_base["tasks"][0]["estimates"][0][2]["value"], 1.0,
        "{debate_vs_base}"
    );
}
