//! AgentArk (2026): a team of agents debates and an aggregator decides; the debate is distilled
//! into one agent so that one call per question recovers much of the team's gain. Rows: `base`
//! (the single agent); `debate` (the team's aggregated answer at test time, with its calls and
//! tokens per question); `r-sft` (reasoning SFT on the debate's right solutions: the student);
//! `r-sft-aug` (R-SFT with trajectory augmentation). PAD (process-aware distillation) arrives
//! with the process-reward trainer.

use super::super::config::ReproduceConfig;
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
    config
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
    plan.evaluate(STUDENT, student, false);
    let augment = config.distill.augment.unwrap_or(DEFAULT_AUGMENT);
    plan.distill("distill-aug", "agentark", Some(augment), None);
    let augmented = plan.train(
        "r-sft-aug",
        "sft",
        format!("distill-aug/{}", distill::SFT_FILE),
        base,
        &config.sft,
    );
    plan.evaluate("r-sft-aug", augmented, true);
    STUDENT
}
