//! A reproduction as data: a paper is its list of steps and its table's rows. A step is a name,
//! the command it runs (an [`Action`]) with its own settings, and the inputs whose sha256 decides
//! whether it runs again: its settings plus the hashes of everything it reads (model weights,
//! data files, agents file, task versions), computed when its turn comes. Adding a row is adding
//! the steps that produce and evaluate it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::config::{DistillConfig, EvalConfig, ReproduceConfig, TrainConfig};
use super::state::ReproduceState;

/// Where a model a step reads comes from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// The embedded default model's converted checkpoint (`--base default` for the trainer).
    Default(PathBuf),
    /// A checkpoint directory the user named.
    Dir(PathBuf),
    /// The checkpoint an earlier step of this reproduction wrote: the `dir` of its outputs
    /// (relative to the output directory). A DPO step without pairs hands on the SFT student.
    Trained(String),
}

impl ModelSource {
    /// The checkpoint directory (a `Trained` source once its step has finished).
    pub fn dir(&self, out: &Path, state: &ReproduceState) -> Result<PathBuf> {
        match self {
            ModelSource::Default(dir) | ModelSource::Dir(dir) => Ok(dir.clone()),
            ModelSource::Trained(step) => {
                let record = state
                    .steps
                    .get(step)
                    .with_context(|| format!("step {step} has not finished"))?;
                let dir = record.outputs["dir"]
                    .as_str()
                    .with_context(|| format!("step {step} recorded no checkpoint directory"))?;
                Ok(out.join(dir))
            }
        }
    }

    /// The `--base` argument of `r2l train`.
    pub fn train_arg(&self, out: &Path, state: &ReproduceState) -> Result<String> {
        Ok(match self {
            ModelSource::Default(_) => "default".to_string(),
            _ => self.dir(out, state)?.display().to_string(),
        })
    }
}

/// What a step runs: one r2l command (or a pair: serve, then eval over HTTP).
#[derive(Debug, Clone)]
pub enum Action {
    /// `r2l serve` the model (with in-situ quantization `isq`) and `r2l eval` it on every task of
    /// `eval` over HTTP; the runs' id is the row name, the served id `<label>-<weights sha256>`.
    ServeEval {
        /// The model evaluated.
        model: ModelSource,
        /// The served id's prefix.
        label: String,
        /// The eval runs' id (the row name).
        run_id: String,
        /// In-situ quantization.
        isq: String,
        /// The slices.
        eval: EvalConfig,
    },
    /// `r2l distill r2l` into `out/<dir>`.
    Distill {
        /// The output directory, relative to the reproduction's.
        dir: String,
        /// What to distil.
        config: DistillConfig,
    },
    /// `r2l data sft`: SFT records of the gold answers of the samples `config` distils (the
    /// traditional fine-tuning row), into `out/<file>`.
    GoldSft {
        /// The records file, relative to the output directory.
        file: String,
        /// The task, split, size and seed of the distillation they stand beside.
        config: DistillConfig,
    },
    /// `r2l train <mode>` of `base` on `data` into `out/<dir>`.
    Train {
        /// `sft` or `dpo`.
        mode: String,
        /// The records file, relative to the output directory.
        data: String,
        /// The model trained.
        base: ModelSource,
        /// The checkpoint directory written, relative to the output directory.
        dir: String,
        /// Hyperparameters.
        config: TrainConfig,
    },
}

/// One step of a paper's list.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its name in `reproduce.json` and on the progress lines.
    pub name: String,
    /// What it runs.
    pub action: Action,
}

impl Step {
    /// The inputs whose sha256 decides skipping: the action's settings and the hashes of what
    /// it reads (computed now: the upstream steps have finished).
    pub fn inputs(&self, out: &Path, state: &ReproduceState) -> Result<Value> {
        Ok(match &self.action {
            Action::ServeEval {
                model,
                label,
                run_id,
                isq,
                eval,
            } => json!({
                "serve_eval": {"label": label, "run_id": run_id, "isq": isq, "eval": eval},
                "model": checkpoint::weights_sha256(&model.dir(out, state)?)?,
                "tasks": task_versions(&eval.tasks)?,
            }),
            Action::Distill { dir, config } => json!({
                "distill": config,
                "dir": dir,
                "agents": file_hash(config.agents.as_deref())?,
                "task": task_versions(std::slice::from_ref(&config.task))?,
            }),
            Action::GoldSft { file, config } => json!({
                "gold_sft": {"file": file, "task": config.task, "split": config.split,
                             "limit": config.limit, "sample_seed": config.sample_seed},
                "task": task_versions(std::slice::from_ref(&config.task))?,
            }),
            Action::Train {
                mode,
                data,
                base,
                dir,
                config,
            } => json!({
                "train": {"mode": mode, "dir": dir, "config": config},
                "base": checkpoint::weights_sha256(&base.dir(out, state)?)?,
                "data": file_hash(Some(&out.join(data)))?,
            }),
        })
    }
}

/// A row of the paper's table: a model and the step that evaluated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The row's name (also the eval runs' id).
    pub name: String,
    /// The `ServeEval` step whose runs the row reports.
    pub eval_step: String,
}

/// A paper's reproduction: its steps in the order they run, and its table's rows.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Rows of the table, `base` first.
    pub rows: Vec<Row>,
    /// The row every other row is compared with.
    pub base_row: String,
    /// The paper's student (the row the claim is about).
    pub student_row: String,
}

impl Plan {
    /// The step that trained `row`'s model (none for a model the reproduction did not train).
    pub fn trained_step(&self, row: &str) -> Option<&str> {
        let eval_step = &self.rows.iter().find(|r| r.name == row)?.eval_step;
        match &self.steps.iter().find(|s| &s.name == eval_step)?.action {
            Action::ServeEval {
                model: ModelSource::Trained(step),
                ..
            } => Some(step),
            _ => None,
        }
    }
}

/// The R2L paper's plan. Rows: `base`; `fine-tune` (SFT of the base on the gold answers of
/// the same train samples: what the teachers' calls are measured against); `r2l` (SFT on the
/// R2L distillation, + DPO when configured). Every student trains with the same settings.
pub fn r2l_plan(config: &ReproduceConfig, default_model_dir: &Path) -> Plan {
    let base = if config.base == "default" {
        ModelSource::Default(default_model_dir.to_path_buf())
    } else {
        ModelSource::Dir(PathBuf::from(&config.base))
    };
    let evaluate = |row: &str, model: ModelSource| Step {
        name: format!("eval-{row}"),
        action: Action::ServeEval {
            model,
            label: row.to_string(),
            run_id: row.to_string(),
            isq: config.isq.clone(),
            eval: config.eval.clone(),
        },
    };
    let train =
        |name: &str, mode: &str, data: String, base: ModelSource, settings: &TrainConfig| Step {
            name: name.to_string(),
            action: Action::Train {
                mode: mode.to_string(),
                data,
                base,
                dir: format!("train/{}", name.trim_start_matches("train-")),
                config: settings.clone(),
            },
        };
    let mut steps = vec![
        evaluate(BASE_ROW, base.clone()),
        Step {
            name: "gold".to_string(),
            action: Action::GoldSft {
                file: "gold/sft.jsonl".to_string(),
                config: config.distill.clone(),
            },
        },
        train(
            "train-fine-tune",
            "sft",
            "gold/sft.jsonl".to_string(),
            base.clone(),
            &config.sft,
        ),
        evaluate(
            "fine-tune",
            ModelSource::Trained("train-fine-tune".to_string()),
        ),
        Step {
            name: "distill".to_string(),
            action: Action::Distill {
                dir: "distill".to_string(),
                config: config.distill.clone(),
            },
        },
        train(
            "train-sft",
            "sft",
            format!("distill/{}", distill::SFT_FILE),
            base,
            &config.sft,
        ),
    ];
    let mut student = "train-sft".to_string();
    if let Some(dpo) = &config.dpo {
        steps.push(train(
            "train-dpo",
            "dpo",
            format!("distill/{}", distill::DPO_FILE),
            ModelSource::Trained("train-sft".to_string()),
            dpo,
        ));
        student = "train-dpo".to_string();
    }
    steps.push(evaluate(R2L_ROW, ModelSource::Trained(student)));
    let rows = [BASE_ROW, "fine-tune", R2L_ROW]
        .map(|name| Row {
            name: name.to_string(),
            eval_step: format!("eval-{name}"),
        })
        .to_vec();
    Plan {
        steps,
        rows,
        base_row: BASE_ROW.to_string(),
        student_row: R2L_ROW.to_string(),
    }
}

/// The papers `r2l reproduce` has a table for (the Debate & Reflect and AgentArk tables are not
/// built yet).
pub const PAPERS: [&str; 1] = ["r2l"];

/// The row of the model every student starts from.
pub const BASE_ROW: &str = "base";
/// The R2L paper's student row.
pub const R2L_ROW: &str = "r2l";

/// {task: version} of `tasks` (a new task version invalidates the steps that use it).
fn task_versions(tasks: &[String]) -> Result<Value> {
    let mut versions = serde_json::Map::new();
    for name in tasks {
        let task = harness::task::resolve_task(name)?;
        versions.insert(name.clone(), json!(task.version));
    }
    Ok(Value::Object(versions))
}

/// sha256 of an optional input file (null when absent).
fn file_hash(path: Option<&Path>) -> Result<Value> {
    path.map_or(Ok(Value::Null), |path| {
        checkpoint::file_sha256(path)
            .map(Value::String)
            .with_context(|| format!("hashing {}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_r2l_plan_trains_then_evaluates_the_last_training_steps_checkpoint() {
        let names =
            |plan: &Plan| -> Vec<String> { plan.steps.iter().map(|s| s.name.clone()).collect() };
        let quick = r2l_plan(&ReproduceConfig::quick(), Path::new("/models/default"));
        assert_eq!(
            names(&quick),
            [
                "eval-base",
                "gold",
                "train-fine-tune",
                "eval-fine-tune",
                "distill",
                "train-sft",
                "eval-r2l"
            ]
        );
        let full = r2l_plan(&ReproduceConfig::full(), Path::new("/models/default"));
        assert!(names(&full).ends_with(&[
            "train-sft".to_string(),
            "train-dpo".to_string(),
            "eval-r2l".to_string()
        ]));
        assert_eq!(full.trained_step(R2L_ROW), Some("train-dpo"));
        assert_eq!(quick.trained_step(R2L_ROW), Some("train-sft"));
        assert_eq!(quick.trained_step("fine-tune"), Some("train-fine-tune"));
        assert_eq!(quick.trained_step(BASE_ROW), None);
        // Every row's eval step exists, and steps are unique.
        for row in &quick.rows {
            assert!(
                quick.steps.iter().any(|s| s.name == row.eval_step),
                "{row:?}"
            );
        }
        let mut unique = names(&full);
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), full.steps.len());
    }
}
