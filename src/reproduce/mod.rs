//! `r2l reproduce`: the whole loop — baselines, R2L distillation, training, serving and
//! evaluating the student, comparison, report — as resumable steps. A step whose inputs (its
//! configuration and the hashes of what it reads) are unchanged since it finished is skipped.

mod budget;
mod config;
mod papers;
mod plan;
mod sections;
mod server;
mod state;
mod steps;
mod summary;
mod table;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{json, Value};

pub use config::ReproduceConfig;
pub use papers::Paper;
pub use state::{ReproduceState, StepRecord};
pub use summary::{Comparisons, RowResult, Summary, SUMMARY_FILE};

use plan::{Action, Step, BASE_ROW};
use state::inputs_sha256;
use steps::{ModelToServe, StepContext};

/// What `r2l reproduce` was asked to do.
pub struct ReproduceOptions {
    /// The paper whose table is built.
    pub paper: Paper,
    /// The configuration (a preset, possibly overridden by a file).
    pub config: ReproduceConfig,
    /// `quick` or `full` (reported).
    pub mode: String,
    /// The output directory.
    pub out: PathBuf,
    /// `--data-dir`, passed to the steps.
    pub data_dir: Option<PathBuf>,
    /// The converted default model's directory (what `base = "default"` means).
    pub default_model_dir: PathBuf,
    /// Set when the user pressed Ctrl-C (the running step's child saves its work and stops).
    pub interrupted: Arc<AtomicBool>,
}

/// Runs the loop; returns the summary (also written to `out/summary.md`).
pub fn reproduce(options: &ReproduceOptions) -> Result<Summary> {
    let out = &options.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let config = &options.config;
    std::fs::write(out.join("config.toml"), toml::to_string(config)?)?;
    let context = StepContext {
        r2l: std::env::current_exe().context("locating the r2l binary")?,
        out: out.clone(),
        data_dir: options.data_dir.clone(),
        interrupted: Arc::clone(&options.interrupted),
    };
    let plan = options.paper.plan(config, &options.default_model_dir)?;
    if let Some(Step {
        action: Action::ServeEval { model, .. },
        ..
    }) = plan.steps.first()
    {
        let dir = model.dir(out, &ReproduceState::default())?;
        checkpoint::weights_sha256(&dir).with_context(|| {
            format!(
                "the base model {} (run `bash scripts/setup.sh` for the default)",
                dir.display()
            )
        })?;
    }
    let mut runner = StepRunner {
        out: out.clone(),
        state: ReproduceState::load(out)?,
        position: 0,
        // the plan's steps, then compare and report
        total: plan.steps.len() + 2,
    };
    for step in &plan.steps {
        runner.step(step, |state, fresh| {
            run_action(&context, &step.action, state, fresh)
        })?;
    }
    // Every row's eval runs, then each row against the base.
    let mut runs = Vec::new();
    for row in &plan.rows {
        let record = runner
            .state
            .steps
            .get(&row.eval_step)
            .with_context(|| format!("step {} has not finished", row.eval_step))?;
        runs.push((row.name.clone(), record.outputs.clone()));
    }
    let runs_of = |row: &str| -> Result<Value> {
        runs.iter()
            .find(|(name, _)| name == row)
            .map(|(_, runs)| runs.clone())
            .with_context(|| format!("the plan has no row {row}"))
    };
    let (base_runs, student_runs) = (runs_of(BASE_ROW)?, runs_of(&plan.student_row)?);
    let comparisons = runner.always("compare", || {
        let mut against_base = Vec::new();
        let mut against_student = Vec::new();
        for (name, row_runs) in &runs {
            if name != BASE_ROW {
                against_base.push(RowResult {
                    row: name.clone(),
                    tasks: summary::compare_all(out, name, &base_runs, row_runs)?,
                });
            }
            if *name != plan.student_row {
                let dir = format!("{name}-vs-{}", plan.student_row);
                against_student.push(RowResult {
                    row: name.clone(),
                    tasks: summary::compare_all(out, &dir, &student_runs, row_runs)?,
                });
            }
        }
        Ok(Comparisons {
            against_base,
            against_student,
        })
    })?;
    let summary = Summary::build(
        out,
        options.paper,
        &options.mode,
        config,
        &runner.state,
        &plan,
        comparisons,
    )?;
    runner.always("report", || summary.write(out))?;
    Ok(summary)
}

/// Runs one step's action (upstream steps have finished: their records are in `state`).
fn run_action(
    context: &StepContext,
    action: &Action,
    state: &ReproduceState,
    fresh: bool,
) -> Result<Value> {
    let out = &context.out;
    match action {
        Action::ServeEval {
            model,
            label,
            run_id,
            isq,
            eval,
            side_row,
        } => {
            let mut model = ModelToServe::new(label, &model.dir(out, state)?, isq)?;
            // Weights an earlier row served (a student whose training had no records is its
            // base) keep that row's served id, so their answers come from the cache.
            if let Some(id) = state.served_id_of(&model.weights_sha256, isq) {
                eprintln!("  these weights were evaluated as {id}: serving them under that id");
                model.id = id;
            }
            steps::serve_and_evaluate(context, &model, isq, eval, *side_row, run_id, fresh)
        }
        Action::AgentEval {
            agents,
            agent,
            run_id,
            eval,
        } => steps::agent_evaluate(context, agents.as_deref(), agent, eval, run_id, fresh),
        Action::Distill {
            protocol,
            tokenizer,
            single_teacher,
            dir,
            config,
        } => {
            let tokenizer = tokenizer
                .as_ref()
                .map(|model| model.dir(out, state))
                .transpose()?;
            let distilled = steps::Distilled {
                protocol,
                tokenizer: tokenizer.as_deref(),
                single_teacher: single_teacher.as_deref(),
                dir_name: dir,
            };
            steps::distill(context, &distilled, config, fresh)
        }
        Action::TeamEval {
            protocol,
            config,
            eval,
            run_id,
        } => steps::team_evaluate(context, protocol, config, eval, run_id, fresh),
        Action::GoldSft {
            file,
            config,
            budget,
        } => {
            let size = budget
                .as_ref()
                .map(|budget| budget.size(out, state))
                .transpose()?;
            let limit = size
                .as_ref()
                .map_or(config.limit, |size| Some(size.records));
            let mut outputs = steps::gold_sft(context, file, config, limit)?;
            if let Some(size) = size {
                outputs["budget"] = serde_json::to_value(size)?;
            }
            Ok(outputs)
        }
        Action::Train {
            mode,
            data,
            base,
            dir,
            config,
        } => {
            let records = data;
            let data = out.join(records);
            if steps::trainable_records(mode, &data)? == 0 {
                // Nothing to train on (e.g. no DPO pair, no stepwise row with both a right and
                // a wrong step): the base is handed on unchanged.
                eprintln!(
                    "  {mode}: nothing to train on in {}; the model is handed on unchanged",
                    data.display()
                );
                let base_dir = base.dir(out, state)?;
                return Ok(json!({
                    "dir": state::relative(out, &base_dir),
                    "weights_sha256": checkpoint::weights_sha256(&base_dir)?,
                    "skipped": format!("{records} has no records"),
                }));
            }
            let base_arg = base.train_arg(out, state)?;
            steps::train(
                context,
                mode,
                &data,
                &base_arg,
                &out.join(dir),
                config,
                fresh,
            )
        }
        Action::Rl {
            distill,
            policy,
            prm_step,
            dir,
            config,
        } => {
            let prm = plan::prm_dir(prm_step, out, state)?;
            if prm.is_none() {
                eprintln!("  {prm_step} trained no PRM: the verifiable reward alone");
            }
            let rl = steps::Rl {
                distill,
                policy: &policy.train_arg(out, state)?,
                prm: prm.as_deref(),
                dir: &out.join(dir),
            };
            steps::rl(context, &rl, config, fresh)
        }
    }
}

/// Runs steps in order, skipping those finished with the same inputs.
struct StepRunner {
    out: PathBuf,
    state: ReproduceState,
    position: usize,
    total: usize,
}

impl StepRunner {
    fn header(&mut self, name: &str) -> String {
        self.position += 1;
        format!("[{}/{}] {name}", self.position, self.total)
    }

    /// Runs `step` (through `work`) unless it finished with the inputs it has now; records its
    /// outputs and wall time. `work` gets the state so far and whether the step starts over (its
    /// earlier attempt had other inputs: clear its files) rather than resuming an interrupted
    /// attempt.
    fn step(
        &mut self,
        step: &Step,
        work: impl FnOnce(&ReproduceState, bool) -> Result<Value>,
    ) -> Result<Value> {
        let name = step.name.as_str();
        let header = self.header(name);
        let inputs = step
            .inputs(&self.out, &self.state)
            .with_context(|| format!("step {name}: hashing its inputs"))?;
        let hash = inputs_sha256(&inputs);
        if let Some(record) = self.state.finished(name, &hash) {
            eprintln!(
                "{header}: unchanged since it finished ({:.0} s then); skipped",
                record.wall_seconds
            );
            return Ok(record.outputs.clone());
        }
        let fresh = self.state.starts_over(name, &hash);
        eprintln!(
            "{header}: running{}",
            if fresh {
                " (inputs changed: starting over)"
            } else {
                ""
            }
        );
        self.state.started.insert(name.to_string(), hash.clone());
        self.state.save(&self.out)?;
        let started = Instant::now();
        let outputs = work(&self.state, fresh).with_context(|| format!("step {name}"))?;
        let wall_seconds = started.elapsed().as_secs_f64();
        eprintln!("{header}: finished in {wall_seconds:.0} s");
        self.state.steps.insert(
            name.to_string(),
            StepRecord {
                inputs_sha256: hash,
                wall_seconds,
                outputs: outputs.clone(),
            },
        );
        self.state.save(&self.out)?;
        Ok(outputs)
    }

    /// Runs `work` every time (cheap steps that read the others' outputs) and records its wall time.
    fn always<T>(&mut self, name: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let header = self.header(name);
        let started = Instant::now();
        let value = work().with_context(|| format!("step {name}"))?;
        let wall_seconds = started.elapsed().as_secs_f64();
        eprintln!("{header}: finished in {wall_seconds:.1} s");
        self.state.steps.insert(
            name.to_string(),
            StepRecord {
                inputs_sha256: String::new(),
                wall_seconds,
                outputs: Value::Null,
            },
        );
        self.state.save(&self.out)?;
        Ok(value)
    }
}
