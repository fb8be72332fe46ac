//! The process reward model: TRL's tokenisation rule on a fixed example with the real
//! tokenizer, gradients of the PRM loss (head, contrastive term, backbone) against finite
//! differences on a tiny random model, and a PRM trained on real GSM8K solutions (steps = lines,
//! a corrupted result and everything after it labelled incorrect) that then scores them.

use std::path::Path;

use checkpoint::Architecture;
use distill::student::{
    pack_labelled, prm_step, random_weights, tiny_config, tokenize_steps, train, Base, Grads,
    Llama, ObjectiveKind, PrmConfig, PrmHead, PrmModel, PrmSettings, Projector, StepLimits,
    StepSequence, TrainOptions, Tuning, PRM_CONFIG_FILE, PRM_HEAD_FILE,
};
use serde_json::{json, Value};

use crate::student_train::{
    assert_resume_is_exact, default_model, lora, tiny_checkpoint, REAL_MODEL,
};
use crate::support::{check_finite_differences, data_dir, set_element};

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// TRL's `PRMTrainer.tokenize_row` docstring example, tokenized by TRL with SmolLM2's tokenizer
/// (`bos_token` `<|im_start|>` = 1, "\n" = 198); labels at 25 (true) and 39 (false).
const TRL_IDS: [u32; 40] = [
    1, 14413, 1230, 314, 3227, 28, 216, 41, 30, 40, 355, 216, 41, 30, 33, 33, 47, 33, 33, 314,
    2852, 670, 216, 40, 30, 198, 35391, 28, 216, 41, 30, 33, 33, 2986, 216, 41, 30, 40, 30, 198,
];

#[test]
fn stepwise_rows_are_tokenized_by_trls_rule() {
    let base = ok(Base::open(&default_model()));
    let config = ok(PrmConfig::for_base(&base, &PrmSettings::default(), 1024));
    assert_eq!(config.bos_token_id, Some(1));
    assert_eq!(config.separator_ids, vec![198]);
    let steps = [
        "11 is greater than 8.".to_string(),
        "Hence, 9.11 > 9.8.".to_string(),
    ];
    let tokenize = |limits: StepLimits| {
        ok(tokenize_steps(
            |t| {
                base.tokenizer
                    .encode(t)
                    .map(|e| e.ids)
                    .map_err(|e| e.to_string())
            },
            config.bos_token_id,
            "Which number is larger, 9.8 or 9.11?",
            &steps,
            &config.separator_ids,
            limits,
        ))
    };
    let full = tokenize(config.limits());
    assert_eq!(full.ids, TRL_IDS);
    assert_eq!(full.label_rows, vec![25, 39]);
    // `max_length` 30 keeps the first step's label only.
    let cut = tokenize(StepLimits {
        max_length: 30,
        ..config.limits()
    });
    assert_eq!((cut.ids.len(), cut.label_rows.clone()), (30, vec![25]));
    // The prompt is 17 tokens, the steps 9 and 14: a prompt kept to its last 5 tokens moves the
    // labels to 5 + 8 and 5 + 22.
    let short = tokenize(StepLimits {
        max_prompt_length: 5,
        ..config.limits()
    });
    assert_eq!(short.ids[..5], TRL_IDS[12..17]);
    assert_eq!(short.label_rows, vec![13, 27]);
}

/// Labelled sequences of the tiny vocabulary (labels on some positions, both classes in each
/// micro-batch so the contrastive term has positives).
fn labelled() -> Vec<(StepSequence, Vec<u32>)> {
    vec![
        (
            StepSequence {
                ids: vec![1, 5, 9, 2, 33, 7, 12, 2],
                label_rows: vec![3, 7],
                steps: 2,
            },
            vec![1, 0],
        ),
        (
            StepSequence {
                ids: vec![1, 8, 21, 2, 4, 2, 17, 2],
                label_rows: vec![3, 5, 7],
                steps: 3,
            },
            vec![1, 1, 0],
        ),
        (
            StepSequence {
                ids: vec![1, 30, 2, 11, 2],
                label_rows: vec![2, 4],
                steps: 2,
            },
            vec![0, 1],
        ),
    ]
}

#[test]
fn prm_gradients_match_finite_differences() {
    let cfg = tiny_config(Architecture::Llama);
    let model = ok(Llama::from_tensors(
        &cfg,
        ok(random_weights(&cfg, 5, 0.3)),
        None,
        6,
    ));
    let head = ok(PrmHead::init(cfg.hidden_size, 3));
    // transformers starts the bias at 0: move it so its gradient is checked at a general point.
    set_element(&head.bias, 0, 0.1);
    let projector = Projector::new(cfg.hidden_size, 4);
    let rows = labelled();
    let micro = vec![
        pack_labelled(rows[..2].iter().map(|(s, l)| (s, l.as_slice()))),
        pack_labelled(rows[2..].iter().map(|(s, l)| (s, l.as_slice()))),
    ];
    for (frozen, weight) in [(false, 0.5), (false, 0.0), (true, 0.5)] {
        let mut trained = if frozen {
            Vec::new()
        } else {
            model.trained(&Tuning::Full)
        };
        trained.extend(head.named());
        let mut grads = Grads::new(trained.iter().map(|(_, t)| t));
        let loss_of = |grads: &mut Grads| {
            ok(prm_step(
                &model,
                &head,
                Some(&projector),
                &micro,
                weight,
                !frozen,
                grads,
                0,
            ))
        };
        let step = loss_of(&mut grads);
        assert!(step.loss > 0.0 && step.labelled == 7, "{step:?}");
        if weight > 0.0 && !frozen {
            assert!(step.contrastive > 0.0, "{step:?}");
        }
        for (name, t) in &trained {
            let Some(g) = grads.get(t) else {
                // The language-model head plays no part in a PRM (PyTorch leaves it without a
                // gradient too, and the optimizer skips it).
                assert_eq!(name, "lm_head.weight", "no gradient for {name}");
                continue;
            };
            let label = format!("frozen {frozen}, weight {weight}: {name}");
            check_finite_differences(&label, t, g, 1, (3e-4, 0.03), || {
                loss_of(&mut Grads::default()).loss
            });
        }
    }
}

/// GSM8K's first train solutions as stepwise rows: the lines of the gold solution (calculator
/// annotations removed), then the same solution with its last computed result (and the final
/// answer) off by one; in that row the corrupted line and everything after it are incorrect.
fn gsm8k_rows(n: usize) -> Vec<Value> {
    let text = ok(std::fs::read_to_string(
        data_dir().join("gsm8k/train.jsonl"),
    ));
    let mut rows = Vec::new();
    for line in text.lines().take(n) {
        let record: Value = ok(serde_json::from_str(line));
        let question = record["question"].as_str().unwrap_or_default();
        let answer = record["answer"].as_str().unwrap_or_default();
        let mut steps: Vec<String> = answer.lines().map(strip_calculator).collect();
        let final_answer = steps
            .last()
            .and_then(|s| s.strip_prefix("#### "))
            .unwrap_or_default()
            .to_string();
        let wrong = match final_answer.parse::<i64>() {
            Ok(v) => (v + 1).to_string(),
            Err(_) => continue,
        };
        let bad_from = steps.len() - 2;
        let corrupted: Vec<String> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if i >= bad_from {
                    s.replace(&final_answer, &wrong)
                } else {
                    s.clone()
                }
            })
            .collect();
        let labels: Vec<bool> = (0..steps.len()).map(|i| i < bad_from).collect();
        rows.push(json!({"prompt": question, "completions": corrupted, "labels": labels}));
        // The gold solution with one wrong line appended keeps the row mixed.
        steps.push(format!("So the answer is {wrong}."));
        let mut labels = vec![true; steps.len() - 1];
        labels.push(false);
        rows.push(json!({"prompt": question, "completions": steps, "labels": labels}));
    }
    rows
}

fn strip_calculator(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("<<") {
        out.push_str(&rest[..start]);
        match rest[start..].find(">>") {
            Some(end) => rest = &rest[start + end + 2..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

fn write_rows(path: &Path, rows: &[Value]) {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    ok(std::fs::write(path, text));
}

#[test]
fn a_prm_trained_on_gsm8k_steps_separates_them_and_scores_them() {
    let _one_at_a_time = REAL_MODEL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = ok(tempfile::tempdir());
    let rows = gsm8k_rows(3);
    assert_eq!(rows.len(), 6);
    let data = tmp.path().join("stepwise.jsonl");
    // An all-correct row is skipped, as AgentArk does.
    let mut with_unmixed = rows.clone();
    with_unmixed.push(json!({"prompt": "1 + 1?", "completions": ["2"], "labels": [true]}));
    write_rows(&data, &with_unmixed);
    let out = tmp.path().join("prm");
    let mut options = TrainOptions::prm(&data, default_model(), &out);
    options.objective = ObjectiveKind::Prm(PrmSettings {
        freeze_backbone: true,
        ..PrmSettings::default()
    });
    options.tuning = Tuning::Full;
    options.epochs = 60;
    options.batch = 6;
    options.lr = 2e-2;
    options.adamw.weight_decay = 0.0;
    let report = ok(train(&options));
    assert_eq!((report.examples, report.steps), (6, 60));
    let log = ok(std::fs::read_to_string(out.join("train_log.jsonl")));
    let lines: Vec<Value> = log.lines().map(|l| ok(serde_json::from_str(l))).collect();
    let first = lines[0]["loss"].as_f64().unwrap_or(f64::NAN);
    let last = lines[lines.len() - 1]["loss"].as_f64().unwrap_or(f64::NAN);
    eprintln!("PRM loss {first:.4} -> {last:.4}");
    assert!(last < 0.5 * first, "loss {first} -> {last}");
    let training: Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(
        out.join("training.json"),
    ))));
    assert_eq!(training["examples"]["rows_skipped_not_mixed"], 1);
    assert!(out.join(PRM_CONFIG_FILE).is_file());

    let prm = ok(PrmModel::load(&out));
    let (mut right, mut total) = (0, 0);
    let (mut sums, mut counts) = ([0f64; 2], [0usize; 2]);
    for row in &rows {
        let steps: Vec<String> = ok(serde_json::from_value(row["completions"].clone()));
        let labels: Vec<bool> = ok(serde_json::from_value(row["labels"].clone()));
        let p = ok(prm.step_probabilities(row["prompt"].as_str().unwrap_or_default(), &steps));
        assert_eq!(p.len(), steps.len());
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
        eprintln!("{labels:?} {p:.3?}");
        for (v, l) in p.iter().zip(&labels) {
            right += usize::from((*v > 0.5) == *l);
            total += 1;
            sums[usize::from(*l)] += v;
            counts[usize::from(*l)] += 1;
        }
    }
    let (incorrect, correct) = (sums[0] / counts[0] as f64, sums[1] / counts[1] as f64);
    eprintln!(
        "PRM step accuracy on its training rows: {right}/{total}; mean P(correct): correct steps {correct:.3}, incorrect {incorrect:.3}"
    );
    // Measured: 21/23, 0.886 vs 0.190 (the two misses are corrupted lines that differ from a
    // correct line of another row by one digit, seen by a frozen backbone).
    assert!(right * 20 >= total * 17, "{right}/{total}");
    assert!(correct - incorrect > 0.5, "{correct} vs {incorrect}");

    // The backbone is a checkpoint of its own: a PRM of another tokenizer is refused.
    let other = tmp.path().join("other");
    ok(std::fs::create_dir_all(&other));
    for entry in ok(std::fs::read_dir(&out)) {
        let entry = ok(entry);
        if entry.path().is_file() {
            ok(std::fs::copy(entry.path(), other.join(entry.file_name())));
        }
    }
    let mut tokenizer: Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(
        other.join("tokenizer.json"),
    ))));
    tokenizer["truncation"] = json!(null);
    tokenizer["padding"] = json!(null);
    tokenizer["added_tokens"][0]["content"] = json!("<|other|>");
    ok(std::fs::write(
        other.join("tokenizer.json"),
        tokenizer.to_string(),
    ));
    let err = PrmModel::load(&other)
        .map(|_| ())
        .err()
        .map(|e| e.to_string());
    let err = err.unwrap_or_default();
    assert!(
        err.contains("not the tokenizer the PRM was trained with"),
        "{err}"
    );
}

#[test]
fn bad_stepwise_rows_name_file_line_and_field() {
    let tmp = ok(tempfile::tempdir());
    let data = tmp.path().join("stepwise.jsonl");
    let good = json!({"prompt": "q", "completions": ["a", "b"], "labels": [true, false]});
    let cases = [
        (
            json!({"prompt": "q", "completions": ["a", "b"], "labels": [true]}),
            "field `labels` has 1 entries and `completions` 2",
        ),
        (
            json!({"prompt": "q", "completions": ["a"], "labels": ["yes"]}),
            "field `labels[0]` must be true/false",
        ),
        (
            json!({"completions": ["a"], "labels": [true]}),
            "missing field `prompt`",
        ),
        (
            json!({"prompt": "q", "completions": [], "labels": []}),
            "empty list",
        ),
    ];
    for (bad, expected) in cases {
        write_rows(&data, &[good.clone(), bad]);
        let out = tmp.path().join("prm");
        let err = train(&TrainOptions::prm(&data, default_model(), &out))
            .map(|_| ())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("stepwise.jsonl:2: ") && err.contains(expected),
            "{err}"
        );
        assert!(!out.exists(), "nothing was written for bad input");
    }
    write_rows(
        &data,
        &[json!({"prompt": "q", "completions": ["a"], "labels": [true]})],
    );
    let err = train(&TrainOptions::prm(
        &data,
        default_model(),
        tmp.path().join("x"),
    ))
    .map(|_| ())
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("no usable row"), "{err}");
}

/// GSM8K train solutions `from..from + n` as rows whose correct steps are the solution's lines
/// and whose incorrect step is one systematic kind: an appended "So the answer is N." with a
/// wrong N.
fn systematic_rows(from: usize, n: usize) -> Vec<Value> {
    let text = ok(std::fs::read_to_string(
        data_dir().join("gsm8k/train.jsonl"),
    ));
    text.lines()
        .skip(from)
        .take(n)
        .map(|line| {
            let record: Value = ok(serde_json::from_str(line));
            let answer = record["answer"].as_str().unwrap_or_default();
            let mut steps: Vec<String> = answer.lines().map(strip_calculator).collect();
            let gold = answer
                .rsplit("#### ")
                .next()
                .unwrap_or("0")
                .trim()
                .to_string();
            let mut labels = vec![true; steps.len()];
            steps.push(format!("So the answer is {gold}7."));
            labels.push(false);
            json!({"prompt": record["question"], "completions": steps, "labels": labels})
        })
        .collect()
}

#[test]
fn a_prm_separates_held_out_steps_that_differ_systematically() {
    let _one_at_a_time = REAL_MODEL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = ok(tempfile::tempdir());
    let data = tmp.path().join("train.jsonl");
    write_rows(&data, &systematic_rows(0, 8));
    let out = tmp.path().join("prm");
    let mut options = TrainOptions::prm(&data, default_model(), &out);
    options.objective = ObjectiveKind::Prm(PrmSettings {
        freeze_backbone: true,
        ..PrmSettings::default()
    });
    options.epochs = 40;
    options.batch = 8;
    options.lr = 2e-2;
    options.adamw.weight_decay = 0.0;
    ok(train(&options));
    let prm = ok(PrmModel::load(&out));
    let (mut scores, mut labels) = (Vec::new(), Vec::new());
    for row in systematic_rows(8, 8) {
        let steps: Vec<String> = ok(serde_json::from_value(row["completions"].clone()));
        let truth: Vec<bool> = ok(serde_json::from_value(row["labels"].clone()));
        let p = ok(prm.step_probabilities(row["prompt"].as_str().unwrap_or_default(), &steps));
        scores.extend(p);
        labels.extend(truth);
    }
    let auc = harness::metrics::roc_auc(&scores, &labels).unwrap_or(0.0);
    eprintln!(
        "held-out ROC AUC over {} steps ({} incorrect): {auc:.3}",
        labels.len(),
        labels.iter().filter(|&&l| !l).count()
    );
    assert!(auc >= 0.9, "held-out AUC {auc}");
}

#[test]
fn a_stopped_prm_run_resumed_equals_an_uninterrupted_one_bit_for_bit() {
    let tmp = ok(tempfile::tempdir());
    let base = tmp.path().join("base");
    tiny_checkpoint(&base);
    let data = tmp.path().join("stepwise.jsonl");
    // Rows in the tiny checkpoint's words; its whitespace word-level tokenizer has no "\n", so
    // the separator is a word of it.
    let row = |prompt: &str, steps: &[(&str, bool)]| {
        json!({"prompt": prompt, "completions": steps.iter().map(|s| s.0).collect::<Vec<_>>(),
               "labels": steps.iter().map(|s| s.1).collect::<Vec<_>>()})
    };
    write_rows(
        &data,
        &[
            row(
                "the food was",
                &[("good", true), ("the service was slow", false)],
            ),
            row(
                "the price was",
                &[("high", true), ("low but good", false), ("fast", false)],
            ),
            row(
                "the service was",
                &[("slow", false), ("the food good", true)],
            ),
            row(
                "the room was",
                &[("clean", true), ("the staff kind", true), ("bad", false)],
            ),
        ],
    );
    let options = |out: &Path| {
        let mut o = TrainOptions::prm(&data, &base, out);
        o.objective = ObjectiveKind::Prm(PrmSettings {
            separator: " and".to_string(),
            max_prompt_length: 16,
            ..PrmSettings::default()
        });
        o.max_length = 60;
        o.tuning = lora(0.1);
        o.batch = 1;
        // 200 steps of a few milliseconds: the stop after two lands well before the end.
        o.epochs = 50;
        o.lr = 1e-2;
        o
    };
    assert_resume_is_exact(tmp.path(), options, &["model.safetensors", PRM_HEAD_FILE]);
}
