//! What a training run does: objective, data, base model, output, and every hyper-parameter,
//! with D&R's defaults.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde_json::{json, Value};

use super::lora::{LoraConfig, LORA_MODULES};
use super::model::Tuning;
use super::optimizer::AdamWConfig;
use crate::error::{Error, Result};

/// Which training objective a run uses, with its own settings (the objective itself is an
/// [`super::objective::Objective`], built from this).
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectiveKind {
    /// Supervised fine-tuning on `sft.jsonl` (loss on assistant tokens).
    Sft,
    /// DPO on `dpo.jsonl` against the starting model.
    Dpo {
        /// Strength of the KL regularisation (TRL's `beta`).
        beta: f64,
        /// Most prompt tokens (longer prompts are cut, see the tokenizer's rule).
        max_prompt_length: usize,
    },
    /// A process reward model on stepwise rows (`stepwise.jsonl`).
    Prm(PrmSettings),
    /// RL on a task's questions (GRPO/RLOO, verifiable reward, optionally a PRM's).
    Grpo(Box<super::grpo::GrpoSettings>),
}

/// A PRM run's own settings (AgentArk's `prm/finetune2.py` over TRL's `PRMConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrmSettings {
    /// Written after every step (TRL's `step_separator`).
    pub separator: String,
    /// Train only the head (AgentArk's `fix_llm`).
    pub freeze_backbone: bool,
    /// Weight of the contrastive term (0 = off).
    pub contrastive: f64,
    /// Most prompt tokens (the prompt keeps its end).
    pub max_prompt_length: usize,
    /// Most step tokens, when limited.
    pub max_completion_length: Option<usize>,
}

impl Default for PrmSettings {
    /// TRL's separator and prompt limit, AgentArk's contrastive weight, backbone trained.
    fn default() -> PrmSettings {
        PrmSettings {
            separator: super::stepwise::STEP_SEPARATOR.to_string(),
            freeze_backbone: false,
            contrastive: super::contrastive::DEFAULT_WEIGHT,
            max_prompt_length: super::stepwise::PRM_MAX_PROMPT_LENGTH,
            max_completion_length: None,
        }
    }
}

/// SFT's default learning rate (D&R, LoRA).
pub const SFT_LR: f64 = 2e-4;
/// DPO's default learning rate (TRL's LoRA DPO examples).
pub const DPO_LR: f64 = 5e-6;
/// DPO's default β (D&R, TRL).
pub const DPO_BETA: f64 = 0.1;
/// SFT's default longest sequence (TRL's `max_length`), tokens.
pub const SFT_MAX_LENGTH: usize = 1024;
/// DPO's default longest prompt + completion (D&R), tokens.
pub const DPO_MAX_LENGTH: usize = 1600;
/// DPO's default longest prompt (D&R), tokens.
pub const DPO_MAX_PROMPT_LENGTH: usize = 1000;
/// The PRM's default learning rate (AgentArk's README).
pub const PRM_LR: f64 = 1e-4;

/// A training run.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// SFT or DPO.
    pub objective: ObjectiveKind,
    /// The TRL-format JSONL file.
    pub data: PathBuf,
    /// The base checkpoint directory.
    pub base: PathBuf,
    /// The output checkpoint directory.
    pub out: PathBuf,
    /// LoRA or full fine-tuning.
    pub tuning: Tuning,
    /// Passes over the data.
    pub epochs: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Examples per micro-batch (DPO: pairs).
    pub batch: usize,
    /// Micro-batches per optimizer step (effective batch = `batch * grad_accum`).
    pub grad_accum: usize,
    /// Stop after this many optimizer steps (the schedule then spans them).
    pub max_steps: Option<usize>,
    /// Seeds data order, adapter initialisation and dropout.
    pub seed: u64,
    /// Longest sequence, tokens (SFT: longer is an error; DPO: completions are cut).
    pub max_length: usize,
    /// Share of the steps spent warming the learning rate up linearly.
    pub warmup_ratio: f64,
    /// AdamW's moments, epsilon and weight decay.
    pub adamw: AdamWConfig,
    /// Gradients are scaled down to this global L2 norm (0 = no clipping).
    pub max_grad_norm: f64,
    /// Save a resume point every this many steps (and on interruption).
    pub save_steps: usize,
    /// Continue from the resume point in `out`.
    pub resume: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Set (e.g. by Ctrl-C) to stop after the current step, saving a resume point.
    pub stop: Option<Arc<AtomicBool>>,
}

impl TrainOptions {
    /// SFT with D&R's defaults: LoRA r16/α32 (all projections, dropout 0.05), lr 2e-4,
    /// 2 epochs, batch 4 (no accumulation), warmup 3 %, clipping at 1.0, seed 0.
    pub fn sft(
        data: impl Into<PathBuf>,
        base: impl Into<PathBuf>,
        out: impl Into<PathBuf>,
    ) -> TrainOptions {
        TrainOptions {
            objective: ObjectiveKind::Sft,
            data: data.into(),
            base: base.into(),
            out: out.into(),
            tuning: Tuning::Lora(LoraConfig::default()),
            epochs: 2,
            lr: SFT_LR,
            batch: 4,
            grad_accum: 1,
            max_steps: None,
            seed: 0,
            max_length: SFT_MAX_LENGTH,
            warmup_ratio: 0.03,
            adamw: AdamWConfig::default(),
            max_grad_norm: 1.0,
            save_steps: 100,
            resume: false,
            progress: false,
            stop: None,
        }
    }

    /// DPO with the same defaults but β 0.1, lr 5e-6, max_length 1600, max_prompt_length 1000.
    pub fn dpo(
        data: impl Into<PathBuf>,
        base: impl Into<PathBuf>,
        out: impl Into<PathBuf>,
    ) -> TrainOptions {
        TrainOptions {
            objective: ObjectiveKind::Dpo {
                beta: DPO_BETA,
                max_prompt_length: DPO_MAX_PROMPT_LENGTH,
            },
            lr: DPO_LR,
            max_length: DPO_MAX_LENGTH,
            ..TrainOptions::sft(data, base, out)
        }
    }

    /// A PRM with AgentArk's README settings: 3 epochs, lr 1e-4, weight decay 0.1, Adam β2 0.95,
    /// no warmup; TRL's `max_length` 1024.
    pub fn prm(
        data: impl Into<PathBuf>,
        base: impl Into<PathBuf>,
        out: impl Into<PathBuf>,
    ) -> TrainOptions {
        let sft = TrainOptions::sft(data, base, out);
        TrainOptions {
            objective: ObjectiveKind::Prm(PrmSettings::default()),
            epochs: 3,
            lr: PRM_LR,
            warmup_ratio: 0.0,
            max_length: super::stepwise::PRM_MAX_LENGTH,
            adamw: AdamWConfig {
                beta2: 0.95,
                weight_decay: 0.1,
                ..sft.adamw
            },
            ..sft
        }
    }

    /// RL on `settings`' task from the policy `base`, AgentArk's actor settings: lr 5e-7,
    /// one epoch, one prompt (a group of answers) per step.
    pub fn grpo(
        settings: super::grpo::GrpoSettings,
        base: impl Into<PathBuf>,
        out: impl Into<PathBuf>,
    ) -> TrainOptions {
        TrainOptions {
            objective: ObjectiveKind::Grpo(Box::new(settings)),
            epochs: 1,
            lr: super::grpo::GRPO_LR,
            batch: 1,
            ..TrainOptions::sft(PathBuf::new(), base, out)
        }
    }

    /// Checks values a run cannot start with, naming the flag.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |flag: &str, message: &str| Err(Error::InvalidInput(format!("{flag}: {message}")));
        if self.batch == 0 {
            return bad("--batch", "must be at least 1");
        }
        if self.grad_accum == 0 {
            return bad("--grad-accum", "must be at least 1");
        }
        if self.epochs == 0 {
            return bad("--epochs", "must be at least 1");
        }
        if self.max_steps == Some(0) {
            return bad("--max-steps", "must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("--lr", "must be a positive number");
        }
        if self.max_length < 2 {
            return bad("--max-length", "must be at least 2 tokens");
        }
        if !(0.0..1.0).contains(&self.warmup_ratio) {
            return bad("--warmup-ratio", "must be in [0, 1)");
        }
        if self.save_steps == 0 {
            return bad("--save-steps", "must be at least 1");
        }
        if let Tuning::Lora(lora) = &self.tuning {
            if lora.rank == 0 {
                return bad("--lora-rank", "must be at least 1");
            }
            if !(0.0..1.0).contains(&lora.dropout) {
                return bad("--lora-dropout", "must be in [0, 1)");
            }
            if lora.targets.is_empty() {
                return bad("--lora-targets", "names no module");
            }
            if let Some(t) = lora
                .targets
                .iter()
                .find(|t| !LORA_MODULES.contains(&t.as_str()))
            {
                return Err(Error::InvalidInput(format!(
                    "--lora-targets: unknown module `{t}`; valid: {}",
                    LORA_MODULES.join(", ")
                )));
            }
        }
        if let ObjectiveKind::Prm(prm) = &self.objective {
            if prm.separator.is_empty() {
                return bad("--separator", "must not be empty");
            }
            if !(prm.contrastive.is_finite() && prm.contrastive >= 0.0) {
                return bad("--contrastive", "must be a number >= 0");
            }
            if prm.max_prompt_length == 0 || prm.max_prompt_length >= self.max_length {
                return bad(
                    "--max-prompt-length",
                    "must be at least 1 and below --max-length",
                );
            }
        }
        if let ObjectiveKind::Dpo {
            beta,
            max_prompt_length,
        } = self.objective
        {
            if !(beta.is_finite() && beta > 0.0) {
                return bad("--beta", "must be a positive number");
            }
            if max_prompt_length == 0 || max_prompt_length >= self.max_length {
                return bad(
                    "--max-prompt-length",
                    "must be at least 1 and below --max-length",
                );
            }
        }
        Ok(())
    }

    /// Every setting that changes what the run computes (the resume fingerprint, and the
    /// hyper-parameters of `training.json`).
    pub fn settings(&self) -> Value {
        // `own`: the objective's own settings (PRM, GRPO).
        let (objective, beta, max_prompt_length, own) = match &self.objective {
            ObjectiveKind::Sft => ("sft", None, None, Value::Null),
            ObjectiveKind::Dpo {
                beta,
                max_prompt_length,
            } => ("dpo", Some(*beta), Some(*max_prompt_length), Value::Null),
            ObjectiveKind::Prm(prm) => ("prm", None, None, super::prm::settings_json(prm)),
            ObjectiveKind::Grpo(grpo) => ("grpo", None, None, grpo.to_json()),
        };
        let (tuning, lora) = match &self.tuning {
            Tuning::Full => ("full", Value::Null),
            Tuning::Lora(lora) => ("lora", json!(lora)),
        };
        json!({
            "objective": objective,
            "tuning": tuning,
            "lora": lora,
            "epochs": self.epochs,
            "lr": self.lr,
            "lr_schedule": "linear warmup, cosine decay to 0",
            "warmup_ratio": self.warmup_ratio,
            "batch": self.batch,
            "grad_accum": self.grad_accum,
            "effective_batch": self.batch * self.grad_accum,
            "max_steps": self.max_steps,
            "seed": self.seed,
            "max_length": self.max_length,
            "max_prompt_length": max_prompt_length,
            "beta": beta,
            "prm": if objective == "prm" { own.clone() } else { Value::Null },
            "grpo": if objective == "grpo" { own } else { Value::Null },
            "optimizer": "adamw",
            "adamw": self.adamw,
            "max_grad_norm": self.max_grad_norm,
        })
    }
}
