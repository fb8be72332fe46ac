//! The training loop: steps of accumulated micro-batches, clipping, AdamW on a warmup + cosine
//! schedule, one `train_log.jsonl` line per step, resume points, and the final export.
//!
//! Everything random is a function of the seed and the step (data order, dropout masks,
//! adapter initialisation), so a run resumed from a resume point computes exactly what the
//! uninterrupted run would have (for the same thread count).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

use super::batch::{step_examples, Packed};
use super::dpo::{dpo_step, pack_pairs, sequence_logprobs, PairRef};
use super::examples::{load_examples, Examples};
use super::export::{export, Base, TRAINING_FILE};
use super::grads::Grads;
use super::log::TrainLog;
use super::model::{Llama, Tuning};
use super::optimizer::{clip_scale, grad_norm, learning_rate, AdamW};
use super::options::{Objective, TrainOptions};
use super::resume::{self, ResumeState};
use super::sft::sft_step;
use crate::error::{io_error, Error, Result};

/// The DPO reference log-probabilities, cached beside the output.
pub const REFERENCE_FILE: &str = "reference_logps.json";

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
    let examples = load_examples(
        options,
        &base.tokenizer,
        base.template.as_ref(),
        base.eos(),
        base.config.max_position_embeddings,
    )?;
    let fingerprint = fingerprint(options, &base)?;
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
    let references = match &examples {
        Examples::Dpo(pairs) => Some(reference_logprobs(&model, pairs, options, &fingerprint)?),
        Examples::Sft(_) => None,
    };

    let trained = model.trained(&options.tuning);
    let mut optimizer = AdamW::new(options.adamw, &trained);
    let mut grads = Grads::new(trained.iter().map(|(_, t)| t));
    let state = if options.resume {
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
    let per_step = options.batch * options.grad_accum;
    let steps_per_epoch = examples.len().div_ceil(per_step);
    let total_steps = options
        .max_steps
        .unwrap_or(options.epochs * steps_per_epoch);
    let warmup = (options.warmup_ratio * total_steps as f64).ceil() as usize;
    let mut log = TrainLog::open(&out.join(super::log::TRAIN_LOG_FILE), state.step)?;
    let bar = progress_bar(options.progress, total_steps, state.step);

    let mut step = state.step;
    let mut last_loss = state.last_loss;
    let mut tokens_total = state.tokens;
    let mut elapsed = state.elapsed_s;
    let mut interrupted = false;
    while step < total_steps {
        if options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
        {
            interrupted = true;
            break;
        }
        let started = Instant::now();
        let picked = step_examples(
            examples.len(),
            options.batch,
            options.grad_accum,
            options.seed,
            step,
        );
        let step_seed = options.seed ^ (step as u64).wrapping_mul(0xd6e8_feb8_6659_fd93);
        grads.clear();
        let (loss, tokens, extra) = match (&examples, &options.objective) {
            (Examples::Sft(sequences), _) => {
                let micro: Vec<Packed> = picked
                    .iter()
                    .map(|ids| Packed::new(ids.iter().map(|&i| &sequences[i])))
                    .collect();
                let s = sft_step(&model, &micro, &mut grads, step_seed)?;
                (s.loss, s.tokens, json!({}))
            }
            (Examples::Dpo(pairs), Objective::Dpo { beta, .. }) => {
                let refs = references.as_deref().unwrap_or_default();
                let micro: Vec<(Packed, Vec<PairRef>)> = picked
                    .iter()
                    .map(|ids| {
                        let chosen: Vec<_> = ids.iter().map(|&i| &pairs[i]).collect();
                        (pack_pairs(&chosen), ids.iter().map(|&i| refs[i]).collect())
                    })
                    .collect();
                let s = dpo_step(&model, &micro, *beta, &mut grads, step_seed)?;
                let extra = json!({
                    "rewards_chosen": s.rewards_chosen, "rewards_rejected": s.rewards_rejected,
                    "margin": s.margin, "accuracy": s.accuracy,
                });
                (s.loss, s.tokens, extra)
            }
            (Examples::Dpo(_), Objective::Sft) => {
                return Err(Error::Fatal("DPO examples for an SFT run".to_string()))
            }
        };
        let norm = grad_norm(&trained, &grads)?;
        let lr = learning_rate(options.lr, step, warmup, total_steps);
        optimizer.step(
            &trained,
            &grads,
            lr,
            clip_scale(norm, options.max_grad_norm),
        )?;
        step += 1;
        let seconds = started.elapsed().as_secs_f64();
        elapsed += seconds;
        tokens_total += tokens as u64;
        last_loss = Some(loss);
        let tokens_per_s = tokens as f64 / seconds.max(1e-9);
        let mut line = json!({
            "step": step,
            "epoch": step as f64 / steps_per_epoch as f64,
            "loss": loss,
            "lr": lr,
            "grad_norm": norm,
            "tokens": tokens,
            "tokens_per_s": tokens_per_s,
            "step_s": seconds,
        });
        if let (Some(map), Value::Object(extra)) = (line.as_object_mut(), extra) {
            map.extend(extra);
        }
        log.append(&line)?;
        bar.set_position(step as u64);
        bar.set_message(format!("loss {loss:.4} · {tokens_per_s:.0} tok/s"));
        if step % options.save_steps == 0 && step < total_steps {
            save_point(
                options,
                &fingerprint,
                step,
                last_loss,
                tokens_total,
                elapsed,
                &trained,
                &optimizer,
            )?;
        }
    }
    bar.finish_and_clear();
    if interrupted {
        save_point(
            options,
            &fingerprint,
            step,
            last_loss,
            tokens_total,
            elapsed,
            &trained,
            &optimizer,
        )?;
    } else {
        let training = json!({
            "base": {"path": base.dir.display().to_string(), "sha256": base.weights_sha256()?},
            "data": {"path": options.data.display().to_string(), "sha256": checkpoint::file_sha256(&options.data)?},
            "examples": examples.summary(),
            "hyperparameters": options.settings(),
            "threads": rayon::current_num_threads(),
            "git_rev": harness::runner::git_revision(),
            "steps": step,
            "tokens": tokens_total,
            "train_seconds": elapsed,
            "final_loss": last_loss,
        });
        export(&model, &base, out, &training)?;
        resume::remove(out)?;
    }
    Ok(TrainReport {
        out: out.clone(),
        steps: step,
        total_steps,
        final_loss: last_loss,
        interrupted,
        examples: examples.len(),
        tokens: tokens_total,
    })
}

#[allow(clippy::too_many_arguments)]
fn save_point(
    options: &TrainOptions,
    fingerprint: &Value,
    step: usize,
    last_loss: Option<f64>,
    tokens: u64,
    elapsed_s: f64,
    trained: &[(String, candle_core::Tensor)],
    optimizer: &AdamW,
) -> Result<()> {
    let state = ResumeState {
        step,
        fingerprint: fingerprint.clone(),
        threads: rayon::current_num_threads(),
        last_loss,
        tokens,
        elapsed_s,
    };
    resume::save(&options.out, &state, trained, optimizer)
}

/// The run's settings plus the hashes of its data and base weights.
fn fingerprint(options: &TrainOptions, base: &Base) -> Result<Value> {
    let mut value = options.settings();
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "data_sha256".into(),
            checkpoint::file_sha256(&options.data)?.into(),
        );
        map.insert("base_sha256".into(), base.weights_sha256()?.into());
    }
    Ok(value)
}

/// The reference log-probabilities of every pair under the starting model: read from
/// `out/reference_logps.json` when a previous session of this run computed them, else
/// computed now (batch by batch, without dropout) and written there.
fn reference_logprobs(
    model: &Llama,
    pairs: &[super::tokenize::Pair],
    options: &TrainOptions,
    fingerprint: &Value,
) -> Result<Vec<PairRef>> {
    let path = options.out.join(REFERENCE_FILE);
    if path.is_file() {
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        let saved: Value = serde_json::from_str(&text).map_err(|e| Error::Resume {
            dir: options.out.clone(),
            message: format!("{REFERENCE_FILE}: {e}"),
        })?;
        if saved.get("fingerprint") == Some(fingerprint) {
            let refs: Vec<PairRef> =
                serde_json::from_value(saved["pairs"].clone()).map_err(|e| Error::Resume {
                    dir: options.out.clone(),
                    message: format!("{REFERENCE_FILE}: {e}"),
                })?;
            if refs.len() == pairs.len() {
                return Ok(refs);
            }
        }
    }
    let mut refs = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(options.batch) {
        let chosen: Vec<_> = chunk.iter().collect();
        let logps = sequence_logprobs(model, &pack_pairs(&chosen))?;
        refs.extend(logps.chunks(2).map(|c| PairRef {
            chosen: c[0],
            rejected: c[1],
        }));
    }
    checkpoint::write_json(&path, &json!({"fingerprint": fingerprint, "pairs": refs}))?;
    Ok(refs)
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
