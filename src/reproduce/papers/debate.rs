//! Debate & Reflect with T-DPO (ACL Findings 2025): teachers debate, critique and reflect; the
//! student learns from the debate (SFT), then from tree-structured preference pairs (T-DPO).
//! Rows: `base`; `static` (static distillation: SFT on the teachers' correct round-0 answers);
//! `dr-sft` (SFT on the debate's records); `dr-tdpo` (`dr-sft` + T-DPO: the paper's student).

use super::super::config::{ReproduceConfig, TrainConfig};
use super::super::plan::{ModelSource, BASE_ROW};
use super::{quick_preset, slices, PlanBuilder};

/// The paper's student row.
const STUDENT: &str = "dr-tdpo";

/// GSM8K train questions distilled in quick mode: the offline debate (3 teachers and the
/// student, one round after round 0) took 192 s per question on the 2-core reference machine,
/// so 6 questions, the base's 100 evaluated questions (652 s) and the students fit in 45 min.
const QUICK_DISTILL_LIMIT: usize = 6;

/// The quick preset (sizes for the 2-core reference machine with the embedded model).
pub fn quick() -> ReproduceConfig {
    let mut config = quick_preset(slices(&["gsm8k"], 100, 16), "gsm8k", QUICK_DISTILL_LIMIT);
    config.tdpo = Some(tdpo(Some(8)));
    config
}

/// T-DPO as D&R's `run_tdpo.sh`: 3 epochs, lr 5e-6, warmup 0.1, from the SFT student.
fn tdpo(max_steps: Option<usize>) -> TrainConfig {
    TrainConfig {
        lora_rank: 16,
        epochs: 3,
        max_steps,
        lr: Some(5e-6),
        warmup_ratio: Some(0.1),
        batch: 2,
        grad_accum: 1,
        seed: 0,
        backend: None,
        python: None,
        accelerate_config: None,
    }
}

/// The full preset: GSM8K and MATH-500 test splits, the whole train split, the paper's three
/// debate rounds.
pub fn full() -> ReproduceConfig {
    let mut config = quick();
    config.eval.tasks.push("math500".to_string());
    config.eval.limit = None;
    config.eval.side_limit = None;
    config.distill.limit = None;
    config.distill.rounds = distill::protocols::debate::DEFAULT_ROUNDS;
    config.sft.max_steps = None;
    config.tdpo = Some(tdpo(None));
    config
}

/// The steps and rows; returns the student row.
pub fn plan(plan: &mut PlanBuilder, base: ModelSource) -> &'static str {
    let config = plan.config;
    plan.evaluate(BASE_ROW, base.clone(), false);
    plan.distill("distill", "debate", None, Some(base.clone()));
    let static_student = plan.train(
        "static",
        "sft",
        format!("distill/{}", distill::STATIC_FILE),
        base.clone(),
        &config.sft,
    );
    plan.evaluate("static", static_student, true);
    let sft_student = plan.train(
        "dr-sft",
        "sft",
        format!("distill/{}", distill::SFT_FILE),
        base,
        &config.sft,
    );
    plan.evaluate("dr-sft", sft_student.clone(), true);
    let tdpo = config.tdpo.clone().unwrap_or_else(|| tdpo(None));
    let student = plan.train(
        STUDENT,
        "dpo",
        format!("distill/{}", distill::DPO_FILE),
        sft_student,
        &tdpo,
    );
    plan.evaluate(STUDENT, student, false);
    STUDENT
}
