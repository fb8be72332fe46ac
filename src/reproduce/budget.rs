//! A time budget in gold records: how many gold SFT records the time another row spent (its
//! teachers' calls and its student's training) would train instead, at the optimizer-step rate
//! measured on this machine by an earlier training step with the same settings. It tells users
//! what the teachers' calls buy: the same minutes spent fine-tuning on more gold labels.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;

use super::config::TrainConfig;
use super::state::ReproduceState;

/// The budget: the wall time of `spent`, trained at the rate of `rate` with `sft`'s settings.
#[derive(Debug, Clone)]
pub struct TimeBudget {
    /// The steps whose wall time is the budget (a distillation and its student's training).
    pub spent: Vec<String>,
    /// A finished training step with the same settings: its `training.json` gives the seconds
    /// per optimizer step and, with its wall time, the fixed cost of loading and saving.
    pub rate: String,
    /// The settings the budgeted student trains with (batch, accumulation, epochs).
    pub sft: TrainConfig,
}

/// What a budget comes to (recorded in the gold step's outputs and in the summary).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetSize {
    /// The budget: the wall time of the spent steps.
    pub seconds: f64,
    /// The spent steps it adds up.
    pub spent: Vec<String>,
    /// Seconds per optimizer step of the rate step.
    pub seconds_per_step: f64,
    /// The rate step's wall time beyond its optimizer steps (loading, saving).
    pub overhead_seconds: f64,
    /// Optimizer steps the budget pays for.
    pub steps: usize,
    /// Gold records those steps train with the settings' batch and epochs (at least 1).
    pub records: usize,
}

impl TimeBudget {
    /// The budget's size from the finished steps recorded in `state`.
    pub fn size(&self, out: &Path, state: &ReproduceState) -> Result<BudgetSize> {
        let finished = |name: &str| {
            state
                .steps
                .get(name)
                .with_context(|| format!("the time budget needs step {name}, which has not run"))
        };
        let mut seconds = 0.0;
        for name in &self.spent {
            seconds += finished(name)?.wall_seconds;
        }
        let rate = finished(&self.rate)?;
        let dir = rate.outputs["dir"]
            .as_str()
            .with_context(|| format!("step {} recorded no checkpoint directory", self.rate))?;
        let path = out.join(dir).join("training.json");
        let training: Value = serde_json::from_str(
            &std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("{}: not JSON", path.display()))?;
        let (Some(steps), Some(train_seconds)) = (
            training["steps"].as_u64(),
            training["train_seconds"].as_f64(),
        ) else {
            bail!("{}: no `steps` and `train_seconds`", path.display());
        };
        if steps == 0 || train_seconds <= 0.0 {
            bail!(
                "{}: step {} trained no steps; it cannot give a rate",
                path.display(),
                self.rate
            );
        }
        Ok(size_of(
            seconds,
            self.spent.clone(),
            train_seconds / steps as f64,
            (rate.wall_seconds - train_seconds).max(0.0),
            &self.sft,
        ))
    }
}

/// Steps and records `seconds` pay for at `seconds_per_step` after `overhead_seconds`.
fn size_of(
    seconds: f64,
    spent: Vec<String>,
    seconds_per_step: f64,
    overhead_seconds: f64,
    sft: &TrainConfig,
) -> BudgetSize {
    let steps = ((seconds - overhead_seconds).max(0.0) / seconds_per_step).floor() as usize;
    let per_step = sft.batch.max(1) * sft.grad_accum.max(1);
    let records = (steps * per_step / sft.epochs.max(1)).max(1);
    BudgetSize {
        seconds,
        spent,
        seconds_per_step,
        overhead_seconds,
        steps,
        records,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sft(batch: usize, epochs: usize) -> TrainConfig {
        TrainConfig {
            lora_rank: 16,
            epochs,
            max_steps: None,
            lr: None,
            warmup_ratio: None,
            batch,
            grad_accum: 1,
            seed: 0,
            backend: None,
            python: None,
            accelerate_config: None,
        }
    }

    #[test]
    fn the_budget_pays_for_the_steps_left_after_the_fixed_cost() {
        // 347 s spent; 3.3 s per step after 5 s of loading: 103 steps, 2 records each, 2 epochs.
        let size = size_of(347.0, vec!["distill".into()], 3.3, 5.0, &sft(2, 2));
        assert_eq!(size.steps, 103);
        assert_eq!(size.records, 103);
        let one_epoch = size_of(347.0, Vec::new(), 3.3, 5.0, &sft(4, 1));
        assert_eq!(one_epoch.records, 412);
    }

    #[test]
    fn a_budget_smaller_than_the_fixed_cost_still_trains_one_record() {
        let size = size_of(2.0, Vec::new(), 3.3, 5.0, &sft(2, 2));
        assert_eq!((size.steps, size.records), (0, 1));
    }

    #[test]
    fn a_budget_before_its_steps_ran_names_the_missing_step() {
        let budget = TimeBudget {
            spent: vec!["distill".into()],
            rate: "train-fine-tune".into(),
            sft: sft(2, 2),
        };
        let error = budget
            .size(Path::new("/nonexistent"), &ReproduceState::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("step distill"), "{error}");
    }
}
