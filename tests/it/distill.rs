//! `r2l distill` as a process: killed with SIGKILL mid-way and re-run, it ends with the files of
//! an uninterrupted run; its files load with Hugging Face `datasets`; bad input is a clear error;
//! and the default offline agents (the real default model) complete a run.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use chat::{ChatRequest, Reply, ScriptedServer};

use crate::support::{data_dir, json_of, r2l, run, RUNTIME};

/// Deterministic answers to R2L's prompts: `aspect` positive at detection, kept on revision.
pub fn teacher(aspect: &'static str) -> impl Fn(&ChatRequest, u32) -> Reply + Send + Sync {
    move |request, _| {
        let user = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == chat::Role::User)
            .map_or("", |m| m.content.as_str());
        let labels = format!("[{{\"aspect\": \"{aspect}\", \"polarity\": \"positive\"}}]");
        let text = if user.contains("Do not change the labels")
            || user.contains("The correct labels are:")
        {
            "The review praises it in so many words.".to_string()
        } else if user.contains("The other annotators:")
            || user.contains("The annotators' positions:")
        {
            format!("Rationale: The review supports this.\nLabels: {labels}")
        } else {
            labels
        };
        Reply::Delayed(Duration::from_millis(15), Box::new(Reply::Text(text)))
    }
}

pub fn agents_file(dir: &Path, servers: &[(&str, &str, &ScriptedServer)]) -> PathBuf {
    let text: String = servers
        .iter()
        .map(|(id, role, server)| {
            format!(
                "[[agents]]\nid = \"{id}\"\nrole = \"{role}\"\nendpoint = \"{}\"\nmodel = \"scripted\"\n\n",
                server.base_url()
            )
        })
        .collect();
    let path = dir.join("agents.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn distill_args(agents: &Path, out: &Path, cache: &Path, limit: &str) -> Vec<String> {
    [
        "distill",
        "--protocol",
        "r2l",
        "--task",
        "uit-visfd",
        "--split",
        "train",
        "--limit",
        limit,
        "--concurrency",
        "2",
        "--no-progress",
        "--rationalize",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        "--agents".to_string(),
        agents.display().to_string(),
        "--out".to_string(),
        out.display().to_string(),
        "--cache-dir".to_string(),
        cache.display().to_string(),
        "--data-dir".to_string(),
        data_dir().display().to_string(),
    ])
    .collect()
}

fn run_ok(args: &[String], home: &Path) -> Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&refs, home);
    assert!(
        output.status.success(),
        "r2l {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

const DATA_FILES: [&str; 4] = [
    "transcripts.jsonl",
    "sft.jsonl",
    "dpo.jsonl",
    "stepwise.jsonl",
];

#[test]
fn distill_killed_mid_way_and_rerun_ends_with_the_files_of_an_uninterrupted_run() {
    let servers: Vec<ScriptedServer> = ["BATTERY", "BATTERY", "CAMERA", "BATTERY"]
        .into_iter()
        .map(|aspect| {
            RUNTIME
                .block_on(ScriptedServer::start(teacher(aspect)))
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let agents = agents_file(
        home.path(),
        &[
            ("a", "teacher", &servers[0]),
            ("b", "teacher", &servers[1]),
            ("c", "teacher", &servers[2]),
            ("judge", "meta", &servers[3]),
        ],
    );
    let through = home.path().join("through");
    let output = run_ok(
        &distill_args(&agents, &through, &home.path().join("cache-a"), "24"),
        home.path(),
    );
    let summary = json_of(&output);
    assert_eq!(
        (summary["status"].as_str(), summary["n"].as_u64()),
        (Some("complete"), Some(24))
    );

    let killed = home.path().join("killed");
    let args = distill_args(&agents, &killed, &home.path().join("cache-b"), "24");
    let mut child = r2l()
        .args(&args)
        .env("R2L_HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    while read(&killed, "transcripts.jsonl").lines().count() < 5
        && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap_or_else(|e| panic!("SIGKILL: {e}"));
    let _ = child.wait();
    let partial = read(&killed, "transcripts.jsonl").lines().count();
    assert!((5..24).contains(&partial), "killed after {partial} samples");

    run_ok(&args, home.path());
    for name in DATA_FILES {
        assert_eq!(read(&killed, name), read(&through, name), "{name} differs");
    }
    let stats: serde_json::Value =
        serde_json::from_str(&read(&killed, "stats.json")).unwrap_or_default();
    for key in [
        "protocol",
        "task",
        "split",
        "n",
        "accepted",
        "rejected",
        "rationalized",
        "agreement_alpha",
        "consensus",
        "ledger",
        "failures",
        "wall_s",
    ] {
        assert!(
            stats.get(key).is_some(),
            "stats.json has no `{key}`: {stats}"
        );
    }
    assert_eq!(stats["n"], 24);
    assert!(
        stats["ledger"]["a"]["cache_hits"].as_u64().unwrap_or(0) > 0,
        "the re-run answered the killed run's calls from the cache: {stats}"
    );

    // The files load unchanged with Hugging Face `datasets`, with TRL's columns.
    let python = r2l_home().join("venv/bin/python");
    assert!(
        python.is_file(),
        "{} not found: run scripts/setup.sh",
        python.display()
    );
    let check = std::process::Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check_trl_files.py"))
        .arg(&through)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        check.status.success(),
        "the TRL-format check failed: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let counts: serde_json::Value =
        serde_json::from_slice(&check.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts["sft"], stats["records"]["sft"]);
    assert_eq!(counts["dpo"], stats["records"]["dpo"]);
    assert_eq!(counts["stepwise"], stats["records"]["stepwise"]);
    assert!(counts["sft"].as_u64().unwrap_or(0) > 0 && counts["dpo"].as_u64().unwrap_or(0) > 0);
}

fn r2l_home() -> PathBuf {
    std::env::var_os("R2L_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/r2l")
        })
}

#[test]
fn distill_rejects_bad_input_with_messages_that_say_what_and_where() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = home.path().join("out").display().to_string();
    let error_of = |args: &[&str]| {
        let output = run(args, home.path());
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    let message = error_of(&[
        "distill",
        "--protocol",
        "debat",
        "--task",
        "uit-visfd",
        "--out",
        &out,
    ]);
    assert!(
        message.contains("unknown protocol `debat`; valid: r2l, debate, agentark"),
        "{message}"
    );
    for (args, expected) in [
        (
            &["--protocol", "debate", "--task", "uit-visfd"][..],
            "the debate protocol judges final answers and needs a reasoning task",
        ),
        // Each protocol takes its own flags only (clap refuses the others), in both forms.
        (
            &["--protocol", "debate", "--task", "gsm8k", "--augment", "2"][..],
            "unexpected argument '--augment'",
        ),
        (
            &[
                "--protocol",
                "agentark",
                "--task",
                "gsm8k",
                "--consensus",
                "meta",
            ][..],
            "unexpected argument '--consensus'",
        ),
        (
            &[
                "--protocol=r2l",
                "--task",
                "uit-visfd",
                "--prompt-token-budget",
                "9",
            ][..],
            "unexpected argument '--prompt-token-budget'",
        ),
    ] {
        let mut full = vec!["distill", "--out", &out];
        full.extend_from_slice(args);
        let message = error_of(&full);
        assert!(message.contains(expected), "{args:?}: {message}");
    }
    let message = error_of(&["distill", "--task", "gsm8k", "--out", &out, "--no-progress"]);
    assert!(message.contains("needs an ABSA task"), "{message}");
    let agents = home.path().join("agents.toml");
    std::fs::write(&agents, "[[agents]]\nid = \"qwen\"\nendpoint = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\ntempreature = 0.2\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let agents_arg = agents.display().to_string();
    let message = error_of(&[
        "distill",
        "--task",
        "uit-visfd",
        "--agents",
        &agents_arg,
        "--out",
        &out,
    ]);
    assert!(
        message.contains("agents.toml: agent `qwen`: key `tempreature`: unknown key"),
        "{message}"
    );
    let message = error_of(&[
        "distill",
        "--task",
        "uit-visfd",
        "--consensus",
        "vote",
        "--out",
        &out,
    ]);
    assert!(
        message.contains("unknown consensus rule `vote`"),
        "{message}"
    );
}

#[test]
fn distill_help_lists_the_protocols_and_each_protocol_its_own_flags() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let help = |args: &[&str]| {
        let output = run(args, home.path());
        assert!(output.status.success(), "{args:?}");
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    let top = help(&["distill", "--help"]);
    for expected in ["r2l", "debate", "agentark", "--protocol PROTOCOL"] {
        assert!(top.contains(expected), "{expected}: {top}");
    }
    for (protocol, own, foreign) in [
        ("r2l", "--consensus", "--augment"),
        ("debate", "--prompt-token-budget", "--consensus"),
        ("agentark", "--augment", "--prompt-token-budget"),
    ] {
        let text = help(&["distill", protocol, "--help"]);
        assert!(
            text.contains(own) && text.contains("--task"),
            "{protocol}: {text}"
        );
        assert!(!text.contains(foreign), "{protocol}: {text}");
    }
}

#[test]
fn distill_with_the_default_offline_agents_runs_the_real_default_model() {
    let home = r2l_home();
    assert!(
        home.join("models/SmolLM2-135M-Instruct/config.json")
            .is_file(),
        "the default model is not set up: run scripts/setup.sh"
    );
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let args = |out: &str| -> Vec<String> {
        [
            "distill",
            "--task",
            "uit-visfd",
            "--limit",
            "1",
            "--no-progress",
            "--out",
            out,
            "--cache-dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            work.path().join("cache").display().to_string(),
            "--data-dir".to_string(),
            data_dir().display().to_string(),
        ])
        .collect()
    };
    let first = work.path().join("first").display().to_string();
    run_ok(&args(&first), &home);
    let stats: serde_json::Value =
        serde_json::from_str(&read(Path::new(&first), "stats.json")).unwrap_or_default();
    assert_eq!(stats["n"], 1, "{stats}");
    assert_eq!(
        stats["ledger"].as_object().map(|m| m.len()),
        Some(4),
        "three teachers and a meta-agent (R2L does not ask the student)"
    );
    let paid: u64 = ["strict", "thorough", "intuitive"]
        .iter()
        .map(|id| stats["ledger"][id]["calls"].as_u64().unwrap_or(0))
        .sum();
    assert!(paid >= 3, "every teacher was asked at least once: {stats}");
    assert!(
        stats["ledger"]["strict"]["completion_tokens"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    // The same run into a new directory: every call comes from the cache.
    let second = work.path().join("second").display().to_string();
    run_ok(&args(&second), &home);
    let again: serde_json::Value =
        serde_json::from_str(&read(Path::new(&second), "stats.json")).unwrap_or_default();
    let calls: u64 = again["ledger"]
        .as_object()
        .map(|m| m.values().map(|l| l["calls"].as_u64().unwrap_or(0)).sum())
        .unwrap_or(1);
    assert_eq!(calls, 0, "{again}");
    assert_eq!(
        read(Path::new(&first), "transcripts.jsonl"),
        read(Path::new(&second), "transcripts.jsonl")
    );
}

#[test]
fn distill_with_one_teacher_and_no_meta_asks_only_that_teacher_and_remembers_the_choice() {
    let servers: Vec<ScriptedServer> = ["BATTERY", "CAMERA", "SCREEN", "BATTERY"]
        .into_iter()
        .map(|aspect| {
            RUNTIME
                .block_on(ScriptedServer::start(teacher(aspect)))
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let agents = agents_file(
        home.path(),
        &[
            ("a", "teacher", &servers[0]),
            ("b", "teacher", &servers[1]),
            ("c", "teacher", &servers[2]),
            ("judge", "meta", &servers[3]),
        ],
    );
    let out = home.path().join("single");
    let cache = home.path().join("cache");
    let with = |extra: &[&str]| -> Vec<String> {
        let mut args = distill_args(&agents, &out, &cache, "4");
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    run_ok(&with(&["--teachers", "a", "--no-meta"]), home.path());
    let asked: Vec<u64> = servers.iter().map(ScriptedServer::requests).collect();
    assert!(asked[0] > 0, "teacher a was asked: {asked:?}");
    assert_eq!(&asked[1..], &[0, 0, 0], "only teacher a was asked");
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&out, "distill.json")).unwrap_or_default();
    assert_eq!(manifest["teachers"], serde_json::json!(["a"]), "{manifest}");
    assert_eq!(manifest["meta"], false, "{manifest}");
    assert_eq!(manifest["consensus"], "majority", "{manifest}");
    // One teacher under majority: the final labels are its labels.
    let first = read(&out, "transcripts.jsonl");
    assert!(first.lines().count() == 4 && first.contains("BATTERY"));

    // Resuming into the directory with another selection is refused, like other settings.
    for other in [
        &["--teachers", "b", "--no-meta"][..],
        &["--teachers", "a"][..],
    ] {
        let refs: Vec<String> = with(other);
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        let output = run(&refs, home.path());
        assert_eq!(output.status.code(), Some(2), "{other:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("teachers") || stderr.contains("meta"),
            "{stderr}"
        );
    }

    // An unknown id fails before any call and lists the teachers.
    let refs = with(&["--teachers", "a,z"]);
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    let output = run(&refs, home.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--teachers: `z` is not a teacher; the teachers of ")
            && stderr.contains("agents.toml: a, b, c"),
        "{stderr}"
    );
    assert_eq!(servers[0].requests(), asked[0], "no call after a bad id");
}
