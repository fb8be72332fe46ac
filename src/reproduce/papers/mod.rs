//! The papers `r2l reproduce` has a table for: each is a preset configuration (quick and full)
//! and a plan (its steps and rows), built from the configuration. Adding a paper is a variant
//! here, its module, and its line in `Paper::ALL`.

mod agentark;
mod debate;
mod r2l;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::config::{DistillConfig, EvalConfig, ReproduceConfig, RlConfig, TrainConfig};
use super::plan::{Action, ModelSource, Plan, Row, Step};

/// A paper whose table `r2l reproduce` builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    /// R2L (LREC 2026): multi-agent distillation for ABSA.
    R2l,
    /// Debate & Reflect with T-DPO (ACL Findings 2025).
    Debate,
    /// AgentArk (2026): multi-agent debate distilled into one agent.
    AgentArk,
}

impl Paper {
    /// Every paper, in the order `--help` lists them.
    pub const ALL: [Paper; 3] = [Paper::R2l, Paper::Debate, Paper::AgentArk];

    /// Its name on the command line (`r2l reproduce NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Paper::R2l => "r2l",
            Paper::Debate => "debate",
            Paper::AgentArk => "agentark",
        }
    }

    /// The paper named `name`; an unknown name lists the papers.
    pub fn parse(name: &str) -> Result<Paper> {
        match Paper::ALL.into_iter().find(|p| p.name() == name) {
            Some(paper) => Ok(paper),
            None => bail!(
                "unknown paper `{name}`; valid: {}",
                Paper::ALL.map(Paper::name).join(", ")
            ),
        }
    }

    /// The quick preset (sized for the 2-core reference machine) or the full one.
    pub fn preset(self, quick: bool) -> ReproduceConfig {
        match (self, quick) {
            (Paper::R2l, true) => r2l::quick(),
            (Paper::R2l, false) => r2l::full(),
            (Paper::Debate, true) => debate::quick(),
            (Paper::Debate, false) => debate::full(),
            (Paper::AgentArk, true) => agentark::quick(),
            (Paper::AgentArk, false) => agentark::full(),
        }
    }

    /// The paper's steps and rows for `config` (the R2L plan reads the agents file for its
    /// teacher rows).
    pub fn plan(self, config: &ReproduceConfig, default_model_dir: &Path) -> Result<Plan> {
        let base = if config.base == "default" {
            ModelSource::Default(default_model_dir.to_path_buf())
        } else {
            ModelSource::Dir(PathBuf::from(&config.base))
        };
        let mut builder = PlanBuilder {
            config,
            steps: Vec::new(),
            rows: Vec::new(),
        };
        let student_row = match self {
            Paper::R2l => r2l::plan(&mut builder, base)?,
            Paper::Debate => debate::plan(&mut builder, base),
            Paper::AgentArk => agentark::plan(&mut builder, base),
        };
        Ok(Plan {
            steps: builder.steps,
            rows: builder.rows,
            student_row: student_row.to_string(),
        })
    }
}

/// The quick presets' training settings, shared by every paper's students: LoRA rank 16, 2
/// epochs, batch 2, at most `max_steps` optimizer steps.
fn quick_sft(max_steps: usize) -> TrainConfig {
    TrainConfig {
        lora_rank: 16,
        epochs: 2,
        max_steps: Some(max_steps),
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

/// A quick preset of the default model on `eval` slices, distilling `distill_task`'s train split
/// (sizes set by the caller).
fn quick_preset(eval: EvalConfig, distill_task: &str, distill_limit: usize) -> ReproduceConfig {
    ReproduceConfig {
        base: "default".to_string(),
        isq: "q8_0".to_string(),
        eval,
        distill: DistillConfig {
            task: distill_task.to_string(),
            split: "train".to_string(),
            limit: Some(distill_limit),
            sample_seed: 0,
            rounds: 1,
            rationalize: None,
            augment: None,
            agents: None,
            concurrency: None,
        },
        sft: quick_sft(16),
        dpo: None,
        tdpo: None,
        prm: None,
        rl: None,
    }
}

/// Evaluation slices: `tasks`, `limit` samples each, side rows at most `side_limit`.
fn slices(tasks: &[&str], limit: usize, side_limit: usize) -> EvalConfig {
    EvalConfig {
        tasks: tasks.iter().map(|t| t.to_string()).collect(),
        limit: Some(limit),
        task_limits: BTreeMap::new(),
        side_limit: Some(side_limit),
        sample_seed: 0,
        concurrency: 1,
    }
}

/// Builds a plan: steps in order, and rows as their eval steps are added.
struct PlanBuilder<'a> {
    config: &'a ReproduceConfig,
    steps: Vec<Step>,
    rows: Vec<Row>,
}

impl PlanBuilder<'_> {
    fn step(&mut self, name: &str, action: Action) {
        self.steps.push(Step {
            name: name.to_string(),
            action,
        });
    }

    /// `eval-<row>`: serve `model` and evaluate it; the row is added to the table.
    fn evaluate(&mut self, row: &str, model: ModelSource, side_row: bool) {
        let name = format!("eval-{row}");
        self.step(
            &name,
            Action::ServeEval {
                model,
                label: row.to_string(),
                run_id: row.to_string(),
                isq: self.config.isq.clone(),
                eval: self.config.eval.clone(),
                side_row,
            },
        );
        self.rows.push(Row {
            name: row.to_string(),
            eval_step: name,
        });
    }

    /// Adds `row` to the table, reported from `eval_step`.
    fn row(&mut self, row: &str, eval_step: &str) {
        self.rows.push(Row {
            name: row.to_string(),
            eval_step: eval_step.to_string(),
        });
    }

    /// `train-<row>`: `r2l train <mode>` of `base` on `data` into `train/<row>`; returns the
    /// model it writes.
    fn train(
        &mut self,
        row: &str,
        mode: &str,
        data: String,
        base: ModelSource,
        settings: &TrainConfig,
    ) -> ModelSource {
        let name = format!("train-{row}");
        self.step(
            &name,
            Action::Train {
                mode: mode.to_string(),
                data,
                base,
                dir: format!("train/{row}"),
                config: settings.clone(),
            },
        );
        ModelSource::Trained(name)
    }

    /// `train-<row>`: `r2l train grpo` of `policy` on the distilled task's questions into
    /// `train/<row>`, rewarded by the PRM `prm_step` trains; returns the model it writes.
    fn rl(
        &mut self,
        row: &str,
        policy: ModelSource,
        prm_step: &str,
        settings: &RlConfig,
    ) -> ModelSource {
        let name = format!("train-{row}");
        self.step(
            &name,
            Action::Rl {
                distill: self.config.distill.clone(),
                policy,
                prm_step: prm_step.to_string(),
                dir: format!("train/{row}"),
                config: settings.clone(),
            },
        );
        ModelSource::Trained(name)
    }

    /// `<name>`: `r2l distill <protocol>` into `<name>/` with the config's distillation
    /// settings, `augment` replaced when given; `tokenizer` counts token budgets.
    fn distill(
        &mut self,
        name: &str,
        protocol: &str,
        augment: Option<usize>,
        tokenizer: Option<ModelSource>,
    ) {
        let mut config = self.config.distill.clone();
        if augment.is_some() {
            config.augment = augment;
        }
        self.step(
            name,
            Action::Distill {
                protocol: protocol.to_string(),
                tokenizer,
                single_teacher: None,
                dir: name.to_string(),
                config,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::plan::BASE_ROW;

    fn names(plan: &Plan) -> Vec<&str> {
        plan.steps.iter().map(|s| s.name.as_str()).collect()
    }

    fn plan_of(paper: Paper, quick: bool) -> Plan {
        paper
            .plan(&paper.preset(quick), Path::new("/m"))
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    fn rows(plan: &Plan) -> Vec<&str> {
        plan.rows.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn every_papers_plan_has_its_rows_each_evaluated_by_a_step_of_its_own() {
        for paper in Paper::ALL {
            for quick in [true, false] {
                let plan = paper
                    .plan(&paper.preset(quick), Path::new("/models/default"))
                    .unwrap_or_else(|e| panic!("{e:#}"));
                assert_eq!(plan.rows[0].name, BASE_ROW, "{paper:?}");
                assert!(rows(&plan).contains(&plan.student_row.as_str()));
                for row in &plan.rows {
                    assert!(
                        plan.steps.iter().any(|s| s.name == row.eval_step),
                        "{row:?}"
                    );
                }
                let mut unique = names(&plan);
                unique.sort_unstable();
                unique.dedup();
                assert_eq!(
                    unique.len(),
                    plan.steps.len(),
                    "{paper:?}: {:?}",
                    names(&plan)
                );
            }
        }
    }

    #[test]
    fn the_r2l_plan_trains_then_evaluates_the_last_training_steps_checkpoint() {
        let quick = plan_of(Paper::R2l, true);
        assert_eq!(
            rows(&quick),
            [
                "base",
                "teacher-strict",
                "teacher-thorough",
                "teacher-intuitive",
                "meta",
                "fine-tune",
                "single-agent",
                "fine-tune-budget",
                "r2l"
            ]
        );
        assert_eq!(quick.trained_step("r2l"), Some("train-r2l"));
        assert_eq!(quick.trained_step("fine-tune"), Some("train-fine-tune"));
        assert_eq!(
            quick.trained_step("fine-tune-budget"),
            Some("train-fine-tune-budget")
        );
        assert_eq!(quick.trained_step(BASE_ROW), None);
        let full = plan_of(Paper::R2l, false);
        assert_eq!(full.trained_step("r2l"), Some("train-r2l-dpo"));
    }

    #[test]
    fn the_debate_and_agentark_plans_have_the_papers_rows() {
        let debate = plan_of(Paper::Debate, true);
        assert_eq!(rows(&debate), ["base", "static", "dr-sft", "dr-tdpo"]);
        assert_eq!(debate.student_row, "dr-tdpo");
        let agentark = plan_of(Paper::AgentArk, true);
        assert_eq!(
            rows(&agentark),
            ["base", "debate", "r-sft", "r-sft-aug", "pad"]
        );
        assert_eq!(agentark.trained_step("pad"), Some("train-pad"));
        let pad = agentark.steps.iter().find(|s| s.name == "train-pad");
        assert!(
            matches!(pad.map(|s| &s.action), Some(Action::Rl { prm_step, policy: ModelSource::Trained(policy), .. })
                if prm_step == "train-prm" && policy == "train-r-sft"),
            "{pad:?}"
        );
        assert_eq!(agentark.student_row, "r-sft");
    }

    #[test]
    fn an_unknown_paper_lists_the_papers() {
        let error = Paper::parse("bert")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("r2l, debate, agentark"), "{error}");
    }
}
