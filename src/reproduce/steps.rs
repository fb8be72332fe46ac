//! The steps' work: each runs the r2l command a user would run (`r2l serve`, `r2l eval`,
//! `r2l distill`, `r2l train`) as a child process and reports what it produced.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::config::{DistillConfig, EvalConfig, RlConfig, TrainConfig};
use super::server::ServedModel;

/// What the steps share: the r2l binary, the output directory, the data directory flag.
pub struct StepContext {
    /// This binary (the steps run its subcommands).
    pub r2l: PathBuf,
    /// The reproduction's output directory.
    pub out: PathBuf,
    /// `--data-dir`, passed on when given.
    pub data_dir: Option<PathBuf>,
    /// Set by Ctrl-C: the child (in the same process group) got it too and saves its work.
    pub interrupted: Arc<AtomicBool>,
}

impl StepContext {
    /// `r2l SUBCOMMAND`, its stdout sent to stderr (this command's stdout is the summary).
    fn command(&self, subcommand: &str) -> Command {
        let mut command = Command::new(&self.r2l);
        command.arg(subcommand).stdout(std::io::stderr());
        command
    }

    fn run(&self, mut command: Command, what: &str) -> Result<()> {
        let status = command
            .status()
            .with_context(|| format!("starting {what}"))?;
        if self.interrupted.load(Ordering::SeqCst) {
            bail!("interrupted during {what}; run the same command again to resume");
        }
        if !status.success() {
            bail!("{what} failed ({status})");
        }
        Ok(())
    }

    fn data_dir_args(&self, command: &mut Command) {
        if let Some(dir) = &self.data_dir {
            // Absolute: a command may run from inside the output directory.
            command
                .arg("--data-dir")
                .arg(std::path::absolute(dir).unwrap_or_else(|_| dir.clone()));
        }
    }
}

/// A model to serve: its directory and the id it is served (and cached) under.
#[derive(Debug, Clone)]
pub struct ModelToServe {
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// The weights' identity (`checkpoint::weights_sha256`).
    pub weights_sha256: String,
    /// The served id: a name, the first 12 hex digits of the weights' sha256 and the in-situ
    /// quantization, so answers cached for one set of weights (or one quantization of them)
    /// are never returned for another.
    pub id: String,
}

impl ModelToServe {
    /// Names the checkpoint in `dir` after `label`, its weights and `isq`.
    pub fn new(label: &str, dir: &Path, isq: &str) -> Result<ModelToServe> {
        let weights_sha256 = checkpoint::weights_sha256(dir)
            .with_context(|| format!("hashing the weights of {}", dir.display()))?;
        Ok(ModelToServe {
            dir: dir.to_path_buf(),
            id: format!("{label}-{}-{isq}", &weights_sha256[..12]),
            weights_sha256,
        })
    }
}

/// Serves `model` with `isq` and evaluates it on every task of `eval` over HTTP, into run
/// directories named `run_id` (resumed unless `fresh`). Returns {task: run directory relative
/// to the output directory}.
pub fn serve_and_evaluate(
    context: &StepContext,
    model: &ModelToServe,
    isq: &str,
    eval: &EvalConfig,
    side_row: bool,
    run_id: &str,
    fresh: bool,
) -> Result<Value> {
    let eval_root = context.out.join("eval");
    if fresh {
        for task in &eval.tasks {
            remove_dir(&harness::runner::run_dir(
                &eval_root, task, &model.id, run_id,
            ))?;
        }
    }
    let serve_dir = context.out.join("serve");
    std::fs::create_dir_all(&serve_dir)?;
    // A models file resolves relative paths against itself: write the model's absolute path.
    let model_dir = std::path::absolute(&model.dir)
        .with_context(|| format!("resolving {}", model.dir.display()))?;
    let models_file = serve_dir.join(format!("{run_id}.toml"));
    let entry = toml::toml! {
        [[models]]
        id = (model.id.clone())
        path = (model_dir.display().to_string())
        isq = (isq.to_string())
    };
    std::fs::write(&models_file, toml::to_string(&entry)?)?;
    let server = ServedModel::start(
        &context.r2l,
        &models_file,
        &serve_dir.join(format!("{run_id}.log")),
    )?;
    eprintln!("  serving {} at {}", server.model_id, server.base_url);
    let mut runs = serde_json::Map::new();
    for task in &eval.tasks {
        let mut command = context.command("eval");
        command
            .args([
                "--task",
                task,
                "--endpoint",
                &server.endpoint(),
                "--model",
                &server.model_id,
            ])
            .args(["--sample-seed", &eval.sample_seed.to_string()])
            .args(["--concurrency", &eval.concurrency.to_string()])
            .args(["--run-id", run_id])
            .arg("--out")
            .arg(&eval_root);
        if let Some(limit) = eval.limit_for(task, side_row) {
            command.args(["--limit", &limit.to_string()]);
        }
        context.data_dir_args(&mut command);
        context.run(command, &format!("r2l eval --task {task} ({run_id})"))?;
        let dir = harness::runner::run_dir(&eval_root, task, &server.model_id, run_id);
        if !dir.join(harness::runner::MANIFEST_FILE).is_file() {
            bail!(
                "r2l eval --task {task} wrote no run log in {}",
                dir.display()
            );
        }
        runs.insert(
            task.clone(),
            json!(super::state::relative(&context.out, &dir)),
        );
    }
    Ok(json!({
        "model": model.id,
        "weights_sha256": model.weights_sha256,
        "isq": isq,
        "runs": runs,
    }))
}

/// What a distillation step runs besides the configuration.
pub struct Distilled<'a> {
    /// `r2l`, `debate` or `agentark`.
    pub protocol: &'a str,
    /// The checkpoint whose tokenizer counts token budgets (`--tokenizer`).
    pub tokenizer: Option<&'a Path>,
    /// R2L's single-agent ablation: the one teacher (`--teachers ID --no-meta`).
    pub single_teacher: Option<&'a str>,
    /// The output directory, relative to the reproduction's.
    pub dir_name: &'a str,
}

/// `r2l distill <protocol>` of `config` into `out/<dir_name>` (resumed unless `fresh`).
/// Returns the record counts and hashes of every records file it wrote.
pub fn distill(
    context: &StepContext,
    what: &Distilled,
    config: &DistillConfig,
    fresh: bool,
) -> Result<Value> {
    let (protocol, dir_name) = (what.protocol, what.dir_name);
    let dir = context.out.join(dir_name);
    if fresh {
        remove_dir(&dir)?;
    }
    let mut command = context.command("distill");
    command
        .args([protocol, "--task", &config.task, "--split", &config.split])
        .args(["--sample-seed", &config.sample_seed.to_string()])
        .arg("--out")
        .arg(&dir);
    if let Some(limit) = config.limit {
        command.args(["--limit", &limit.to_string()]);
    }
    protocol_args(&mut command, protocol, config);
    if let Some(tokenizer) = what.tokenizer {
        command.arg("--tokenizer").arg(tokenizer);
    }
    if let Some(teacher) = what.single_teacher {
        command.args(["--teachers", teacher, "--no-meta"]);
    }
    context.data_dir_args(&mut command);
    context.run(command, &format!("r2l distill {protocol}"))?;
    let mut outputs = serde_json::Map::new();
    outputs.insert("dir".into(), json!(dir_name));
    for (key, name) in [
        ("sft", distill::SFT_FILE),
        ("dpo", distill::DPO_FILE),
        ("static", distill::STATIC_FILE),
    ] {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        outputs.insert(format!("{key}_records"), json!(lines_in(&bytes)));
        outputs.insert(
            format!("{key}_sha256"),
            json!(harness::data::sha256_hex(&bytes)),
        );
    }
    if outputs
        .get("sft_records")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        == 0
    {
        // A result, not a failure: the teachers answered no question right (the students that
        // train on these records stay their base, and the summary says so).
        eprintln!(
            "  no SFT record in {} (see its stats.json): the students trained on it stay their base; \
             distil more samples (distill.limit) or use stronger teachers",
            dir.display()
        );
    }
    Ok(Value::Object(outputs))
}

/// The protocol's own flags (`r2l distill PROTOCOL --help`) and the shared run flags.
fn protocol_args(command: &mut Command, protocol: &str, config: &DistillConfig) {
    command.args(["--rounds", &config.rounds.to_string()]);
    if let Some(rationalize) = config.rationalize.filter(|_| protocol == "r2l") {
        command.arg(if rationalize {
            "--rationalize"
        } else {
            "--no-rationalize"
        });
    }
    if let Some(augment) = config.augment.filter(|_| protocol == "agentark") {
        command.args(["--augment", &augment.to_string()]);
    }
    if let Some(agents) = &config.agents {
        command.arg("--agents").arg(agents);
    }
    if let Some(concurrency) = config.concurrency {
        command.args(["--concurrency", &concurrency.to_string()]);
    }
}

/// `r2l eval --agent ID` on every task of `eval` (a side row's slices) into runs named
/// `run_id` (resumed unless `fresh`). Returns {task: run directory}.
pub fn agent_evaluate(
    context: &StepContext,
    agents: Option<&Path>,
    agent: &str,
    eval: &EvalConfig,
    run_id: &str,
    fresh: bool,
) -> Result<Value> {
    let eval_root = context.out.join("eval");
    let mut runs = serde_json::Map::new();
    for task in &eval.tasks {
        let dir = harness::runner::run_dir(&eval_root, task, agent, run_id);
        if fresh {
            remove_dir(&dir)?;
        }
        let mut command = context.command("eval");
        command
            .args(["--task", task, "--agent", agent])
            .args(["--sample-seed", &eval.sample_seed.to_string()])
            .args(["--concurrency", &eval.concurrency.to_string()])
            .args(["--run-id", run_id])
            .arg("--out")
            .arg(&eval_root);
        if let Some(agents) = agents {
            command.arg("--agents").arg(agents);
        }
        if let Some(limit) = eval.limit_for(task, true) {
            command.args(["--limit", &limit.to_string()]);
        }
        context.data_dir_args(&mut command);
        context.run(command, &format!("r2l eval --task {task} --agent {agent}"))?;
        if !dir.join(harness::runner::MANIFEST_FILE).is_file() {
            bail!(
                "r2l eval --task {task} --agent {agent} wrote no run log in {}",
                dir.display()
            );
        }
        runs.insert(
            task.clone(),
            json!(super::state::relative(&context.out, &dir)),
        );
    }
    Ok(json!({ "model": agent, "runs": runs }))
}

/// The team as a row: `r2l distill <protocol>` on each task's evaluation slice (a side row's: the
/// first of the samples the other rows are evaluated on, same split and seed), then `r2l score` of its final
/// answers into an eval run named `run_id`. Returns the runs and the team's calls and tokens
/// per question.
pub fn team_evaluate(
    context: &StepContext,
    protocol: &str,
    config: &DistillConfig,
    eval: &EvalConfig,
    run_id: &str,
    fresh: bool,
) -> Result<Value> {
    let eval_root = context.out.join("eval");
    let model = format!("{protocol}-team");
    let mut runs = serde_json::Map::new();
    let mut costs = serde_json::Map::new();
    for task_name in &eval.tasks {
        let task = harness::task::resolve_task(task_name)?;
        let dir = context
            .out
            .join("team")
            .join(harness::runner::path_safe(task_name));
        let run_dir = harness::runner::run_dir(&eval_root, task_name, &model, run_id);
        if fresh {
            remove_dir(&dir)?;
            remove_dir(&run_dir)?;
        }
        let mut command = context.command("distill");
        command
            .args([protocol, "--task", task_name, "--split", &task.split])
            .args(["--sample-seed", &eval.sample_seed.to_string()])
            .arg("--out")
            .arg(&dir);
        if let Some(limit) = eval.limit_for(task_name, true) {
            command.args(["--limit", &limit.to_string()]);
        }
        protocol_args(&mut command, protocol, config);
        context.data_dir_args(&mut command);
        context.run(
            command,
            &format!("r2l distill {protocol} on {task_name} {}", task.split),
        )?;
        // Scored from inside the output directory, so the run log names its predictions file
        // relative to it (as every other path of a reproduction).
        let mut score = context.command("score");
        score
            .current_dir(&context.out)
            .args(["--task", task_name, "--split", &task.split, "--predictions"])
            .arg(super::state::relative(&context.out, &dir).join(distill::PREDICTIONS_FILE))
            .args(["--model", &model, "--run-id", run_id])
            .args(["--out", "eval"]);
        context.data_dir_args(&mut score);
        context.run(score, &format!("r2l score --task {task_name} ({run_id})"))?;
        if !run_dir.join(harness::runner::MANIFEST_FILE).is_file() {
            bail!(
                "r2l score --task {task_name} wrote no run log in {}",
                run_dir.display()
            );
        }
        runs.insert(
            task_name.clone(),
            json!(super::state::relative(&context.out, &run_dir)),
        );
        let stats_path = dir.join(distill::STATS_FILE);
        let stats: Value = serde_json::from_str(
            &std::fs::read_to_string(&stats_path)
                .with_context(|| format!("reading {}", stats_path.display()))?,
        )
        .with_context(|| format!("{}: not JSON", stats_path.display()))?;
        costs.insert(
            task_name.clone(),
            json!({
                "calls_per_question": stats["calls_per_question"],
                "tokens_per_question": stats["tokens_per_question"],
            }),
        );
    }
    Ok(json!({ "model": model, "runs": runs, "costs": costs }))
}

/// `r2l data sft`: the gold answers of `limit` samples (None: all) of the task and split
/// `config` distils, sampled with its seed, into `out/<file>`. Returns the record count and hash.
pub fn gold_sft(
    context: &StepContext,
    file: &str,
    config: &DistillConfig,
    limit: Option<usize>,
) -> Result<Value> {
    let path = context.out.join(file);
    let mut command = context.command("data");
    command
        .args(["sft", "--task", &config.task, "--split", &config.split])
        .args(["--sample-seed", &config.sample_seed.to_string()])
        .arg("--out")
        .arg(&path);
    if let Some(limit) = limit {
        command.args(["--limit", &limit.to_string()]);
    }
    context.data_dir_args(&mut command);
    context.run(command, "r2l data sft")?;
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(json!({
        "file": file,
        "sft_records": lines_in(&bytes),
        "sft_sha256": harness::data::sha256_hex(&bytes),
    }))
}

/// `r2l train MODE` of `base` on `data` into `dir`, resuming an interrupted run unless `fresh`.
/// Returns the checkpoint's directory, weights hash and final loss.
pub fn train(
    context: &StepContext,
    mode: &str,
    data: &Path,
    base: &str,
    dir: &Path,
    config: &TrainConfig,
    fresh: bool,
) -> Result<Value> {
    if fresh {
        remove_dir(dir)?;
    }
    let mut command = context.command("train");
    command
        .arg(mode)
        .arg("--data")
        .arg(data)
        .args(["--base", base])
        .arg("--out")
        .arg(dir)
        .args(["--epochs", &config.epochs.to_string()])
        .args(["--batch", &config.batch.to_string()])
        .args(["--grad-accum", &config.grad_accum.to_string()])
        .args(["--seed", &config.seed.to_string()]);
    if config.lora_rank == 0 {
        command.arg("--full");
    } else {
        command.args(["--lora-rank", &config.lora_rank.to_string()]);
    }
    if let Some(steps) = config.max_steps {
        command.args(["--max-steps", &steps.to_string()]);
    }
    if let Some(lr) = config.lr {
        command.args(["--lr", &lr.to_string()]);
    }
    if let Some(warmup) = config.warmup_ratio {
        command.args(["--warmup-ratio", &warmup.to_string()]);
    }
    if let Some(backend) = &config.backend {
        command.args(["--backend", backend]);
    }
    if let Some(python) = &config.python {
        command.arg("--python").arg(python);
    }
    if let Some(accelerate) = &config.accelerate_config {
        command.arg("--accelerate-config").arg(accelerate);
    }
    run_training(context, command, mode, dir)
}

/// What an RL step trains: the policy (a `--policy` argument), its prompts, its PRM.
pub struct Rl<'a> {
    /// The task and split whose questions are the prompts.
    pub distill: &'a DistillConfig,
    /// `default` or a checkpoint directory.
    pub policy: &'a str,
    /// The PRM checkpoint; None = the verifiable reward alone.
    pub prm: Option<&'a Path>,
    /// The checkpoint directory written.
    pub dir: &'a Path,
}

/// `r2l train grpo` of `rl.policy` into `rl.dir`, resuming an interrupted run unless `fresh`.
/// Returns the checkpoint's directory, weights hash and final loss.
pub fn rl(context: &StepContext, rl: &Rl, config: &RlConfig, fresh: bool) -> Result<Value> {
    if fresh {
        remove_dir(rl.dir)?;
    }
    let mut command = context.command("train");
    command
        .arg("grpo")
        .args(["--task", &rl.distill.task, "--split", &rl.distill.split])
        .args(["--policy", rl.policy])
        .arg("--out")
        .arg(rl.dir)
        .args(["--group", &config.group.to_string()])
        .args(["--advantage", &config.advantage])
        .args(["--kl", &config.kl.to_string()])
        .args(["--temperature", &config.temperature.to_string()])
        .args(["--max-new-tokens", &config.max_new_tokens.to_string()])
        .args(["--seed", &config.seed.to_string()])
        .args(["--epochs", "1", "--batch", "1"]);
    match rl.prm {
        Some(prm) => command.arg("--prm").arg(prm),
        None => command.arg("--verifiable-only"),
    };
    if config.lora_rank == 0 {
        command.arg("--full");
    } else {
        command.args(["--lora-rank", &config.lora_rank.to_string()]);
    }
    for (flag, value) in [
        ("--limit", config.limit.map(|n| n.to_string())),
        ("--max-steps", config.max_steps.map(|n| n.to_string())),
        ("--lr", config.lr.map(|x| x.to_string())),
    ] {
        if let Some(value) = value {
            command.args([flag, &value]);
        }
    }
    context.data_dir_args(&mut command);
    run_training(context, command, "grpo", rl.dir)
}

/// Runs a prepared `r2l train` command into `dir` (resuming the interrupted run there, else
/// replacing what a run with other inputs left); returns the checkpoint's directory, weights
/// hash and final loss.
fn run_training(
    context: &StepContext,
    mut command: Command,
    mode: &str,
    dir: &Path,
) -> Result<Value> {
    if distill::student::resume_point_exists(dir) {
        eprintln!("  resuming the interrupted training in {}", dir.display());
        command.arg("--resume");
    } else {
        // A checkpoint finished with other inputs is replaced.
        remove_dir(dir)?;
    }
    context.run(command, &format!("r2l train {mode}"))?;
    let training: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("training.json"))
            .with_context(|| format!("reading {}/training.json", dir.display()))?,
    )?;
    let weights_sha256 = checkpoint::weights_sha256(dir)
        .with_context(|| format!("hashing the weights of {}", dir.display()))?;
    Ok(json!({
        "dir": super::state::relative(&context.out, dir),
        "weights_sha256": weights_sha256,
        "final_loss": training.get("final_loss").cloned().unwrap_or(Value::Null),
    }))
}

/// Records `r2l train MODE` can learn from in `path`: its non-empty lines, or for a PRM the
/// stepwise rows holding both a correct and an incorrect step (the only ones it trains on).
pub fn trainable_records(mode: &str, path: &Path) -> Result<usize> {
    if mode == "prm" {
        let rows = distill::student::read_stepwise(path, true)?;
        return Ok(rows.iter().filter(|row| row.is_mixed()).count());
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(lines_in(&bytes))
}

fn lines_in(bytes: &[u8]) -> usize {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
}

/// Removes a directory left by an earlier attempt, if there is one.
fn remove_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    Ok(())
}
