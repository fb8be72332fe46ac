//! `distill::student::train` end to end: on a tiny random checkpoint written here (word-level
//! tokenizer, ChatML template) for the run mechanics, and on the real default model for the
//! overfitting check.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use checkpoint::Architecture;
use distill::student::{
    generate_greedy, random_weights, sft_loss, tiny_config, train, Base, Llama, LoraConfig,
    ObjectiveKind, Packed, TrainOptions, Tuning, LORA_MODULES, REFERENCE_FILE, RESUME_DIR,
    TRAINING_FILE, TRAIN_LOG_FILE,
};
use serde_json::{json, Value};

/// Training runs on the real model take GBs: one at a time.
pub static REAL_MODEL: Mutex<()> = Mutex::new(());

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// The words of the tiny vocabulary after the three special tokens and the three roles.
const WORDS: [&str; 34] = [
    "the",
    "food",
    "was",
    "good",
    "bad",
    "service",
    "slow",
    "fast",
    "price",
    "high",
    "low",
    "positive",
    "negative",
    "neutral",
    "is",
    "what",
    "sentiment",
    "of",
    "review",
    "answer",
    "great",
    "terrible",
    "room",
    "clean",
    "dirty",
    "staff",
    "kind",
    "rude",
    "and",
    "but",
    "very",
    "not",
    "a",
    "label",
];

/// ChatML without a default system turn.
const TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Writes a tiny Llama checkpoint (the tiny config, vocabulary 40) into `dir`.
pub fn tiny_checkpoint(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    let cfg = tiny_config(Architecture::Llama);
    let mut config = cfg.to_model_config();
    config.eos_token_id = Some(checkpoint::TokenIds::One(1));
    ok(config.write(dir));
    ok(checkpoint::save_weights(
        dir,
        &ok(random_weights(&cfg, 3, 0.3)),
    ));
    let specials = ["<|im_start|>", "<|im_end|>", "[UNK]"];
    let mut vocab = serde_json::Map::new();
    for (i, token) in specials
        .iter()
        .chain(["system", "user", "assistant"].iter())
        .chain(WORDS.iter())
        .enumerate()
    {
        vocab.insert((*token).to_string(), json!(i));
    }
    assert_eq!(vocab.len(), cfg.vocab_size);
    let added: Vec<Value> = specials
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
    });
    ok(checkpoint::write_json(
        &dir.join("tokenizer.json"),
        &tokenizer,
    ));
    ok(checkpoint::write_json(
        &dir.join("tokenizer_config.json"),
        &json!({"chat_template": TEMPLATE, "eos_token": "<|im_end|>"}),
    ));
}

fn sft_line(review: &str, answer: &str) -> String {
    json!({"messages": [
        {"role": "system", "content": "label the sentiment"},
        {"role": "user", "content": review},
        {"role": "assistant", "content": answer},
    ], "id": review})
    .to_string()
}

/// Six SFT records in the distill output's shape.
fn sft_data(dir: &Path) -> PathBuf {
    let lines = [
        sft_line("the food was good", "positive"),
        sft_line("the service was slow", "negative"),
        sft_line("the room was clean and the staff kind", "positive"),
        sft_line("the price was high but the food great", "neutral"),
        sft_line("the staff was very rude", "negative"),
        sft_line("a very clean room", "positive"),
    ];
    let path = dir.join("sft.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
    path
}

fn dpo_data(dir: &Path) -> PathBuf {
    let line = |review: &str, chosen: &str, rejected: &str| {
        json!({
            "prompt": [{"role": "system", "content": "label the sentiment"}, {"role": "user", "content": review}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
            "id": review,
        })
        .to_string()
    };
    let lines = [
        line("the food was good", "positive", "negative"),
        line("the service was slow", "negative", "positive"),
        line("the staff was very rude", "negative", "neutral"),
        line("a very clean room", "positive", "negative"),
    ];
    let path = dir.join("dpo.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
    path
}

/// LoRA rank 4 (alpha 8) on every projection with `dropout`.
pub fn lora(dropout: f64) -> Tuning {
    Tuning::Lora(LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout,
        targets: LORA_MODULES.iter().map(|m| m.to_string()).collect(),
    })
}

fn log_lines(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join(TRAIN_LOG_FILE))
        .unwrap_or_default()
        .lines()
        .map(|l| ok(serde_json::from_str::<Value>(l)))
        .collect()
}

#[test]
fn an_sft_run_exports_a_checkpoint_that_loads_and_generates() {
    let tmp = ok(tempfile::tempdir());
    let base = tmp.path().join("base");
    tiny_checkpoint(&base);
    let out = tmp.path().join("student");
    let mut options = TrainOptions::sft(sft_data(tmp.path()), &base, &out);
    options.tuning = lora(0.1);
    options.batch = 2;
    options.lr = 1e-2;
    let report = ok(train(&options));
    assert_eq!((report.steps, report.total_steps), (6, 6));
    assert!(!report.interrupted);
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        TRAINING_FILE,
    ] {
        assert!(out.join(file).is_file(), "no {file}");
    }
    assert!(!out.join(RESUME_DIR).exists());
    let training: Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(
        out.join(TRAINING_FILE),
    ))));
    assert_eq!(training["hyperparameters"]["tuning"], "lora");
    assert_eq!(training["hyperparameters"]["lora"]["rank"], 4);
    assert_eq!(training["steps"], 6);
    assert_eq!(training["base"]["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(training["data"]["sha256"].as_str().map(str::len), Some(64));
    assert!(training["final_loss"].as_f64().is_some());
    let lines = log_lines(&out);
    assert_eq!(lines.len(), 6);
    for key in ["step", "loss", "lr", "grad_norm", "tokens_per_s"] {
        assert!(lines[5].get(key).is_some(), "no {key} in {}", lines[5]);
    }
    // The export is an ordinary checkpoint: it loads (LoRA merged) and generates.
    let student = ok(Base::open(&out));
    let (model, _) = ok(Llama::load(&out, None, 0));
    let prompt = ok(student
        .tokenizer
        .encode("<|im_start|>user the food was good<|im_end|>"));
    let answer = ok(generate_greedy(&model, &prompt.ids, 5, &student.stop_ids()));
    assert!(!answer.is_empty() && answer.len() <= 5);
    // Another run into the same directory is refused; so is --resume of a finished run.
    let err = train(&options)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("trained checkpoint already"), "{err}");
    options.resume = true;
    let err = train(&options)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("run is complete"), "{err}");
}

#[test]
fn a_stopped_run_resumed_equals_an_uninterrupted_one_bit_for_bit() {
    let tmp = ok(tempfile::tempdir());
    let base = tmp.path().join("base");
    tiny_checkpoint(&base);
    let data = sft_data(tmp.path());
    let options = |out: &Path| {
        let mut o = TrainOptions::sft(&data, &base, out);
        o.tuning = lora(0.1);
        o.batch = 2;
        o.grad_accum = 2;
        o.epochs = 100;
        o.lr = 1e-2;
        o
    };
    let whole = tmp.path().join("whole");
    ok(train(&options(&whole)));
    let parts = tmp.path().join("parts");
    stop_after_two_steps(options(&parts));
    // Other settings are refused; the same ones continue.
    let mut changed = options(&parts);
    changed.resume = true;
    changed.lr = 2e-2;
    let err = train(&changed)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("lr = 0.01"), "{err}");
    resume_to_the_end(options(&parts));
    assert_same_run(&whole, &parts, &["model.safetensors"]);
}

/// Trains `options` uninterrupted into `tmp/whole`, and into `tmp/parts` stopped after two steps
/// then resumed; both write the same `files` and log the same losses, bit for bit.
pub fn assert_resume_is_exact(tmp: &Path, options: impl Fn(&Path) -> TrainOptions, files: &[&str]) {
    let whole = tmp.join("whole");
    ok(train(&options(&whole)));
    let parts = tmp.join("parts");
    stop_after_two_steps(options(&parts));
    resume_to_the_end(options(&parts));
    assert_same_run(&whole, &parts, files);
}

/// Runs `options` until two steps are logged, then stops it as Ctrl-C does: the run saves a
/// resume point and no checkpoint.
pub fn stop_after_two_steps(mut options: TrainOptions) {
    let stop = Arc::new(AtomicBool::new(false));
    options.stop = Some(Arc::clone(&stop));
    let log = options.out.join(TRAIN_LOG_FILE);
    let watcher = std::thread::spawn(move || {
        for _ in 0..200_000 {
            let lines = std::fs::read_to_string(&log).map(|t| t.lines().count());
            if lines.unwrap_or(0) >= 2 {
                stop.store(true, Ordering::SeqCst);
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    let report = ok(train(&options));
    let _ = watcher.join();
    assert!(report.interrupted, "the run finished before the stop");
    assert!(report.steps >= 2 && report.steps < report.total_steps);
    assert!(options.out.join(RESUME_DIR).join("state.json").is_file());
    assert!(!options.out.join("model.safetensors").exists());
}

/// Continues the run `options` names (`--resume`) to its end.
pub fn resume_to_the_end(mut options: TrainOptions) {
    options.resume = true;
    let report = ok(train(&options));
    assert_eq!(report.steps, report.total_steps);
}

/// Two finished runs wrote the same `files` and logged the same losses, bit for bit.
pub fn assert_same_run(whole: &Path, parts: &Path, files: &[&str]) {
    for file in files {
        let a = ok(std::fs::read(whole.join(file)));
        let b = ok(std::fs::read(parts.join(file)));
        assert!(
            a == b,
            "the resumed {file} differs from the uninterrupted run's"
        );
    }
    let losses =
        |dir: &Path| -> Vec<Value> { log_lines(dir).iter().map(|l| l["loss"].clone()).collect() };
    assert_eq!(losses(whole), losses(parts));
}

#[test]
fn a_dpo_run_logs_rewards_and_caches_the_reference() {
    let tmp = ok(tempfile::tempdir());
    let base = tmp.path().join("base");
    tiny_checkpoint(&base);
    let out = tmp.path().join("dpo");
    let mut options = TrainOptions::dpo(dpo_data(tmp.path()), &base, &out);
    options.tuning = Tuning::Full;
    options.max_length = 60;
    options.objective = ObjectiveKind::Dpo {
        beta: 0.1,
        max_prompt_length: 40,
    };
    options.batch = 2;
    options.epochs = 3;
    options.lr = 1e-3;
    let report = ok(train(&options));
    assert_eq!(report.steps, 6);
    let lines = log_lines(&out);
    for key in ["rewards_chosen", "rewards_rejected", "margin", "accuracy"] {
        assert!(lines[0].get(key).is_some(), "no {key}");
    }
    // The first step's policy is the reference: z = 0, loss = ln 2.
    let first = lines[0]["loss"].as_f64().unwrap_or_default();
    assert!((first - std::f64::consts::LN_2).abs() < 1e-6, "{first}");
    let last = lines[5]["margin"].as_f64().unwrap_or_default();
    assert!(last > 0.0, "the margin did not grow: {last}");
    let cached: Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(
        out.join(REFERENCE_FILE),
    ))));
    assert_eq!(cached["pairs"].as_array().map(Vec::len), Some(4));
}

fn error_of(options: &TrainOptions) -> String {
    train(options)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn bad_input_is_a_clear_error() {
    let tmp = ok(tempfile::tempdir());
    let base = tmp.path().join("base");
    tiny_checkpoint(&base);
    let write = |name: &str, text: &str| {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        path
    };
    let out = tmp.path().join("out");
    let no_assistant = write(
        "no_assistant.jsonl",
        &format!(
            "{}\n{}\n",
            sft_line("the food was good", "positive"),
            json!({"messages": [{"role": "user", "content": "hi"}]})
        ),
    );
    let err = error_of(&TrainOptions::sft(&no_assistant, &base, &out));
    assert!(
        err.contains("no_assistant.jsonl:2") && err.contains("assistant"),
        "{err}"
    );
    let empty = write("empty.jsonl", "");
    let err = error_of(&TrainOptions::sft(&empty, &base, &out));
    assert!(
        err.contains("empty.jsonl") && err.contains("no records"),
        "{err}"
    );
    let long = write(
        "long.jsonl",
        &(sft_line(&"very ".repeat(80), "positive") + "\n"),
    );
    let err = error_of(&TrainOptions::sft(&long, &base, &out));
    assert!(
        err.contains("long.jsonl:1") && err.contains("context of 64"),
        "{err}"
    );
    let mut short = TrainOptions::sft(&long, &base, &out);
    short.max_length = 20;
    let err = error_of(&short);
    assert!(
        err.contains("long.jsonl:1") && err.contains("--max-length 20"),
        "{err}"
    );
    // A base that is no Llama/Qwen2 checkpoint.
    let gpt2 = tmp.path().join("gpt2");
    tiny_checkpoint(&gpt2);
    let mut config: Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(
        gpt2.join("config.json"),
    ))));
    config["architectures"] = json!(["GPT2LMHeadModel"]);
    ok(checkpoint::write_json(&gpt2.join("config.json"), &config));
    let good = sft_data(tmp.path());
    let err = error_of(&TrainOptions::sft(&good, &gpt2, &out));
    assert!(
        err.contains("`architectures`") && err.contains("GPT2LMHeadModel"),
        "{err}"
    );
    let err = error_of(&TrainOptions::sft(&good, tmp.path().join("nowhere"), &out));
    assert!(
        err.contains("nowhere") && err.contains("config.json"),
        "{err}"
    );
    let mut resume = TrainOptions::sft(&good, &base, &out);
    resume.resume = true;
    assert!(error_of(&resume).contains("no resume point"));
    let mut zero = TrainOptions::sft(&good, &base, &out);
    zero.batch = 0;
    assert!(error_of(&zero).contains("--batch"));
    assert!(!out.exists(), "nothing was written for bad input");
}

/// The converted default model (set up by scripts/setup.sh).
pub fn default_model() -> PathBuf {
    let home = std::env::var_os("R2L_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/r2l")
        });
    let dir = home.join("models/SmolLM2-135M-Instruct");
    assert!(
        dir.join("config.json").is_file(),
        "the default model is not set up at {}: run scripts/setup.sh",
        dir.display()
    );
    dir
}

#[test]
fn overfitting_eight_examples_drives_the_sft_loss_below_0_05() {
    let _one_at_a_time = REAL_MODEL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = ok(tempfile::tempdir());
    let reviews = [
        ("Phòng sạch sẽ, nhân viên thân thiện.", "positive"),
        ("Đồ ăn nguội và phục vụ chậm.", "negative"),
        ("Giá hơi cao nhưng vị trí đẹp.", "neutral"),
        ("Pin dùng được hai ngày, rất tốt.", "positive"),
        ("Màn hình bị lỗi sau một tuần.", "negative"),
        ("Giao hàng nhanh, đóng gói cẩn thận.", "positive"),
        ("Camera bình thường, không có gì đặc biệt.", "neutral"),
        ("Loa rè, rất thất vọng.", "negative"),
    ];
    let lines: Vec<String> = reviews
        .iter()
        .map(|(review, label)| sft_line(review, &format!("Sentiment: {label}")))
        .collect();
    let data = tmp.path().join("sft.jsonl");
    ok(std::fs::write(&data, lines.join("\n") + "\n"));
    let out = tmp.path().join("student");
    let mut options = TrainOptions::sft(&data, default_model(), &out);
    options.tuning = Tuning::Full;
    options.epochs = 12;
    options.lr = 1e-4;
    options.batch = 8;
    options.warmup_ratio = 0.0;
    let report = ok(train(&options));
    // The loss of the trained weights on the same 8 examples, dropout off.
    let student = ok(Base::open(&out));
    let sequences = ok(distill::student::load_sft(&options, &student));
    let (model, _) = ok(Llama::load(&out, None, 0));
    let loss = ok(sft_loss(&model, &[Packed::new(&sequences)]));
    eprintln!(
        "overfit: {} steps, last step loss {:?}, final loss {loss:.5}",
        report.steps, report.final_loss
    );
    assert!(loss < 0.05, "loss after overfitting: {loss}");
}
