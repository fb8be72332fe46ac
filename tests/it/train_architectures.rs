//! `r2l train` on the papers' student architectures, end to end: tiny random-weight Qwen3,
//! Mistral (sliding window) and Gemma 3 checkpoints written by transformers
//! (`tests/fixtures/architectures/`) are fine-tuned by `r2l train sft` (full weights) and
//! `r2l train dpo` (LoRA, merged on export); each SFT student is served by `r2l serve` (mistral.rs,
//! F32), whose greedy reply must equal the trainer's own.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::support::r2l;
use crate::train::{greedy_reply, run_ok, serve, trainer_reply, ONE_AT_A_TIME};

const ARCHITECTURES: [&str; 3] = ["qwen3", "mistral", "gemma3"];

/// A question in the fixtures' 60-word vocabulary.
const QUESTION: &str = "the cat sat on the mat";

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/architectures")
        .join(name)
}

/// SFT and DPO records over the fixtures' vocabulary.
fn write_data(dir: &Path) -> (PathBuf, PathBuf) {
    let questions = [
        "the cat sat on the mat",
        "the dog sat on a red box",
        "a big hotel on the river",
        "the food was cold",
        "the staff was kind",
        "the room was quiet",
    ];
    let (mut sft, mut dpo) = (Vec::new(), Vec::new());
    for (i, q) in questions.iter().enumerate() {
        let (good, bad) = if i % 2 == 0 {
            ("yes good one", "no bad two")
        } else {
            ("no bad two", "yes good one")
        };
        sft.push(
            json!({"id": format!("s{i}"), "messages": [
                {"role": "user", "content": q}, {"role": "assistant", "content": good}]})
            .to_string(),
        );
        dpo.push(
            json!({"id": format!("d{i}"), "prompt": [{"role": "user", "content": q}],
                   "chosen": [{"role": "assistant", "content": good}],
                   "rejected": [{"role": "assistant", "content": bad}]})
            .to_string(),
        );
    }
    let (sft_path, dpo_path) = (dir.join("sft.jsonl"), dir.join("dpo.jsonl"));
    ok(std::fs::write(&sft_path, sft.join("\n") + "\n"));
    ok(std::fs::write(&dpo_path, dpo.join("\n") + "\n"));
    (sft_path, dpo_path)
}

fn train(kind: &str, base: &Path, data: &Path, out: &Path, extra: &[&str]) {
    let mut command = r2l();
    command
        .args([
            "train",
            kind,
            "--no-progress",
            "--batch",
            "2",
            "--lr",
            "1e-2",
        ])
        .args(["--max-steps", "3", "--seed", "1", "--base"])
        .arg(base)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra);
    let report = run_ok(command);
    assert_eq!(report["steps"], 3, "{report}");
}

#[test]
fn each_architecture_is_trained_exported_and_served_with_the_trainer_s_greedy_reply() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = ok(tempfile::tempdir());
    let (sft, dpo) = write_data(tmp.path());
    for name in ARCHITECTURES {
        let base = fixture(name);
        let before = trainer_reply(&base, QUESTION, 8);
        let full = tmp.path().join(format!("{name}-sft"));
        train("sft", &base, &sft, &full, &["--full", "--max-length", "64"]);
        let lora = tmp.path().join(format!("{name}-dpo"));
        let dpo_args = [
            "--lora-rank",
            "4",
            "--max-length",
            "64",
            "--max-prompt-length",
            "32",
        ];
        train("dpo", &base, &dpo, &lora, &dpo_args);
        let (after_sft, after_dpo) = (
            trainer_reply(&full, QUESTION, 8),
            trainer_reply(&lora, QUESTION, 8),
        );
        eprintln!("{name}: base {before:?}, sft {after_sft:?}, dpo {after_dpo:?}");
        assert_ne!(after_sft, before, "{name}: SFT changed nothing");
        let server = serve(&full, "none");
        let served = greedy_reply(&server, &format!("{name}-sft"), QUESTION, 8);
        assert_eq!(served, after_sft, "{name}: r2l serve's greedy reply");
    }
}
