//! AgentArk (2026): a team of agents debates and an aggregator decides; the debate is distilled
//! into one agent so that one call per question recovers much of the team's gain. Rows: `base`
//! (the single agent); `debate` (the team's aggregated answer at test time, with its calls and
//! tokens per question); `r-sft` (reasoning SFT on the debate's right solutions: the student);
//! `r-sft-aug` (R-SFT with trajectory augmentation); `pad` (process-aware distillation: a process
//! reward model trained on the debate's stepwise rows, then RL of the `r-sft` student with its
//! reward and the task's verifiable one).

use super::super::config::{ReproduceConfig, RlConfig, TrainConfig};
use super::super::plan::{Action, ModelSource, BASE_ROW};
use super::{quick_preset, slices, PlanBuilder};

/// The paper's student row.
const STUDENT: &str = "r-sft";
/// Trajectory augmentation of the `r-sft-aug` row when the config does not say (the README's
/// `--augment 2`).
const DEFAULT_AUGMENT: usize = 2;

/// Questions of the side rows in quick mode (the team at test time, `r-sft-aug`): the offline
/// team (five agents and the aggregator, one update round) takes about 3 min per question on
/// the 2-core reference machine.
const QUICK_SIDE_LIMIT: usize = 4;
/// GSM8K train questions distilled in quick mode (the same team).
const QUICK_DISTILL_LIMIT: usize = 3;

/// The quick preset (sizes for the 2-core reference machine with the embedded model): the base
/// and the student on 100 questions (652 s each), the team on 4, 3 distilled questions.
pub fn quick() -> ReproduceConfig {
    let mut config = quick_preset(
        slices(&["gsm8k"], 100, QUICK_SIDE_LIMIT),
        "gsm8k",
        QUICK_DISTILL_LIMIT,
    );
    config.distill.rounds = distill::protocols::agentark::DEFAULT_ROUNDS;
    config.distill.augment = Some(DEFAULT_AUGMENT);
    config.prm = Some(prm(Some(QUICK_PRM_STEPS)));
    config.rl = Some(RlConfig {
        limit: Some(QUICK_RL_STEPS),
        lora_rank: 16,
        max_steps: Some(QUICK_RL_STEPS),
        lr: Some(QUICK_RL_LORA_LR),
        ..rl()
    });
    config
}

/// PRM optimizer steps in quick mode (the 3 distilled questions give a few rows at most).
const QUICK_PRM_STEPS: usize = 16;
/// RL steps (one question's group of answers each) in quick mode: about a minute each for the
/// 135M student on the 2-core reference machine.
const QUICK_RL_STEPS: usize = 4;
/// The quick RL run trains LoRA adapters, which need a far larger step than AgentArk's 5e-7 on
/// every weight to move at all in 4 steps.
const QUICK_RL_LORA_LR: f64 = 2e-5;

/// The PRM as AgentArk's README trains it (`prm/finetune2.py`: 3 epochs; lr 1e-4, weight decay
/// 0.1, Adam beta2 0.95 are the trainer's PRM defaults), LoRA on this CPU.
fn prm(max_steps: Option<usize>) -> TrainConfig {
    TrainConfig {
        lora_rank: 16,
        epochs: 3,
        max_steps,
        lr: None,
        warmup_ratio: None,
        batch: 2,
        grad_accum: 1,
        seed: 0,
        backend: None,
        python: None,
        accelerate_config: None,
    }
}

/// RL as AgentArk's `train_grpo_ray.py` runs it: every weight, lr 5e-7 (the trainer's
/// default), 8 answers per prompt, RLOO advantages (its README's `--advantage_estimator rloo`),
/// KL 0.001, temperature 0.5; one epoch over the distilled questions.
fn rl() -> RlConfig {
    RlConfig {
        limit: None,
        lora_rank: 0,
        max_steps: None,
        lr: None,
        group: 8,
        advantage: "rloo".to_string(),
        kl: 0.001,
        temperature: 0.5,
        max_new_tokens: 256,
        seed: 0,
    }
}

/// The full preset: GSM8K, MedMCQA and MATH-500, the whole train split.
pub fn full() -> ReproduceConfig {
    let mut config = quick();
    config
        .eval
        .tasks
        .extend(["medmcqa", "math500"].map(String::from));
    config.eval.limit = None;
    config.eval.side_limit = None;
    config.distill.limit = None;
    config.sft.max_steps = None;
    config.prm = Some(prm(None));
    config.rl = Some(rl());
    config
}

/// The steps and rows; returns the student row.
pub fn plan(plan: &mut PlanBuilder, base: ModelSource) -> &'static str {
    let config = plan.config;
    plan.evaluate(BASE_ROW, base.clone(), false);
    // The team at test time: the protocol on the evaluated samples, its final answers scored.
    let mut team = config.distill.clone();
    team.augment = None;
    plan.step(
        "eval-debate",
        Action::TeamEval {
            protocol: "agentark".to_string(),
            config: team,
            eval: config.eval.clone(),
            run_id: "debate".to_string(),
        },
    );
    plan.row("debate", "eval-debate");
    plan.distill("distill", "agentark", Some(0), None);
    let student = plan.train(
        STUDENT,
        "sft",
        format!("distill/{}", distill::SFT_FILE),
        base.clone(),
        &config.sft,
    );
    plan.evaluate(STUDENT, student.clone(), false);
    let augment = config.distill.augment.unwrap_or(DEFAULT_AUGMENT);
    plan.distill("distill-aug", "agentark", Some(augment), None);
    let augmented = plan.train(
        "r-sft-aug",
        "sft",
        format!("distill-aug/{}", distill::SFT_FILE),
        base.clone(),
        &config.sft,
    );
    plan.evaluate("r-sft-aug", augmented, true);
    // PAD: the PRM starts from the base, as AgentArk's starts from the pretrained model; RL
    // starts from the R-SFT student.
    let prm_config = config.prm.clone().unwrap_or_else(|| prm(None));
    plan.train(
        "prm",
        "prm",
        format!("distill/{}", distill::STEPWISE_FILE),
        base,
        &prm_config,
    );
    let rl_config = config.rl.clone().unwrap_or_else(rl);
    let pad = plan.rl("pad", student, "train-prm", &rl_config);
    plan.evaluate("pad", pad, false);
    STUDENT
}
