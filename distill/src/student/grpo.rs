//! AgentArk's process-aware RL on the student (`openrlhf/cli/train_grpo_ray.py`, TRL's
//! `GRPOTrainer` with a PRM reward): for each prompt the policy samples a group of answers with
//! its own generation (KV cache, temperature, nucleus, seeded); each answer's reward is the
//! task's verifiable reward (±1 from the task's own parser and judge) plus, with a PRM, the soft
//! minimum of its steps' `P(correct) − P(incorrect)` (steps end at every token whose text ends
//! in "\n\n"; an unfinished last step is not scored, as AgentArk); advantages within the group
//! (RLOO or GRPO's z-score); then one clipped policy-gradient step with the k3 KL to the frozen
//! starting policy, the loss averaged over each answer's tokens and then over answers (TRL's
//! `loss_type="grpo"`). One update per rollout (TRL's `num_iterations = 1`), so the ratio is 1
//! at the update and the clipping only matters for the finite-difference test's general case.

use std::path::PathBuf;

use candle_core::Result as CandleResult;
use harness::data::Sample;
use harness::task::{messages, resolve_task, select, Task};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::batch::Packed;
use super::export::Base;
use super::generate::{generate_sampled_group, Sampling};
use super::grads::Grads;
use super::grpo_math::{
    advantages, kl_k3, soft_min_reward, step_reward, token_loss, verifiable_reward, Advantage,
    SOFT_MIN_TEMPERATURE,
};
use super::linear::Pass;
use super::model::{token_logprobs, Llama};
use super::objective::{Objective, StepStats};
use super::options::TrainOptions;
use super::prm_model::{tokenizer_sha256, PrmModel};
use super::tokenize::{turns, Sequence};
use crate::error::{Error, Result};
use crate::protocols::reasoning::{judge_text, reasoning_kind};
use crate::protocols::task_question;

/// AgentArk's actor learning rate.
pub const GRPO_LR: f64 = 5e-7;

/// A GRPO run's own settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpoSettings {
    /// The task (a built-in name or a TOML) whose questions are the prompts.
    pub task: String,
    /// Its split.
    pub split: String,
    /// Questions used (a seeded selection), all when None.
    pub limit: Option<usize>,
    /// Where the datasets are.
    pub data_dir: PathBuf,
    /// A PRM checkpoint for the process reward; without one only the verifiable reward counts.
    pub prm: Option<PathBuf>,
    /// Answers sampled per prompt (≥ 2).
    pub group: usize,
    /// RLOO or GRPO advantages.
    pub advantage: Advantage,
    /// β of the KL to the starting policy.
    pub kl: f64,
    /// Rollout sampling.
    pub sampling: Sampling,
    /// Longest answer, tokens.
    pub max_new_tokens: usize,
    /// Weight of the verifiable reward.
    pub verifiable_coef: f64,
}

impl GrpoSettings {
    /// AgentArk's: group 8, GRPO advantages (what TRL's trainer computes), β 0.001,
    /// temperature 0.5, top-p 1, verifiable coefficient 1; 256 new tokens on this CPU.
    pub fn new(task: &str, data_dir: PathBuf) -> GrpoSettings {
        GrpoSettings {
            task: task.to_string(),
            split: "train".to_string(),
            limit: None,
            data_dir,
            prm: None,
            group: 8,
            advantage: Advantage::Grpo,
            kl: 0.001,
            sampling: Sampling {
                temperature: 0.5,
                top_p: 1.0,
            },
            max_new_tokens: 256,
            verifiable_coef: 1.0,
        }
    }

    /// The settings for `training.json` and the resume fingerprint.
    pub fn to_json(&self) -> Value {
        json!({
            "task": self.task, "split": self.split, "limit": self.limit,
            "prm": self.prm.as_ref().map(|p| p.display().to_string()),
            "group": self.group,
            "advantage": match self.advantage { Advantage::Rloo => "rloo", Advantage::Grpo => "grpo" },
            "kl": self.kl, "temperature": self.sampling.temperature, "top_p": self.sampling.top_p,
            "max_new_tokens": self.max_new_tokens, "verifiable_coef": self.verifiable_coef,
            "soft_min_temperature": SOFT_MIN_TEMPERATURE,
        })
    }
}

/// One micro-batch of rollouts: packed prompt + answer sequences (answers learnt), each
/// sequence's advantage, the reference's log-probability of every learnt token and, when the
/// rollout came from an older policy, that policy's.
#[derive(Debug, Clone)]
pub struct GrpoBatch {
    /// The sequences.
    pub packed: Packed,
    /// Per sequence.
    pub advantages: Vec<f64>,
    /// Per learnt token.
    pub reference: Vec<f32>,
    /// Per learnt token; None: the current policy's (ratio 1).
    pub old: Option<Vec<f32>>,
}

/// What one GRPO update gave.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GrpoLoss {
    /// The loss.
    pub loss: f64,
    /// Mean k3 KL per learnt token.
    pub kl: f64,
    /// Answers with at least one token.
    pub sequences: usize,
    /// Tokens processed.
    pub tokens: usize,
}

/// Forward and backward of the clipped policy-gradient loss with the KL term over `micro`
/// (one update), accumulating its gradient into `grads`.
pub fn grpo_step(
    model: &Llama,
    micro: &[GrpoBatch],
    beta: f64,
    grads: &mut Grads,
    seed: u64,
) -> CandleResult<GrpoLoss> {
    let mut out = GrpoLoss::default();
    let lengths: Vec<Vec<usize>> = micro
        .iter()
        .map(|b| {
            let mut n = vec![0usize; b.packed.spans.len()];
            for &s in &b.packed.target_sequence {
                n[s] += 1;
            }
            n
        })
        .collect();
    out.sequences = lengths.iter().flatten().filter(|&&n| n > 0).count();
    let total_targets: usize = micro.iter().map(|b| b.packed.targets.len()).sum();
    if out.sequences == 0 {
        candle_core::bail!("a GRPO update without answer tokens");
    }
    for (i, (batch, lengths)) in micro.iter().zip(&lengths).enumerate() {
        let packed = &batch.packed;
        out.tokens += packed.tokens();
        if packed.targets.is_empty() {
            continue;
        }
        if batch.reference.len() != packed.targets.len()
            || batch.advantages.len() != packed.spans.len()
        {
            candle_core::bail!("a GRPO batch whose references or advantages do not fit it");
        }
        let pass = Pass {
            train: true,
            seed: seed.wrapping_mul(0x0100_0000_01b3).wrapping_add(i as u64),
        };
        let (rows, acts) = model.forward_rows(packed, pass)?;
        let first = model.head().run(&rows, &packed.targets, None, grads)?;
        let mut coefs = Vec::with_capacity(packed.targets.len());
        for (t, (&lp, &s)) in first
            .logprobs
            .iter()
            .zip(&packed.target_sequence)
            .enumerate()
        {
            let lp = f64::from(lp);
            let old = batch.old.as_ref().map_or(lp, |o| f64::from(o[t]));
            let reference = f64::from(batch.reference[t]);
            let scale = 1.0 / (lengths[s] as f64 * out.sequences as f64);
            let (loss, d) = token_loss(lp, old, reference, batch.advantages[s], beta);
            out.loss += loss * scale;
            out.kl += kl_k3(lp, reference) / total_targets as f64;
            coefs.push((d * scale) as f32);
        }
        model.backward_through_head(acts, packed, rows, &coefs, grads)?;
    }
    Ok(out)
}

/// A prompt: its sample and the policy's tokens of it.
#[derive(Debug)]
struct Prompt {
    sample: Sample,
    ids: Vec<u32>,
    question: String,
}

/// The GRPO objective: examples are the task's questions.
#[derive(Debug)]
pub struct GrpoObjective {
    settings: GrpoSettings,
    task: Task,
    prompts: Vec<Prompt>,
    dataset_sha256: String,
    base: Base,
    reference: Llama,
    prm: Option<PrmModel>,
    step_ends: Vec<bool>,
    stop: Vec<u32>,
}

impl GrpoObjective {
    /// Loads the task's questions, the reference policy and the PRM; checks what a run cannot
    /// start with (a group under 2, a task without a verifiable judge, a PRM of another
    /// tokenizer).
    pub fn load(
        options: &TrainOptions,
        base: &Base,
        settings: &GrpoSettings,
    ) -> Result<GrpoObjective> {
        if settings.group < 2 {
            return Err(Error::InvalidInput(format!(
                "--group {}: advantages within a group need at least 2 answers per prompt",
                settings.group
            )));
        }
        if settings.max_new_tokens == 0 {
            return Err(Error::InvalidInput(
                "--max-new-tokens must be at least 1".to_string(),
            ));
        }
        if !(settings.sampling.temperature > 0.0
            && settings.sampling.top_p > 0.0
            && settings.sampling.top_p <= 1.0)
        {
            return Err(Error::InvalidInput(
                "--temperature must be > 0 and --top-p in (0, 1]".to_string(),
            ));
        }
        let task = resolve_task(&settings.task)?;
        reasoning_kind(&task, "grpo")?;
        task.dataset.check_split(&settings.split)?;
        let prm = match &settings.prm {
            Some(dir) => {
                let prm = PrmModel::load(dir)?;
                let policy = tokenizer_sha256(&base.dir)?;
                if prm.config.tokenizer_sha256 != policy {
                    return Err(Error::InvalidInput(format!(
                        "--prm {}: the PRM was trained with another tokenizer (tokenizer.json sha256 {}) than the policy's ({policy}); train it from the policy's base",
                        dir.display(),
                        prm.config.tokenizer_sha256
                    )));
                }
                Some(prm)
            }
            None => None,
        };
        let template = base.template.as_ref().ok_or_else(|| {
            Error::InvalidInput(format!(
                "--policy {}: the checkpoint has no chat template to render the task's prompts",
                base.dir.display()
            ))
        })?;
        let dataset = task.dataset.load(&settings.split, &settings.data_dir)?;
        let mut prompts = Vec::new();
        for sample in select(&dataset.samples, settings.limit, 0) {
            let chat = messages(&task, &sample, &[]);
            let text = template.render(&turns(&chat), true)?;
            let ids = base.tokenizer.encode(&text)?.ids;
            let question = task_question(&task, &sample);
            prompts.push(Prompt {
                sample,
                ids,
                question,
            });
        }
        if prompts.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{} {}: no question selected",
                task.name, settings.split
            )));
        }
        let step_ends = (0..base.tokenizer.vocab_size() as u32)
            .map(|id| {
                base.tokenizer
                    .decode(&[id], false)
                    .is_ok_and(|t| t.ends_with("\n\n"))
            })
            .collect();
        let reference = Llama::from_tensors(
            &base.config,
            checkpoint::load_weights(&base.dir)?,
            None,
            options.seed,
        )?;
        Ok(GrpoObjective {
            settings: settings.clone(),
            task,
            prompts,
            dataset_sha256: dataset.sha256,
            stop: base.stop_ids(),
            base: base.clone(),
            reference,
            prm,
            step_ends,
        })
    }

    /// The reward of `answer` to `prompt`, and whether its final answer is right.
    fn reward(&self, prompt: &Prompt, answer: &[u32]) -> Result<(f64, bool)> {
        let text = self.base.tokenizer.decode(answer, true)?;
        let correct = judge_text(&self.task, &prompt.sample, "policy", text).correct;
        let mut reward = verifiable_reward(correct, self.settings.verifiable_coef);
        if let Some(prm) = &self.prm {
            let mut steps = Vec::new();
            let mut start = 0;
            for (i, &id) in answer.iter().enumerate() {
                if self.step_ends.get(id as usize).copied().unwrap_or(false) {
                    let step = self.base.tokenizer.decode(&answer[start..=i], true)?;
                    steps.push(step.trim_end_matches('\n').to_string());
                    start = i + 1;
                }
            }
            let p = prm.step_probabilities(&prompt.question, &steps)?;
            let rewards: Vec<f64> = p.into_iter().map(step_reward).collect();
            reward += soft_min_reward(&rewards, SOFT_MIN_TEMPERATURE);
        }
        Ok((reward, correct))
    }
}

impl Objective for GrpoObjective {
    fn examples(&self) -> usize {
        self.prompts.len()
    }

    fn summary(&self) -> Value {
        json!({
            "prompts": self.prompts.len(),
            "prompt_tokens": self.prompts.iter().map(|p| p.ids.len()).sum::<usize>(),
            "step_separator_tokens": self.step_ends.iter().filter(|&&e| e).count(),
        })
    }

    fn data_identity(&self, _options: &TrainOptions) -> Result<Value> {
        Ok(json!({
            "task": self.task.name, "task_version": self.task.version,
            "split": self.settings.split, "limit": self.settings.limit,
            "dataset_sha256": self.dataset_sha256,
        }))
    }

    fn step(
        &self,
        model: &Llama,
        picked: &[Vec<usize>],
        grads: &mut Grads,
        seed: u64,
    ) -> Result<StepStats> {
        let (mut rewards_all, mut right, mut generated) = (Vec::new(), 0usize, 0usize);
        let mut rollout = std::time::Duration::ZERO;
        let mut batches = Vec::with_capacity(picked.len());
        for ids in picked {
            let mut sequences = Vec::new();
            let mut batch_advantages = Vec::new();
            for &k in ids {
                let prompt = &self.prompts[k];
                let mut rewards = Vec::with_capacity(self.settings.group);
                let mut rngs: Vec<ChaCha8Rng> = (0..self.settings.group)
                    .map(|g| {
                        ChaCha8Rng::seed_from_u64(
                            seed ^ ((k as u64) << 20 | g as u64)
                                .wrapping_mul(0x9e37_79b9_7f4a_7c15),
                        )
                    })
                    .collect();
                let sampling = std::time::Instant::now();
                let answers = generate_sampled_group(
                    model,
                    &prompt.ids,
                    self.settings.max_new_tokens,
                    &self.stop,
                    self.settings.sampling,
                    &mut rngs,
                )?;
                rollout += sampling.elapsed();
                for answer in answers {
                    let (reward, correct) = self.reward(prompt, &answer)?;
                    right += usize::from(correct);
                    generated += answer.len();
                    rewards.push(reward);
                    let mut ids = prompt.ids.clone();
                    ids.extend_from_slice(&answer);
                    let mut learn = vec![false; prompt.ids.len()];
                    learn.resize(ids.len(), true);
                    sequences.push(Sequence { ids, learn });
                }
                batch_advantages.extend(advantages(&rewards, self.settings.advantage));
                rewards_all.extend(rewards);
            }
            let packed = Packed::new(&sequences);
            let reference = token_logprobs(&self.reference, &packed)?;
            batches.push(GrpoBatch {
                packed,
                advantages: batch_advantages,
                reference,
                old: None,
            });
        }
        let update = grpo_step(model, &batches, self.settings.kl, grads, seed)?;
        let n = rewards_all.len() as f64;
        let mean = rewards_all.iter().sum::<f64>() / n;
        let std = (rewards_all.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
        let rollout_s = rollout.as_secs_f64();
        let extra = json!({
            "reward_mean": mean,
            "reward_std": std,
            "verifiable_accuracy": right as f64 / n,
            "kl": update.kl,
            "answers": rewards_all.len(),
            "answer_tokens": generated,
            "rollout_s": rollout_s,
            "generated_tokens_per_s": generated as f64 / rollout_s.max(1e-9),
        });
        Ok(StepStats::new(
            update.loss,
            update.tokens + generated,
            extra,
        ))
    }
}
