//! The process-reward-model objective (AgentArk's `prm/finetune2.py` on TRL's `PRMTrainer`): the
//! student backbone plus a 2-logit token-classification head, softmax cross-entropy at each
//! step's label position, plus (weight 0.5 by default) AgentArk's contrastive term on the
//! projected hidden states of those positions. Per micro-batch the loss is the mean
//! cross-entropy over its labelled positions plus the weighted contrastive loss; a step
//! averages its micro-batches (transformers' gradient accumulation). With a frozen backbone
//! (AgentArk's `fix_llm`) only the head learns, and the contrastive term, whose gradient can only
//! reach the backbone, is left out of the computation (it would change nothing).
//!
//! Only rows holding both a correct and an incorrect step are trained on (AgentArk's filter).
//! The checkpoint is the backbone in the usual layout (so it is also a servable language model)
//! plus `prm_head.safetensors` and `prm.json` (separator, its tokens, the tokenizer's hash).

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Value};

use super::attention::Span;
use super::batch::Packed;
use super::contrastive::{info_nce, Projector, TEMPERATURE};
use super::export::{export, Base};
use super::grads::Grads;
use super::linear::Pass;
use super::model::Llama;
use super::objective::{Objective, StepStats};
use super::options::{PrmSettings, TrainOptions};
use super::prm_head::PrmHead;
use super::prm_model::{PrmConfig, PRM_CONFIG_FILE, PRM_HEAD_FILE};
use super::stepwise::{read_stepwise, tokenize_steps, StepSequence};
use super::tensor::{tensor, view};
use crate::error::{Error, Result};

/// A tokenized training row and its labels (one per surviving label position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrmExample {
    /// The tokens and label positions.
    pub sequence: StepSequence,
    /// 1 = correct, 0 = incorrect, for each of `sequence.label_rows`.
    pub labels: Vec<u32>,
}

/// The PRM objective.
#[derive(Debug)]
pub struct PrmObjective {
    examples: Vec<PrmExample>,
    head: PrmHead,
    projector: Option<Projector>,
    settings: PrmSettings,
    config: PrmConfig,
    skipped_unmixed: usize,
    skipped_cut: usize,
}

/// Packs `examples` end to end, with the label positions as target rows and the labels as
/// targets.
pub fn pack_labelled<'a>(
    examples: impl IntoIterator<Item = (&'a StepSequence, &'a [u32])>,
) -> Packed {
    let mut packed = Packed::default();
    for (s, (sequence, labels)) in examples.into_iter().enumerate() {
        let start = packed.ids.len();
        packed.spans.push(Span::own(start, sequence.ids.len()));
        packed.ids.extend_from_slice(&sequence.ids);
        packed.positions.extend(0..sequence.ids.len());
        for (&row, &label) in sequence.label_rows.iter().zip(labels) {
            packed.target_rows.push(start + row);
            packed.targets.push(label);
            packed.target_sequence.push(s);
        }
    }
    packed
}

impl PrmObjective {
    /// Reads `options.data` (stepwise rows), keeps the mixed ones, tokenizes them by TRL's rule
    /// with `base`'s tokenizer and a fresh head.
    pub fn load(
        options: &TrainOptions,
        base: &Base,
        settings: &PrmSettings,
    ) -> Result<PrmObjective> {
        let config = PrmConfig::for_base(base, settings, options.max_length)?;
        let path = &options.data;
        let rows = read_stepwise(path, true)?;
        let total = rows.len();
        let limits = config.limits();
        let mut examples = Vec::new();
        let mut skipped_cut = 0;
        for row in rows.iter().filter(|r| r.is_mixed()) {
            let sequence = tokenize_steps(
                |t| config_encode(base, t),
                config.bos_token_id,
                &row.prompt,
                &row.completions,
                &config.separator_ids,
                limits,
            )
            .map_err(|m| super::data::data_error(path, row.line, m))?;
            let labels: Vec<u32> = row
                .labels
                .iter()
                .flatten()
                .take(sequence.label_rows.len())
                .map(|&l| u32::from(l))
                .collect();
            if labels.is_empty() {
                skipped_cut += 1;
                continue;
            }
            examples.push(PrmExample { sequence, labels });
        }
        let skipped_unmixed = total - rows.iter().filter(|r| r.is_mixed()).count();
        if examples.is_empty() {
            return Err(Error::TrainData {
                path: path.clone(),
                line: 0,
                message: format!(
                    "no usable row: {total} rows, {skipped_unmixed} without both a correct and an incorrect step, {skipped_cut} with every label cut by --max-length {}",
                    options.max_length
                ),
            });
        }
        let hidden = base.config.hidden_size;
        Ok(PrmObjective {
            examples,
            head: PrmHead::init(hidden, options.seed)?,
            projector: (settings.contrastive > 0.0 && !settings.freeze_backbone)
                .then(|| Projector::new(hidden, options.seed)),
            settings: settings.clone(),
            config,
            skipped_unmixed,
            skipped_cut,
        })
    }
}

fn config_encode(base: &Base, text: &str) -> std::result::Result<Vec<u32>, String> {
    base.tokenizer
        .encode(text)
        .map(|e| e.ids)
        .map_err(|e| e.to_string())
}

impl Objective for PrmObjective {
    fn examples(&self) -> usize {
        self.examples.len()
    }

    fn summary(&self) -> Value {
        let tokens: usize = self.examples.iter().map(|e| e.sequence.ids.len()).sum();
        let longest = self.examples.iter().map(|e| e.sequence.ids.len()).max();
        let labels: usize = self.examples.iter().map(|e| e.labels.len()).sum();
        let correct: usize = self
            .examples
            .iter()
            .map(|e| e.labels.iter().filter(|&&l| l == 1).count())
            .sum();
        let steps_cut: usize = self
            .examples
            .iter()
            .map(|e| e.sequence.steps - e.labels.len())
            .sum();
        json!({
            "examples": self.examples.len(),
            "tokens": tokens,
            "longest": longest,
            "labelled_steps": labels,
            "correct_steps": correct,
            "steps_cut": steps_cut,
            "rows_skipped_not_mixed": self.skipped_unmixed,
            "rows_skipped_all_labels_cut": self.skipped_cut,
        })
    }

    fn trains_model(&self) -> bool {
        !self.settings.freeze_backbone
    }

    fn own_trained(&self) -> Vec<(String, candle_core::Tensor)> {
        self.head.named()
    }

    fn step(
        &self,
        model: &Llama,
        picked: &[Vec<usize>],
        grads: &mut Grads,
        seed: u64,
    ) -> Result<StepStats> {
        let micro: Vec<Packed> = picked
            .iter()
            .map(|ids| {
                pack_labelled(ids.iter().map(|&k| {
                    let e = &self.examples[k];
                    (&e.sequence, e.labels.as_slice())
                }))
            })
            .collect();
        let s = prm_step(
            model,
            &self.head,
            self.projector.as_ref(),
            &micro,
            self.settings.contrastive,
            self.trains_model(),
            grads,
            seed,
        )?;
        let extra = json!({
            "cross_entropy": s.cross_entropy,
            "contrastive": s.contrastive,
            "accuracy": s.correct as f64 / s.labelled.max(1) as f64,
            "labelled_steps": s.labelled,
        });
        Ok(StepStats::new(s.loss, s.tokens, extra))
    }

    fn export(&self, model: &Llama, base: &Base, out: &Path, training: &Value) -> Result<()> {
        std::fs::create_dir_all(out).map_err(crate::error::io_error(out))?;
        let head: HashMap<String, candle_core::Tensor> = self.head.named().into_iter().collect();
        checkpoint::save_tensors(&out.join(PRM_HEAD_FILE), &head)?;
        let config = serde_json::to_value(&self.config).map_err(|e| Error::Fatal(e.to_string()))?;
        checkpoint::write_json(&out.join(PRM_CONFIG_FILE), &config)?;
        export(model, base, out, training)
    }
}

/// What one PRM step gave.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PrmStep {
    /// Mean over micro-batches of (cross-entropy + weight · contrastive).
    pub loss: f64,
    /// Mean over micro-batches of the mean cross-entropy.
    pub cross_entropy: f64,
    /// Mean over micro-batches of the contrastive loss (0 when off).
    pub contrastive: f64,
    /// Labelled positions whose larger logit is their label.
    pub correct: usize,
    /// Labelled positions.
    pub labelled: usize,
    /// Tokens processed.
    pub tokens: usize,
}

/// Forward and backward over `micro` (one optimizer step of packed, labelled sequences),
/// accumulating the gradient of the step's loss into `grads`: the head's always, the model's
/// when `train_model`; `projector` (with `weight`) adds the contrastive term.
#[allow(clippy::too_many_arguments)]
pub fn prm_step(
    model: &Llama,
    head: &PrmHead,
    projector: Option<&Projector>,
    micro: &[Packed],
    weight: f64,
    train_model: bool,
    grads: &mut Grads,
    seed: u64,
) -> Result<PrmStep> {
    let m = micro.len() as f64;
    let mut out = PrmStep::default();
    for (i, packed) in micro.iter().enumerate() {
        if packed.targets.is_empty() {
            return Err(Error::Fatal(
                "a PRM micro-batch without labelled steps".into(),
            ));
        }
        let pass = Pass {
            train: train_model,
            seed: seed.wrapping_mul(0x0100_0000_01b3).wrapping_add(i as u64),
        };
        let (rows, acts) = model.forward_rows(packed, pass)?;
        let n = packed.targets.len() as f64;
        let ce = head.cross_entropy(&rows, &packed.targets, 1.0 / (n * m), grads)?;
        out.cross_entropy += ce.loss_sum / n / m;
        out.loss += ce.loss_sum / n / m;
        out.correct += ce.correct;
        out.labelled += packed.targets.len();
        out.tokens += packed.tokens();
        if !train_model {
            continue;
        }
        let mut d_rows = ce.d_input;
        if let Some(projector) = projector {
            let x = view(&rows)?.slice().to_vec();
            let width = x.len() / packed.targets.len();
            let projected = projector.forward(&x);
            let (value, d_y) = info_nce(&projected.out, width, &packed.targets, TEMPERATURE);
            out.contrastive += value / m;
            out.loss += weight * value / m;
            let scale = (weight / m) as f32;
            let d_y: Vec<f32> = d_y.iter().map(|&g| g * scale).collect();
            let d_x = tensor(projector.backward(&projected, &d_y), rows.dims())?;
            d_rows = (d_rows + d_x)?;
        }
        drop(rows);
        model.backward_rows(acts, packed, &d_rows, grads)?;
    }
    Ok(out)
}

/// The settings of a PRM run for `training.json` and the resume fingerprint.
pub fn settings_json(settings: &PrmSettings) -> Value {
    json!({
        "separator": settings.separator,
        "freeze_backbone": settings.freeze_backbone,
        "contrastive": settings.contrastive,
        "contrastive_temperature": TEMPERATURE,
        "max_prompt_length": settings.max_prompt_length,
        "max_completion_length": settings.max_completion_length,
    })
}
