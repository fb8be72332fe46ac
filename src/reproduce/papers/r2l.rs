//! R2L (LREC 2026): students distilled from several teacher agents (detection, rationales,
//! debate, a meta-agent) on Vietnamese ABSA, measured there and zero-shot on Swedish
//! ABSAbank-Imm. Rows: `base`; `teacher-<id>` for every teacher and `meta` (each agent of the
//! agents file evaluated as a model, with its own endpoint, model and persona); `fine-tune`
//! (traditional fine-tuning: SFT on the gold answers of the same train samples);
//! `single-agent` (the R2L pipeline with its first teacher alone); `fine-tune-budget` (SFT on as
//! many gold answers as the team's distillation time trains); `r2l` (SFT on the team's
//! distillation, + DPO when configured).

use std::path::Path;

use anyhow::{Context, Result};
use distill::agents::Role;

use super::super::budget::TimeBudget;
use super::super::config::{ReproduceConfig, TrainConfig};
use super::super::plan::{Action, ModelSource, BASE_ROW};
use super::{quick_preset, quick_sft, slices, PlanBuilder};

/// The paper's student row.
const STUDENT: &str = "r2l";

/// Samples per evaluated task in quick mode (the primary task has its own size).
const QUICK_EVAL_LIMIT: usize = 16;
/// Samples of the primary task (`uit-visfd-constrained`) for the base and the student in quick
/// mode: enough that a 0.10 difference in aspect-polarity micro F1 can be significant (the
/// 95 % CI half-width at 100 samples was about ±0.04 on the base, measured).
const QUICK_PRIMARY_LIMIT: usize = 100;
/// Samples per task of the side rows (teachers, meta, fine-tune, single-agent) in quick mode.
const QUICK_SIDE_LIMIT: usize = 8;
/// UIT-ViSFD train samples distilled in quick mode.
const QUICK_DISTILL_LIMIT: usize = 4;
/// SFT optimizer steps in quick mode.
const QUICK_SFT_STEPS: usize = 12;

/// The quick preset: minutes, not hours, on a 2-core CPU with the embedded model.
pub fn quick() -> ReproduceConfig {
    let tasks = [
        "uit-visfd",
        "uit-visfd-constrained",
        "absabank-imm",
        "absabank-imm-constrained",
    ];
    let mut eval = slices(&tasks, QUICK_EVAL_LIMIT, QUICK_SIDE_LIMIT);
    eval.task_limits
        .insert("uit-visfd-constrained".to_string(), QUICK_PRIMARY_LIMIT);
    let mut config = quick_preset(eval, "uit-visfd", QUICK_DISTILL_LIMIT);
    config.distill.rationalize = Some(true);
    config.sft = quick_sft(QUICK_SFT_STEPS);
    config
}

/// The full preset: the paper-sized run (remote teachers or a GPU box).
pub fn full() -> ReproduceConfig {
    let mut config = quick();
    config
        .eval
        .tasks
        .extend(["vlsp2018-restaurant", "vlsp2018-restaurant-constrained"].map(String::from));
    config.eval.limit = None;
    config.eval.task_limits.clear();
    config.eval.side_limit = None;
    config.distill.limit = None;
    config.distill.rounds = 2;
    config.sft = TrainConfig {
        max_steps: None,
        batch: 4,
        ..config.sft
    };
    config.dpo = Some(TrainConfig {
        lora_rank: 16,
        epochs: 1,
        max_steps: None,
        lr: None,
        warmup_ratio: None,
        batch: 2,
        grad_accum: 2,
        seed: 0,
        backend: None,
        python: None,
        accelerate_config: None,
    });
    config
}

/// The steps and rows; returns the student row.
pub fn plan(plan: &mut PlanBuilder, base: ModelSource) -> Result<&'static str> {
    let config = plan.config;
    plan.evaluate(BASE_ROW, base.clone(), false);
    // Every teacher and the meta-agent as a model (side rows).
    let agents = match &config.distill.agents {
        Some(path) => distill::agents::read_agents_file(path)?,
        None => {
            let (source, text) = distill::protocols::r2l::ENTRY.default_agents;
            distill::agents::parse_agents(text, source, Path::new("."))?
        }
    };
    for agent in &agents.agents {
        let row = match agent.role {
            Role::Teacher => format!("teacher-{}", agent.id),
            Role::Meta => "meta".to_string(),
            _ => continue,
        };
        let step = format!("eval-{row}");
        plan.step(
            &step,
            Action::AgentEval {
                agents: config.distill.agents.clone(),
                agent: agent.id.clone(),
                run_id: row.clone(),
                eval: config.eval.clone(),
            },
        );
        plan.row(&row, &step);
    }
    let first_teacher = agents
        .agents
        .iter()
        .find(|a| a.role == Role::Teacher)
        .map(|a| a.id.clone())
        .with_context(|| format!("{}: no teacher", agents.source))?;
    // Traditional fine-tuning: the gold answers of the samples the teachers label.
    plan.step(
        "gold",
        Action::GoldSft {
            file: "gold/sft.jsonl".to_string(),
            config: config.distill.clone(),
            budget: None,
        },
    );
    let fine_tuned = plan.train(
        "fine-tune",
        "sft",
        "gold/sft.jsonl".to_string(),
        base.clone(),
        &config.sft,
    );
    plan.evaluate("fine-tune", fine_tuned, true);
    // The single-agent ablation: the pipeline with its first teacher alone.
    plan.step(
        "distill-single-agent",
        Action::Distill {
            protocol: "r2l".to_string(),
            tokenizer: None,
            single_teacher: Some(first_teacher),
            dir: "distill-single-agent".to_string(),
            config: config.distill.clone(),
        },
    );
    let single = plan.train(
        "single-agent",
        "sft",
        format!("distill-single-agent/{}", distill::SFT_FILE),
        base.clone(),
        &config.sft,
    );
    plan.evaluate("single-agent", single, true);
    plan.distill("distill", "r2l", None, None);
    let mut spent = vec!["distill".to_string(), format!("train-{STUDENT}")];
    let mut student = plan.train(
        STUDENT,
        "sft",
        format!("distill/{}", distill::SFT_FILE),
        base.clone(),
        &config.sft,
    );
    if let Some(dpo) = &config.dpo {
        student = plan.train(
            "r2l-dpo",
            "dpo",
            format!("distill/{}", distill::DPO_FILE),
            student,
            dpo,
        );
        spent.push("train-r2l-dpo".to_string());
    }
    fine_tune_on_budget(plan, base, spent);
    plan.evaluate(STUDENT, student, false);
    Ok(STUDENT)
}

/// `fine-tune-budget`: traditional fine-tuning at the team's cost — as many gold records as the
/// distillation's and the student's training wall time (`spent`) trains, at the rate the
/// `fine-tune` row trained (same settings, every record `epochs` times, no step cap).
fn fine_tune_on_budget(plan: &mut PlanBuilder, base: ModelSource, spent: Vec<String>) {
    let config = plan.config;
    let sft = TrainConfig {
        max_steps: None,
        ..config.sft.clone()
    };
    plan.step(
        "gold-budget",
        Action::GoldSft {
            file: "gold-budget/sft.jsonl".to_string(),
            config: config.distill.clone(),
            budget: Some(TimeBudget {
                spent,
                rate: "train-fine-tune".to_string(),
                sft: sft.clone(),
            }),
        },
    );
    let student = plan.train(
        "fine-tune-budget",
        "sft",
        "gold-budget/sft.jsonl".to_string(),
        base,
        &sft,
    );
    plan.evaluate("fine-tune-budget", student, true);
}
