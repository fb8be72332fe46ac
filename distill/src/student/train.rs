//! The training loop: steps of accumulated micro-batches (the objective computes each step's
//! gradient), clipping, AdamW on a warmup + cosine schedule, one `train_log.jsonl` line per
//! step, resume points (the loop's whole mutable state is the [`ResumeState`] it saves), and
//! the objective's export.
//!
//! Everything random is a function of the seed and the step (data order, dropout masks,
//! adapter initialisation), so a run resumed from a resume point computes exactly what the
//! uninterrupted run would have (for the same thread count).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

use super::batch::step_examples;
use super::export::{Base, TRAINING_FILE};
use super::grads::Grads;
use super::log::TrainLog;
use super::model::{Llama, Tuning};
use super::objective;
use super::optimizer::{clip_scale, grad_norm, learning_rate, AdamW};
use super::options::TrainOptions;
use super::resume::{self, ResumeState};
use crate::error::{io_error, Error, Result};

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// The output directory.
    pub out: PathBuf,
    /// Optimizer steps done (over all sessions of the run).
    pub steps: usize,
    /// Steps the run has in all.
    pub total_steps: usize,
    /// Loss of the last step.
    pub final_loss: Option<f64>,
    /// Stopped early (a resume point was saved; no checkpoint exported yet).
    pub interrupted: bool,
    /// Examples in the data.
    pub examples: usize,
    /// Tokens processed over all sessions.
    pub tokens: u64,
}

/// Trains as `options` says and exports the checkpoint (or, when stopped, saves a resume point).
pub fn train(options: &TrainOptions) -> Result<TrainReport> {
    options.validate()?;
    let out = &options.out;
    if !options.resume {
        if resume::exists(out) {
            return Err(Error::InvalidInput(format!(
                "{} holds an unfinished run: continue it with --resume, or choose another --out",
                out.display()
            )));
        }
        if out.join(TRAINING_FILE).is_file() {
            return Err(Error::InvalidInput(format!(
                "{} holds a trained checkpoint already: choose another --out",
                out.display()
            )));
        }
    } else if !resume::exists(out) {
        return Err(Error::InvalidInput(format!(
            "--resume: {} has no resume point{}",
            out.display(),
            if out.join(TRAINING_FILE).is_file() {
                " (the run is complete)"
            } else {
                ""
            }
        )));
    }
    let base = Base::open(&options.base)?;
    let mut objective = objective::build(options, &base)?;
    let data = objective.data_identity(options)?;
    let fingerprint = fingerprint(options, &base, &data)?;
    let lora = match &options.tuning {
        Tuning::Lora(lora) => Some(lora),
        Tuning::Full => None,
    };
    let tensors = checkpoint::load_weights(&base.dir)?;
    let model = Llama::from_tensors(&base.config, tensors, lora, options.seed).map_err(|e| {
        Error::Checkpoint(checkpoint::Error::Weights {
            path: base.dir.clone(),
            message: format!("does not fit its config.json: {e}"),
        })
    })?;
    std::fs::create_dir_all(out).map_err(io_error(out))?;
    objective.prepare(&model, options, &fingerprint)?;

    let mut trained = if objective.trains_model() {
        model.trained(&options.tuning)
    } else {
        Vec::new()
    };
    trained.extend(objective.own_trained());
    let mut optimizer = AdamW::new(options.adamw, &trained);
    let mut grads = Grads::new(trained.iter().map(|(_, t)| t));
    let mut state = if options.resume {
        resume::restore(out, &fingerprint, &trained, &mut optimizer)?
    } else {
        ResumeState {
            step: 0,
            fingerprint: fingerprint.clone(),
            threads: rayon::current_num_threads(),
            last_loss: None,
            tokens: 0,
            elapsed_s: 0.0,
        }
    };
    state.threads = rayon::current_num_threads();
    let examples = objective.examples();
    let per_step = options.batch * options.grad_accum;
    let steps_per_epoch = examples.div_ceil(per_step);
    let total_steps = options
        .max_steps
        .unwrap_or(options.epochs * steps_per_epoch);
    let warmup = (options.warmup_ratio * total_steps as f64).ceil() as usize;
    let mut log = TrainLog::open(&out.join(super::log::TRAIN_LOG_FILE), state.step)?;
    let bar = progress_bar(options.progress, total_steps, state.step);

    let mut interrupted = false;
    while state.step < total_steps {
        if options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
        {
            interrupted = true;
            break;
        }
        let started = Instant::now();
        let step = state.step;
        let picked = step_examples(
            examples,
            options.batch,
            options.grad_accum,
            options.seed,
            step,
        );
        let step_seed = options.seed ^ (step as u64).wrapping_mul(0xd6e8_feb8_6659_fd93);
        grads.clear();
        let stats = objective.step(&model, &picked, &mut grads, step_seed)?;
        let norm = grad_norm(&trained, &grads)?;
        let lr = learning_rate(options.lr, step, warmup, total_steps);
        optimizer.step(
            &trained,
            &grads,
            lr,
            clip_scale(norm, options.max_grad_norm),
        )?;
        let seconds = started.elapsed().as_secs_f64();
        state.step += 1;
        state.elapsed_s += seconds;
        state.tokens += stats.tokens as u64;
        state.last_loss = Some(stats.loss);
        let tokens_per_s = stats.tokens as f64 / seconds.max(1e-9);
        let mut line = json!({
            "step": state.step,
            "epoch": state.step as f64 / steps_per_epoch as f64,
            "loss": stats.loss,
            "lr": lr,
            "grad_norm": norm,
            "tokens": stats.tokens,
            "tokens_per_s": tokens_per_s,
            "step_s": seconds,
        });
        if let Some(map) = line.as_object_mut() {
            map.extend(stats.extra);
        }
        log.append(&line)?;
        bar.set_position(state.step as u64);
        bar.set_message(format!("loss {:.4} · {tokens_per_s:.0} tok/s", stats.loss));
        if state.step % options.save_steps == 0 && state.step < total_steps {
            resume::save(out, &state, &trained, &optimizer)?;
        }
    }
    bar.finish_and_clear();
    if interrupted {
        resume::save(out, &state, &trained, &optimizer)?;
    } else {
        let training = json!({
            "base": {"path": base.dir.display().to_string(), "sha256": base.weights_sha256()?},
            "data": data,
            "examples": objective.summary(),
            "hyperparameters": options.settings(),
            "threads": rayon::current_num_threads(),
            "git_rev": harness::runner::git_revision(),
            "steps": state.step,
            "tokens": state.tokens,
            "train_seconds": state.elapsed_s,
            "final_loss": state.last_loss,
        });
        objective.export(&model, &base, out, &training)?;
        resume::remove(out)?;
    }
    Ok(TrainReport {
        out: out.clone(),
        steps: state.step,
        total_steps,
        final_loss: state.last_loss,
        interrupted,
        examples,
        tokens: state.tokens,
    })
}

/// The run's settings plus the identities of its data and base weights.
fn fingerprint(options: &TrainOptions, base: &Base, data: &Value) -> Result<Value> {
    let mut value = options.settings();
    if let Some(map) = value.as_object_mut() {
        match data.get("sha256") {
            Some(sha) => map.insert("data_sha256".into(), sha.clone()),
            None => map.insert("data".into(), data.clone()),
        };
        map.insert("base_sha256".into(), base.weights_sha256()?.into());
    }
    Ok(value)
}

fn progress_bar(visible: bool, total: usize, done: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total as u64),
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) = ProgressStyle::with_template(
        "train [{elapsed_precise}] {wide_bar} {pos}/{len} steps, ETA {eta} · {msg}",
    ) {
        bar.set_style(style);
    }
    bar.set_position(done as u64);
    bar
}
