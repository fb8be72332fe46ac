//! `r2l train` with the real default model: the trainer's forward pass against mistral.rs on the
//! same prompt, a trained checkpoint served by `r2l serve` (greedy answers equal the trainer's
//! own, with a transformers 5.x config too) and evaluated by `r2l eval --local`, Ctrl-C and
//! `--resume` against an uninterrupted run, and bad input.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use checkpoint::Turn;
use distill::student::{generate_greedy, Base, KvCache, Llama, RESUME_DIR, TRAIN_LOG_FILE};
use serde_json::{json, Value};
use serve::engine::{Engine, ModelSpec};

use crate::support::{r2l, RUNTIME};

/// Model-sized work (training, loading engines) runs one test at a time.
pub static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn r2l_home() -> PathBuf {
    std::env::var_os("R2L_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/r2l")
        })
}

pub fn default_dir() -> PathBuf {
    let dir = r2l_home().join("models/SmolLM2-135M-Instruct");
    assert!(
        dir.join("config.json").is_file(),
        "the default model is not set up at {}: run scripts/setup.sh",
        dir.display()
    );
    dir
}

const QUESTION: &str =
    "Is the review 'The room was clean and the staff were kind.' positive or negative?";

/// The trainer's greedy answer (decoded, special tokens dropped) to `QUESTION`.
fn trainer_answer(dir: &Path, max_new: usize) -> String {
    trainer_reply(dir, QUESTION, max_new)
}

/// The trainer's greedy reply (decoded, special tokens dropped) to `question` as a user turn.
pub fn trainer_reply(dir: &Path, question: &str, max_new: usize) -> String {
    let base = ok(Base::open(dir));
    let template = base
        .template
        .as_ref()
        .unwrap_or_else(|| panic!("no chat template"));
    let text = ok(template.render(
        &[Turn {
            role: "user",
            content: question,
        }],
        true,
    ));
    let ids = ok(base.tokenizer.encode(&text)).ids;
    let (model, _) = ok(Llama::load(dir, None, 0));
    let answer = ok(generate_greedy(&model, &ids, max_new, &base.stop_ids()));
    ok(base.tokenizer.decode(&answer, true))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| {
            if x > bv {
                (i, x)
            } else {
                (bi, bv)
            }
        })
        .0
}

#[test]
fn trainer_logits_match_mistral_rs_on_the_default_model() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = default_dir();
    let base = ok(Base::open(&dir));
    let template = base
        .template
        .as_ref()
        .unwrap_or_else(|| panic!("no chat template"));
    let text = ok(template.render(
        &[Turn {
            role: "user",
            content: QUESTION,
        }],
        true,
    ));
    let ids = ok(base.tokenizer.encode(&text)).ids;
    let (model, _) = ok(Llama::load(&dir, None, 0));
    let all: Vec<Vec<f32>> = ok(ok(model.forward(&ids, &mut KvCache::new())).to_vec2());
    drop(model);
    // The trainer's log-probability of each prompt token after the first.
    let trainer_logprobs: Vec<f32> = all
        .iter()
        .zip(&ids[1..])
        .map(|(row, &id)| {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let sum: f64 = row.iter().map(|&v| f64::from(v - max).exp()).sum();
            row[id as usize] - (max + sum.ln() as f32)
        })
        .collect();
    let logprob_diffs = std::cell::RefCell::new(Vec::new());
    // mistral.rs's rows are the last positions of the prompt; compare them with ours, and the
    // served log-probabilities (`prompt_logprobs`, what echo returns) with the trainer's.
    let engine_logits = |spec: ModelSpec| -> (Vec<f32>, Vec<f32>, usize) {
        let (rows, logprobs) = RUNTIME.block_on(async {
            let engine = ok(Engine::load(&spec).await);
            let rows = ok(engine.prompt_logits(ids.clone()).await);
            (rows, ok(engine.prompt_logprobs(&ids, 0).await))
        });
        assert!(!rows.is_empty() && rows.len() <= all.len());
        assert!(logprobs[0].is_none() && logprobs.len() == ids.len());
        let served: Vec<f32> = logprobs[1..]
            .iter()
            .map(|c| c.as_ref().map_or(f32::NAN, |c| c.logprob))
            .collect();
        logprob_diffs
            .borrow_mut()
            .push(max_abs_diff(&served, &trainer_logprobs));
        let first = all.len() - rows.len();
        let theirs: Vec<f32> = rows.concat();
        let ours: Vec<f32> = all[first..].concat();
        (ours, theirs, rows.len())
    };
    let ours = all[all.len() - 1].clone();
    // mistral.rs on the same F32 checkpoint: only the arithmetic order differs.
    let (ours_f32, f32_rows, f32_positions) = engine_logits(ModelSpec::new("f32", &dir, None));
    let f32_diff = max_abs_diff(&ours_f32, &f32_rows);
    let f32_logits = f32_rows[f32_rows.len() - ours.len()..].to_vec();
    // mistral.rs on the Q4_1 GGUF it was converted from (activations quantized too).
    let gguf = r2l_home().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let (ours_q, q_rows, q_positions) = engine_logits(ModelSpec::new("gguf", gguf, None));
    let q_diff = max_abs_diff(&ours_q, &q_rows);
    let q_logits = q_rows[q_rows.len() - ours.len()..].to_vec();
    let spread = ours.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v))
        - ours.iter().fold(f32::INFINITY, |m, &v| m.min(v));
    eprintln!(
        "logits, prompt of {} tokens: max |trainer − mistral.rs F32| = {f32_diff:.2e} over \
         {f32_positions} positions, max |trainer − mistral.rs Q4_1 GGUF| = {q_diff:.3} over \
         {q_positions} positions (logit range at the last position {spread:.1})",
        ids.len()
    );
    assert!(f32_diff < 1e-3, "F32 logits differ by {f32_diff}");
    let diffs = logprob_diffs.into_inner();
    eprintln!(
        "prompt log-probabilities: max |trainer − served| = {:.2e} (F32), {:.3} (Q4_1 GGUF)",
        diffs[0], diffs[1]
    );
    assert!(
        diffs[0] < 1e-3,
        "F32 log-probabilities differ by {}",
        diffs[0]
    );
    assert!(
        diffs[1] < 0.1 * spread,
        "GGUF log-probabilities differ by {}",
        diffs[1]
    );
    let vocab = ours.len();
    let agree = ours_q
        .chunks(vocab)
        .zip(q_rows.chunks(vocab))
        .filter(|(a, b)| argmax(a) == argmax(b))
        .count();
    let last_q_diff = max_abs_diff(&ours, &q_logits);
    eprintln!(
        "Q4_1 GGUF: last position max |diff| {last_q_diff:.3}; greedy token agrees at {agree} of {q_positions} positions"
    );
    assert!(q_diff < 0.1 * spread, "GGUF logits differ by {q_diff}");
    assert!(
        agree * 10 >= q_positions * 8,
        "greedy tokens agree at {agree} of {q_positions}"
    );
    assert_eq!(argmax(&ours), argmax(&f32_logits));
    assert_eq!(argmax(&ours), argmax(&q_logits));
}

/// Eight SFT records in the distill output's shape.
fn sft_data(dir: &Path) -> PathBuf {
    let reviews = [
        ("The room was spotless and the staff were kind.", "positive"),
        ("Cold food and a slow waiter.", "negative"),
        ("The price is high but the view is lovely.", "neutral"),
        ("Battery lasts two days, very happy.", "positive"),
        ("The screen broke after a week.", "negative"),
        ("Fast delivery, careful packaging.", "positive"),
        ("The camera is ordinary, nothing special.", "neutral"),
        ("The speaker crackles, very disappointed.", "negative"),
    ];
    let lines: Vec<String> = reviews
        .iter()
        .enumerate()
        .map(|(i, (review, label))| {
            json!({"messages": [
                {"role": "system", "content": "Label the sentiment of the review."},
                {"role": "user", "content": review},
                {"role": "assistant", "content": format!("The sentiment is {label}.")},
            ], "id": format!("r{i}")})
            .to_string()
        })
        .collect();
    let path = dir.join("sft.jsonl");
    ok(std::fs::write(&path, lines.join("\n") + "\n"));
    path
}

/// `r2l train sft` on the default model with LoRA (dropout on) for `steps` steps.
fn train_command(data: &Path, out: &Path, steps: &str, extra: &[&str]) -> Command {
    let mut command = r2l();
    command
        .args([
            "train",
            "sft",
            "--base",
            "default",
            "--no-progress",
            "--batch",
            "2",
            "--lr",
            "1e-3",
        ])
        .args(["--max-steps", steps, "--seed", "3"])
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("R2L_HOME", r2l_home());
    command
}

pub fn run_ok(mut command: Command) -> Value {
    let output = ok(command.output());
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    ok(serde_json::from_slice(&output.stdout))
}

/// A running `r2l serve` on an ephemeral port, killed on drop.
pub struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(model: &Path, isq: &str) -> Server {
    let mut child = ok(r2l()
        .args(["serve", "--port", "0", "--isq", isq, "--model"])
        .arg(model)
        .env("R2L_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn());
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on ") {
                let _ = sender.send(line[at + "listening on ".len()..].trim().to_string());
            }
        }
    });
    let base = ok(receiver.recv_timeout(Duration::from_secs(120)));
    let server = Server { child, base };
    let started = Instant::now();
    loop {
        let url = format!("{}/ready", server.base);
        let ready =
            RUNTIME.block_on(async { reqwest::get(&url).await.ok().map(|r| r.status().as_u16()) });
        if ready == Some(200) {
            return server;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "not ready after 180 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn greedy_answer(server: &Server, model: &str, max_tokens: usize) -> String {
    greedy_reply(server, model, QUESTION, max_tokens)
}

/// The served greedy reply to `question` as a user turn.
pub fn greedy_reply(server: &Server, model: &str, question: &str, max_tokens: usize) -> String {
    let body = json!({"model": model, "messages": [{"role": "user", "content": question}],
                      "temperature": 0, "max_tokens": max_tokens});
    let url = format!("{}/v1/chat/completions", server.base);
    let (status, value) = RUNTIME.block_on(async {
        let response = ok(reqwest::Client::new().post(&url).json(&body).send().await);
        let status = response.status().as_u16();
        (status, ok(response.json::<Value>().await))
    });
    assert_eq!(status, 200, "{value}");
    value["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_trained_checkpoint_is_served_and_evaluated_unchanged() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = ok(tempfile::tempdir());
    let data = sft_data(tmp.path());
    let out = tmp.path().join("student");
    let report = run_ok(train_command(&data, &out, "4", &[]));
    assert_eq!(report["steps"], 4);
    let trainer = trainer_answer(&out, 24);
    assert!(!trainer.is_empty());
    {
        let server = serve(&out, "none");
        let served = greedy_answer(&server, "student", 24);
        eprintln!(
            "greedy answer, trainer: {trainer:?}\ngreedy answer, r2l serve (F32): {served:?}"
        );
        assert_eq!(
            served, trainer,
            "r2l serve's greedy answer differs from the trainer's"
        );
    }
    {
        let server = serve(&out, "q8_0");
        let served = greedy_answer(&server, "student", 24);
        eprintln!("greedy answer, r2l serve (ISQ Q8_0): {served:?}");
        assert!(!served.is_empty());
    }
    // The same checkpoint as transformers 5.x would save it: rope_theta inside rope_parameters.
    let five = tmp.path().join("student5");
    ok(std::fs::create_dir_all(&five));
    for entry in ok(std::fs::read_dir(&out)) {
        let entry = ok(entry);
        if entry.path().is_file() {
            ok(std::fs::copy(entry.path(), five.join(entry.file_name())));
        }
    }
    let mut config: Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(
        five.join("config.json"),
    ))));
    let theta = config["rope_theta"].clone();
    let map = config
        .as_object_mut()
        .unwrap_or_else(|| panic!("config is no object"));
    map.remove("rope_theta");
    map.remove("torch_dtype");
    map.insert("dtype".into(), json!("float32"));
    map.insert(
        "rope_parameters".into(),
        json!({"rope_theta": theta, "rope_type": "default"}),
    );
    ok(checkpoint::write_json(&five.join("config.json"), &config));
    {
        let server = serve(&five, "none");
        assert_eq!(greedy_answer(&server, "student5", 24), trainer);
    }
    assert_eq!(trainer_answer(&five, 24), trainer);
    // r2l eval --local loads it too.
    let runs = tmp.path().join("runs");
    let output = ok(r2l()
        .args([
            "eval",
            "--task",
            "uit-visfd",
            "--limit",
            "1",
            "--no-cache",
            "--local",
        ])
        .arg(&out)
        .arg("--out")
        .arg(&runs)
        .env("R2L_HOME", r2l_home())
        .output());
    assert!(
        output.status.success(),
        "r2l eval --local: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn ctrl_c_saves_and_resume_equals_an_uninterrupted_run() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = ok(tempfile::tempdir());
    let data = sft_data(tmp.path());
    let whole = tmp.path().join("whole");
    run_ok(train_command(&data, &whole, "6", &[]));

    let parts = tmp.path().join("parts");
    let mut child = ok(train_command(&data, &parts, "6", &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn());
    let log = parts.join(TRAIN_LOG_FILE);
    let started = Instant::now();
    while std::fs::read_to_string(&log)
        .map(|t| t.lines().count())
        .unwrap_or(0)
        < 1
    {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no step logged"
        );
        assert!(
            ok(child.try_wait()).is_none(),
            "the run ended before a step was logged"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert_eq!(
        ok(Command::new("kill").args(["-INT", &pid]).status()).code(),
        Some(0)
    );
    let output = ok(child.wait_with_output());
    let report: Value = ok(serde_json::from_slice(&output.stdout));
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["interrupted"], true);
    let stopped_at = report["steps"].as_u64().unwrap_or_default();
    assert!((1..6).contains(&stopped_at), "stopped at {stopped_at}");
    assert!(parts.join(RESUME_DIR).join("state.json").is_file());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--resume"));

    let resumed = run_ok(train_command(&data, &parts, "6", &["--resume"]));
    assert_eq!(resumed["steps"], 6);
    let a = ok(std::fs::read(whole.join("model.safetensors")));
    let b = ok(std::fs::read(parts.join("model.safetensors")));
    eprintln!(
        "interrupted at step {stopped_at} of 6, resumed: weights equal = {}",
        a == b
    );
    assert!(
        a == b,
        "the resumed run's weights differ from the uninterrupted run's"
    );
}

#[test]
fn bad_training_input_exits_2_naming_file_and_line() {
    let tmp = ok(tempfile::tempdir());
    let data = tmp.path().join("bad.jsonl");
    let good = json!({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]});
    let bad = json!({"messages": [{"role": "user", "content": "hi"}]});
    ok(std::fs::write(&data, format!("{good}\n{bad}\n")));
    let output = ok(r2l()
        .args([
            "train",
            "sft",
            "--base",
            "default",
            "--no-progress",
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .env("R2L_HOME", r2l_home())
        .output());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.jsonl:2") && stderr.contains("no assistant turn"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let output = ok(r2l()
        .args(["train", "dpo", "--base"])
        .arg(tmp.path())
        .args(["--no-progress", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .output());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("config.json"), "{stderr}");
}
