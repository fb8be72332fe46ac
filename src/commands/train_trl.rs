//! `r2l train sft|dpo --backend trl`: the same records and hyper-parameters handed to TRL's own
//! command line (`trl sft`, `trl dpo`, which runs under `accelerate launch`; a config file from
//! `--accelerate-config` spreads it over GPUs or machines) in the Python environment the user
//! names. Its log lines stream into `train_log.jsonl`; its result (the LoRA adapter merged into
//! the base, or the full weights) is saved as the student checkpoint `r2l serve` and `r2l eval
//! --local` load, with `training.json` saying how it was made. Nothing here installs Python
//! packages: a missing one is an error naming it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use distill::student::{read_dpo, read_sft, ObjectiveKind, SftRecord, TrainOptions, Tuning};
use serde_json::{json, Value};

/// The Python modules the TRL backend needs.
const MODULES: [&str; 5] = ["trl", "transformers", "peft", "torch", "accelerate"];

/// Lines of TRL's output kept to explain a failure.
const TAIL_LINES: usize = 25;

/// Where the run leaves TRL's own files (its data, its output directory) inside `--out`.
const WORK_DIR: &str = "trl";

/// Merges a LoRA adapter into its base (or re-saves full weights) as one safetensors checkpoint
/// with the tokenizer: argv = base, TRL's output directory, destination, `lora` or `full`.
const SAVE_SCRIPT: &str = r#"
import sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
base, trained, out, tuning = sys.argv[1:5]
if tuning == "lora":
    from peft import PeftModel
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, trained).merge_and_unload()
else:
    model = AutoModelForCausalLM.from_pretrained(trained, dtype=torch.float32)
model.save_pretrained(out, safe_serialization=True)
AutoTokenizer.from_pretrained(trained).save_pretrained(out)
"#;

/// The TRL backend's settings: the interpreter and, optionally, an accelerate config file.
#[derive(Debug, Clone)]
pub struct TrlBackend {
    /// The Python interpreter of an environment with trl, transformers, peft, torch, accelerate.
    pub python: PathBuf,
    /// `accelerate launch --config_file` (GPUs, DeepSpeed, FSDP); None = one local process.
    pub accelerate_config: Option<PathBuf>,
}

/// What a finished TRL run reports.
pub struct TrlReport {
    /// Optimizer steps logged.
    pub steps: usize,
    /// The last logged training loss.
    pub final_loss: Option<f64>,
    /// TRL's version.
    pub trl_version: String,
}

/// Runs SFT or DPO of `options` through TRL and leaves the merged checkpoint in `options.out`.
pub fn train_with_trl(options: &TrainOptions, backend: &TrlBackend) -> Result<TrlReport> {
    let command = match &options.objective {
        ObjectiveKind::Sft => "sft",
        ObjectiveKind::Dpo { .. } => "dpo",
        other => bail!(
            "--backend trl trains sft and dpo; {} runs on the candle backend",
            objective_name(other)
        ),
    };
    let trl_version = check_environment(&backend.python)?;
    if let Some(config) = &backend.accelerate_config {
        if !config.is_file() {
            bail!("--accelerate-config {}: no such file", config.display());
        }
    }
    let work = options.out.join(WORK_DIR);
    let data_dir = work.join("data");
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let records = stage_data(options, &data_dir.join("train.jsonl"))?;
    let trained = work.join("output");
    let arguments = trl_arguments(options, &data_dir, &trained, backend);
    write_training_json(options, command, &arguments, &trl_version, records)?;
    let mut process = Command::new(&backend.python);
    process
        .args(["-m", "trl.cli.main", command])
        .args(&arguments)
        .env("PYTHONUNBUFFERED", "1")
        .env("TOKENIZERS_PARALLELISM", "false");
    let started = std::time::Instant::now();
    let (steps, final_loss) = run_streaming(process, &options.out.join("train_log.jsonl"))?;
    let train_seconds = started.elapsed().as_secs_f64();
    let tuning = match options.tuning {
        Tuning::Lora(_) => "lora",
        Tuning::Full => "full",
    };
    let mut save = Command::new(&backend.python);
    save.args(["-c", SAVE_SCRIPT])
        .arg(&options.base)
        .arg(&trained)
        .arg(&options.out)
        .arg(tuning);
    run_streaming(save, &work.join("save_log.txt"))?;
    if !options.out.join("model.safetensors").is_file() {
        bail!(
            "TRL finished but no model.safetensors was saved in {}",
            options.out.display()
        );
    }
    record_outcome(&options.out, steps, final_loss, train_seconds)?;
    Ok(TrlReport {
        steps,
        final_loss,
        trl_version,
    })
}

fn objective_name(objective: &ObjectiveKind) -> &'static str {
    match objective {
        ObjectiveKind::Sft => "sft",
        ObjectiveKind::Dpo { .. } => "dpo",
        ObjectiveKind::Prm(_) => "prm",
        ObjectiveKind::Grpo(_) => "grpo",
    }
}

/// Checks that `python` runs and imports every module the backend needs; returns TRL's version.
fn check_environment(python: &Path) -> Result<String> {
    let probe = format!(
        "import importlib\nmissing = []\nfor name in {MODULES:?}:\n    try:\n        importlib.import_module(name)\n    except Exception as error:\n        missing.append(f'{{name}} ({{type(error).__name__}}: {{error}})')\nif missing:\n    raise SystemExit('missing: ' + '; '.join(missing))\nimport trl\nprint(trl.__version__)"
    );
    let output = Command::new(python)
        .args(["-c", &probe])
        .output()
        .with_context(|| {
            format!(
                "--python {}: cannot run it; name the interpreter of an environment with {} (benchmarks/train/venv.sh creates one)",
                python.display(),
                MODULES.join(", ")
            )
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").trim().to_string();
        bail!(
            "--python {}: the TRL backend needs {} — {last}",
            python.display(),
            MODULES.join(", ")
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Writes the records as TRL reads them: SFT conversations as conversational prompt/completion
/// (the completion from the first learnt assistant turn on, so TRL's completion-only loss learns
/// what the candle trainer learns), plain prompt/completion as is, DPO records unchanged.
/// Every record is checked first (errors name `file:line`). Returns the record count.
fn stage_data(options: &TrainOptions, staged: &Path) -> Result<usize> {
    let lines: Vec<Value> = match &options.objective {
        ObjectiveKind::Dpo { .. } => {
            let count = read_dpo(&options.data)?.len();
            let text = std::fs::read_to_string(&options.data)
                .with_context(|| format!("reading {}", options.data.display()))?;
            std::fs::write(staged, text)
                .with_context(|| format!("writing {}", staged.display()))?;
            return Ok(count);
        }
        _ => read_sft(&options.data)?
            .into_iter()
            .map(|lined| match lined.record {
                SftRecord::Conversation {
                    messages,
                    learn_from,
                } => {
                    let first_learnt = messages
                        .iter()
                        .enumerate()
                        .skip(learn_from)
                        .find(|(_, m)| m.role == chat::Role::Assistant)
                        .map_or(messages.len(), |(index, _)| index);
                    json!({
                        "prompt": messages[..first_learnt],
                        "completion": messages[first_learnt..],
                    })
                }
                SftRecord::Text { prompt, completion } => {
                    json!({"prompt": prompt, "completion": completion})
                }
            })
            .collect(),
    };
    let mut file =
        std::fs::File::create(staged).with_context(|| format!("writing {}", staged.display()))?;
    for line in &lines {
        writeln!(file, "{line}").with_context(|| format!("writing {}", staged.display()))?;
    }
    Ok(lines.len())
}

/// r2l's hyper-parameters under TRL's names.
fn trl_arguments(
    options: &TrainOptions,
    data_dir: &Path,
    trained: &Path,
    backend: &TrlBackend,
) -> Vec<String> {
    let mut pairs: Vec<(&str, String)> = vec![
        ("model_name_or_path", options.base.display().to_string()),
        ("dataset_name", data_dir.display().to_string()),
        ("output_dir", trained.display().to_string()),
        ("learning_rate", options.lr.to_string()),
        ("num_train_epochs", options.epochs.to_string()),
        ("per_device_train_batch_size", options.batch.to_string()),
        (
            "gradient_accumulation_steps",
            options.grad_accum.to_string(),
        ),
        ("max_length", options.max_length.to_string()),
        ("seed", options.seed.to_string()),
        ("warmup_steps", options.warmup_ratio.to_string()),
        ("weight_decay", options.adamw.weight_decay.to_string()),
        ("adam_beta1", options.adamw.beta1.to_string()),
        ("adam_beta2", options.adamw.beta2.to_string()),
        ("max_grad_norm", options.max_grad_norm.to_string()),
        // f32 weights and no mixed precision, as the candle trainer computes (TRL's default is
        // bf16, which a CPU refuses).
        ("dtype", "float32".into()),
        ("bf16", "false".into()),
        ("logging_steps", "1".into()),
        ("save_strategy", "no".into()),
        ("report_to", "none".into()),
        ("disable_tqdm", "true".into()),
    ];
    if let Some(steps) = options.max_steps {
        pairs.push(("max_steps", steps.to_string()));
    }
    if let ObjectiveKind::Dpo { beta, .. } = &options.objective {
        pairs.push(("beta", beta.to_string()));
    }
    if let Tuning::Lora(lora) = &options.tuning {
        pairs.extend([
            ("use_peft", "true".into()),
            ("lora_r", lora.rank.to_string()),
            ("lora_alpha", lora.alpha.to_string()),
            ("lora_dropout", lora.dropout.to_string()),
        ]);
    }
    if let Some(config) = &backend.accelerate_config {
        pairs.push(("accelerate_config", config.display().to_string()));
    }
    let mut arguments: Vec<String> = pairs
        .into_iter()
        .flat_map(|(flag, value)| [format!("--{flag}"), value])
        .collect();
    if let Tuning::Lora(lora) = &options.tuning {
        // A list flag: the modules follow it as separate arguments.
        arguments.push("--lora_target_modules".into());
        arguments.extend(lora.targets.iter().cloned());
    }
    arguments
}

/// `training.json`: the backend, TRL's version, the command line and the mapped settings.
fn write_training_json(
    options: &TrainOptions,
    command: &str,
    arguments: &[String],
    trl_version: &str,
    records: usize,
) -> Result<()> {
    let lora = match &options.tuning {
        Tuning::Lora(lora) => json!({
            "rank": lora.rank, "alpha": lora.alpha, "dropout": lora.dropout, "targets": lora.targets,
        }),
        Tuning::Full => Value::Null,
    };
    let training = json!({
        "backend": "trl",
        "trl_version": trl_version,
        "objective": command,
        "data": options.data.display().to_string(),
        "examples": records,
        "base": options.base.display().to_string(),
        "lora": lora,
        "lr": options.lr,
        "epochs": options.epochs,
        "batch": options.batch,
        "grad_accum": options.grad_accum,
        "max_steps": options.max_steps,
        "max_length": options.max_length,
        "seed": options.seed,
        "warmup_ratio": options.warmup_ratio,
        "weight_decay": options.adamw.weight_decay,
        "max_grad_norm": options.max_grad_norm,
        "trl_command": std::iter::once(format!("trl {command}"))
            .chain(arguments.iter().cloned())
            .collect::<Vec<_>>(),
    });
    std::fs::create_dir_all(&options.out)?;
    let path = options.out.join(distill::student::TRAINING_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(&training)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

/// Adds the steps run, the last loss and TRL's wall time (start to saved adapter, model loading
/// included) to `training.json`, as the candle trainer records them.
fn record_outcome(
    out: &Path,
    steps: usize,
    final_loss: Option<f64>,
    train_seconds: f64,
) -> Result<()> {
    let path = out.join(distill::student::TRAINING_FILE);
    let mut training: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )?;
    training["steps"] = json!(steps);
    training["final_loss"] = json!(final_loss);
    training["train_seconds"] = json!(train_seconds);
    std::fs::write(&path, serde_json::to_string_pretty(&training)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

/// Runs `process`, echoing its output to stderr and writing its training log lines (TRL's
/// `{'loss': …}` dictionaries) to `log` as JSON; a failure quotes its last lines. Returns the
/// steps logged and the last loss.
fn run_streaming(mut process: Command, log: &Path) -> Result<(usize, Option<f64>)> {
    let program = format!("{process:?}");
    let mut child = process
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let stderr = child.stderr.take();
    // stderr is drained on its own thread so that neither pipe fills up and blocks the child.
    let stderr_lines = std::thread::spawn(move || {
        stderr.map_or_else(Vec::new, |pipe| {
            BufReader::new(pipe)
                .lines()
                .map_while(std::result::Result::ok)
                .inspect(|line| eprintln!("{line}"))
                .collect::<Vec<_>>()
        })
    });
    let mut log_file =
        std::fs::File::create(log).with_context(|| format!("writing {}", log.display()))?;
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let (mut steps, mut final_loss) = (0, None);
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            eprintln!("{line}");
            if let Some(mut entry) = log_entry(&line) {
                if let Some(loss) = entry.get("loss").and_then(Value::as_f64) {
                    steps += 1;
                    final_loss = Some(loss);
                    entry.insert("step".into(), json!(steps));
                }
                writeln!(log_file, "{}", Value::Object(entry))?;
            }
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for {program}"))?;
    let stderr_lines = stderr_lines.join().unwrap_or_default();
    if !status.success() {
        let last: Vec<&str> = tail
            .iter()
            .map(String::as_str)
            .chain(stderr_lines.iter().map(String::as_str))
            .rev()
            .take(TAIL_LINES)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        bail!(
            "TRL failed ({status}); its last lines:\n{}\nrun the same command again to start the step over",
            last.join("\n")
        );
    }
    Ok((steps, final_loss))
}

/// A TRL log line (`{'loss': '1.215', 'grad_norm': '0.78', …}`: a Python dict whose values
/// transformers writes as numbers or numeric strings) as JSON numbers.
fn log_entry(line: &str) -> Option<serde_json::Map<String, Value>> {
    let body = line.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut entry = serde_json::Map::new();
    for item in body.split(", ") {
        let (key, value) = item.split_once(": ")?;
        let key = key.trim().trim_matches('\'');
        let value: f64 = value.trim().trim_matches('\'').parse().ok()?;
        entry.insert(key.to_string(), json!(value));
    }
    (!entry.is_empty()).then_some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trl_log_lines_become_json_numbers() {
        let entry = log_entry("{'loss': '1.215', 'grad_norm': '0.7804', 'epoch': '0.5'}");
        assert_eq!(
            entry.map(Value::Object),
            Some(json!({"loss": 1.215, "grad_norm": 0.7804, "epoch": 0.5}))
        );
        assert_eq!(
            log_entry("{'train_runtime': 19.86, 'train_loss': 1.168}").map(Value::Object),
            Some(json!({"train_runtime": 19.86, "train_loss": 1.168}))
        );
        assert_eq!(log_entry("Loading weights: 100%"), None);
        assert_eq!(log_entry("{'note': 'not a number'}"), None);
    }
}
