//! `r2l train --backend trl` where TRL cannot run (CI has no torch): each failure is a clear
//! error before or after TRL. TRL itself runs in `benchmarks/train/trl_backend.sh`. The failing
//! run uses a stand-in interpreter script (a fake of the one external program that cannot run
//! here), which passes the environment check and then fails the way a crashed TRL run does.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use crate::support::r2l;

/// The committed R2L quick SFT records (real distilled data).
const SFT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/results/reproduce/r2l-quick/distill/sft.jsonl"
);

fn train(args: &[&str], out: &Path) -> Output {
    r2l()
        .args(["train", "sft", "--data", SFT, "--base"])
        .arg(out.join("base"))
        .arg("--out")
        .arg(out.join("student"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A stand-in `python`: the import check passes (prints a version); `-m trl.cli.main` prints
/// what TRL prints, then fails.
fn failing_python(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("python");
    std::fs::write(
        &path,
        "#!/bin/sh\nif [ \"$1\" = \"-c\" ]; then echo 1.0.0; exit 0; fi\necho \"{'loss': '1.174', 'grad_norm': '0.71', 'epoch': '0.5'}\"\necho 'RuntimeError: CUDA out of memory' >&2\nexit 1\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
    path
}

#[test]
fn the_trl_backend_explains_what_is_missing_or_what_failed() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.path().join("base")).unwrap_or_else(|e| panic!("{e}"));

    // An unknown backend lists the two.
    let output = train(&["--backend", "tensorflow"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("[possible values: candle, trl]"),
        "{}",
        stderr(&output)
    );

    // An interpreter that does not exist.
    let output = train(
        &["--backend", "trl", "--python", "/nonexistent/python3"],
        dir.path(),
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--python /nonexistent/python3: cannot run it"),
        "{}",
        stderr(&output)
    );

    // A Python without the training stack (no torch in CI) names what is missing.
    let output = train(&["--backend", "trl", "--python", "python3"], dir.path());
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("the TRL backend needs trl, transformers, peft, torch, accelerate")
            && message.contains("missing: "),
        "{message}"
    );

    // A TRL run that fails: its last lines are quoted, what it logged is kept, and the records
    // it was given are TRL's conversational prompt/completion.
    let python = failing_python(dir.path());
    let python = python.display().to_string();
    let output = train(&["--backend", "trl", "--python", &python], dir.path());
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("TRL failed") && message.contains("RuntimeError: CUDA out of memory"),
        "{message}"
    );
    assert!(message.contains("run the same command again"), "{message}");
    let student = dir.path().join("student");
    let log = std::fs::read_to_string(student.join("train_log.jsonl")).unwrap_or_default();
    let logged: serde_json::Value = serde_json::from_str(log.trim()).unwrap_or_default();
    assert_eq!(
        logged,
        serde_json::json!({"loss": 1.174, "grad_norm": 0.71, "epoch": 0.5, "step": 1})
    );
    let staged = std::fs::read_to_string(student.join("trl/data/train.jsonl")).unwrap_or_default();
    let first: serde_json::Value =
        serde_json::from_str(staged.lines().next().unwrap_or_default()).unwrap_or_default();
    assert_eq!(first["prompt"][1]["role"], "user", "{first}");
    assert_eq!(first["completion"][0]["role"], "assistant", "{first}");
    let training: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(student.join("training.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(training["backend"], "trl");
    assert_eq!(training["examples"], 4);
    let command: Vec<&str> = training["trl_command"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for expected in [
        "trl sft",
        "--use_peft",
        "--lora_r",
        "16",
        "--learning_rate",
        "0.0002",
    ] {
        assert!(command.contains(&expected), "{command:?} lacks {expected}");
    }

    // A TRL run starts over: --resume is refused.
    let output = train(
        &["--backend", "trl", "--python", &python, "--resume"],
        dir.path(),
    );
    assert!(
        stderr(&output).contains("--resume: a TRL run starts over"),
        "{}",
        stderr(&output)
    );
}
