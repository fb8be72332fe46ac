//! A reproduction as data: a paper is its list of steps and its table's rows. A step is a name,
//! the command it runs (an [`Action`]) with its own settings, and the inputs whose sha256 decides
//! whether it runs again: its settings plus the hashes of everything it reads (model weights,
//! data files, agents file, task versions), computed when its turn comes. Adding a row is adding
//! the steps that produce and evaluate it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::budget::TimeBudget;
use super::config::{DistillConfig, EvalConfig, RlConfig, TrainConfig};
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
        /// A side row (evaluated on `eval.side_limit` samples at most).
        side_row: bool,
    },
    /// `r2l eval --agent ID [--agents FILE]` on every task: one agent of the agents file
    /// evaluated as a model (its endpoint or local model, its model id and persona).
    AgentEval {
        /// The agents file (None = the built-in offline agents of `r2l distill r2l`).
        agents: Option<PathBuf>,
        /// The agent's id.
        agent: String,
        /// The eval runs' id (the row name).
        run_id: String,
        /// The slices.
        eval: EvalConfig,
    },
    /// `r2l distill <protocol>` into `out/<dir>`.
    Distill {
        /// `r2l`, `debate` or `agentark`.
        protocol: String,
        /// The student whose tokenizer counts the protocol's token budgets (Debate & Reflect's
        /// T-DPO context): the reproduction's base.
        tokenizer: Option<ModelSource>,
        /// R2L only: the one teacher that runs the pipeline alone (`--teachers ID --no-meta`:
        /// the single-agent ablation); None = the whole team.
        single_teacher: Option<String>,
        /// The output directory, relative to the reproduction's.
        dir: String,
        /// What to distil.
        config: DistillConfig,
    },
    /// The team itself as a row: `r2l distill <protocol>` on each evaluated task's evaluation
    /// slice (the samples the other rows are evaluated on), then `r2l score` of the team's final
    /// answers (`predictions.jsonl`) into a run log like `r2l eval`'s.
    TeamEval {
        /// The protocol whose final answers are scored.
        protocol: String,
        /// Its settings (rounds, agents, concurrency; task, split and size come from `eval`).
        config: DistillConfig,
        /// The slices.
        eval: EvalConfig,
        /// The runs' id (the row name).
        run_id: String,
    },
    /// `r2l data sft`: SFT records of the gold answers of the samples `config` distils (the
    /// traditional fine-tuning row), into `out/<file>`.
    GoldSft {
        /// The records file, relative to the output directory.
        file: String,
        /// The task, split, size and seed of the distillation they stand beside.
        config: DistillConfig,
        /// Instead of the distillation's size: as many records as this time budget trains.
        budget: Option<TimeBudget>,
    },
    /// `r2l train grpo` of `policy` on the questions of `config`'s task and split into
    /// `out/<dir>`, rewarded by the PRM `prm_step` trained (the verifiable reward alone when
    /// that step had no usable row).
    Rl {
        /// The distilled task and split whose questions are the prompts.
        distill: DistillConfig,
        /// The policy trained.
        policy: ModelSource,
        /// The step that trained the process reward model.
        prm_step: String,
        /// The checkpoint directory written, relative to the output directory.
        dir: String,
        /// The RL settings.
        config: RlConfig,
    },
    /// `r2l train <mode>` of `base` on `data` into `out/<dir>`.
    Train {
        /// `sft`, `dpo` or `prm`.
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
                side_row,
            } => json!({
                "serve_eval": {"label": label, "run_id": run_id, "isq": isq, "eval": eval, "side_row": side_row},
                "model": checkpoint::weights_sha256(&model.dir(out, state)?)?,
                "tasks": task_versions(&eval.tasks)?,
            }),
            Action::AgentEval {
                agents,
                agent,
                run_id,
                eval,
            } => json!({
                "agent_eval": {"agent": agent, "run_id": run_id, "eval": eval},
                "agents": file_hash(agents.as_deref())?,
                "tasks": task_versions(&eval.tasks)?,
            }),
            Action::Distill {
                protocol,
                tokenizer,
                single_teacher,
                dir,
                config,
            } => json!({
                "distill": config,
                "protocol": protocol,
                "single_teacher": single_teacher,
                "tokenizer": match tokenizer {
                    Some(model) => file_hash(Some(&model.dir(out, state)?.join(checkpoint::TOKENIZER_FILE)))?,
                    None => Value::Null,
                },
                "dir": dir,
                "agents": file_hash(config.agents.as_deref())?,
                "task": task_versions(std::slice::from_ref(&config.task))?,
            }),
            Action::TeamEval {
                protocol,
                config,
                eval,
                run_id,
            } => json!({
                "team_eval": {"protocol": protocol, "distill": config, "eval": eval, "run_id": run_id},
                "agents": file_hash(config.agents.as_deref())?,
                "tasks": task_versions(&eval.tasks)?,
            }),
            Action::GoldSft {
                file,
                config,
                budget,
            } => json!({
                "gold_sft": {"file": file, "task": config.task, "split": config.split,
                             "limit": gold_limit(config, budget.as_ref(), out, state)?,
                             "sample_seed": config.sample_seed},
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
            Action::Rl {
                distill,
                policy,
                prm_step,
                dir,
                config,
            } => json!({
                "rl": {"task": distill.task, "split": distill.split, "sample_seed": distill.sample_seed,
                       "dir": dir, "config": config},
                "policy": checkpoint::weights_sha256(&policy.dir(out, state)?)?,
                "prm": prm_weights(prm_step, out, state)?,
                "task": task_versions(std::slice::from_ref(&distill.task))?,
            }),
        })
    }
}

/// A row of the paper's table: a model (or the team) and the step that evaluated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The row's name (also the eval runs' id).
    pub name: String,
    /// The step whose runs the row reports (`ServeEval` or `TeamEval`).
    pub eval_step: String,
}

/// The row of the model every student starts from; every other row is compared with it.
pub const BASE_ROW: &str = "base";

/// A paper's reproduction: its steps in the order they run, and its table's rows.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Rows of the table, `base` first.
    pub rows: Vec<Row>,
    /// The paper's student (the row the claim is about; every row is also compared with it).
    pub student_row: String,
}

impl Plan {
    /// What a training step trains on: its records file (relative to the output directory),
    /// or an RL step's questions and reward.
    pub fn training_data(&self, step: &str) -> Option<String> {
        match &self.steps.iter().find(|s| s.name == step)?.action {
            Action::Train { data, .. } => Some(data.clone()),
            Action::Rl {
                distill, prm_step, ..
            } => Some(format!(
                "{} {} questions, reward: verifiable + {prm_step}",
                distill.task, distill.split
            )),
            _ => None,
        }
    }

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

/// The gold records a `GoldSft` step writes: the distillation's size, or its budget's.
fn gold_limit(
    config: &DistillConfig,
    budget: Option<&TimeBudget>,
    out: &Path,
    state: &ReproduceState,
) -> Result<Option<usize>> {
    Ok(match budget {
        Some(budget) => Some(budget.size(out, state)?.records),
        None => config.limit,
    })
}

/// The PRM an RL step is rewarded by: the directory `prm_step` wrote, or None when it had no
/// usable row (the RL step then uses the verifiable reward alone).
pub fn prm_dir(prm_step: &str, out: &Path, state: &ReproduceState) -> Result<Option<PathBuf>> {
    let record = state
        .steps
        .get(prm_step)
        .with_context(|| format!("step {prm_step} has not finished"))?;
    if record.outputs["skipped"].is_string() {
        return Ok(None);
    }
    ModelSource::Trained(prm_step.to_string())
        .dir(out, state)
        .map(Some)
}

/// The sha256 of the PRM's weights and head (null without a PRM).
fn prm_weights(prm_step: &str, out: &Path, state: &ReproduceState) -> Result<Value> {
    Ok(match prm_dir(prm_step, out, state)? {
        Some(dir) => json!({
            "backbone": checkpoint::weights_sha256(&dir)?,
            "head": file_hash(Some(&dir.join(distill::student::PRM_HEAD_FILE)))?,
        }),
        None => Value::Null,
    })
}

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
