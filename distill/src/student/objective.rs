//! What a training objective is to the loop: its examples, one optimizer step's forward and
//! backward, the tensors it trains besides the model's, and what it exports. SFT and DPO are
//! the first implementations (then PRM and GRPO); a new objective is one more implementation and one line in
//! [`build`].

use std::path::Path;

use candle_core::Tensor;
use serde_json::{Map, Value};

use super::dpo::DpoObjective;
use super::export::{export, Base};
use super::grads::Grads;
use super::grpo::GrpoObjective;
use super::model::Llama;
use super::options::{ObjectiveKind, TrainOptions};
use super::prm::PrmObjective;
use super::sft::SftObjective;
use crate::error::Result;

/// What one optimizer step gave.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepStats {
    /// The step's loss.
    pub loss: f64,
    /// Tokens processed.
    pub tokens: usize,
    /// Objective-specific figures for `train_log.jsonl` (DPO: rewards, margin, accuracy).
    pub extra: Map<String, Value>,
}

impl StepStats {
    /// A step's figures; `extra` (a JSON object) goes to `train_log.jsonl` beside them.
    pub fn new(loss: f64, tokens: usize, extra: Value) -> StepStats {
        StepStats {
            loss,
            tokens,
            extra: match extra {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }
}

/// A training objective over tokenized examples.
pub trait Objective {
    /// Examples an epoch visits.
    fn examples(&self) -> usize;

    /// Counts about the tokenized data, for `training.json`.
    fn summary(&self) -> Value;

    /// What the data is, for `training.json` and the resume fingerprint: by default the
    /// training file's path and sha256.
    fn data_identity(&self, options: &TrainOptions) -> Result<Value> {
        Ok(serde_json::json!({
            "path": options.data.display().to_string(),
            "sha256": checkpoint::file_sha256(&options.data)?,
        }))
    }

    /// Runs once before the first step of every session (DPO: the reference log-probabilities,
    /// cached in `out` under `fingerprint`).
    fn prepare(
        &mut self,
        model: &Llama,
        options: &TrainOptions,
        fingerprint: &Value,
    ) -> Result<()> {
        let _ = (model, options, fingerprint);
        Ok(())
    }

    /// Whether the model's own weights (or adapters) are trained; `false` for an objective that
    /// trains only its own tensors on a frozen model.
    fn trains_model(&self) -> bool {
        true
    }

    /// Tensors the objective owns and trains (a classification head): optimised with the
    /// model's, and stored in the resume point with them.
    fn own_trained(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Forward and backward over the micro-batches `picked` (indices of examples), accumulating
    /// the gradient of the step's mean loss into `grads`; `seed` seeds the step's dropout.
    fn step(
        &self,
        model: &Llama,
        picked: &[Vec<usize>],
        grads: &mut Grads,
        seed: u64,
    ) -> Result<StepStats>;

    /// Writes the trained checkpoint to `out` (by default the model alone, in the layout
    /// `r2l serve` loads).
    fn export(&self, model: &Llama, base: &Base, out: &Path, training: &Value) -> Result<()> {
        export(model, base, out, training)
    }
}

/// The objective `options` names, with its examples read and tokenized for `base`.
pub fn build(options: &TrainOptions, base: &Base) -> Result<Box<dyn Objective>> {
    Ok(match &options.objective {
        ObjectiveKind::Sft => Box::new(SftObjective::load(options, base)?),
        ObjectiveKind::Dpo {
            beta,
            max_prompt_length,
        } => Box::new(DpoObjective::load(
            options,
            base,
            *beta,
            *max_prompt_length,
        )?),
        ObjectiveKind::Prm(settings) => Box::new(PrmObjective::load(options, base, settings)?),
        ObjectiveKind::Grpo(settings) => Box::new(GrpoObjective::load(options, base, settings)?),
    })
}
