//! A trained process reward model: its checkpoint files, loading, and scoring steps —
//! `P(correct)` at each step's separator, the rows tokenized exactly as in training.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::export::Base;
use super::linear::Pass;
use super::model::{gather_rows, Llama};
use super::options::PrmSettings;
use super::prm_head::{PrmHead, BIAS_NAME, WEIGHT_NAME};
use super::stepwise::{tokenize_steps, StepLimits, StepSequence};
use crate::error::{Error, Result};

/// The head's weights inside a PRM checkpoint.
pub const PRM_HEAD_FILE: &str = "prm_head.safetensors";
/// The PRM's settings inside a PRM checkpoint.
pub const PRM_CONFIG_FILE: &str = "prm.json";
const FORMAT: &str = "r2l-prm/1";

/// `prm.json`: how a PRM reads its input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrmConfig {
    /// `r2l-prm/1`.
    pub format: String,
    /// The step separator.
    pub separator: String,
    /// Its tokens (the label sits on the last).
    pub separator_ids: Vec<u32>,
    /// Prepended to the prompt (TRL: the tokenizer's `bos_token_id`, when it has one).
    pub bos_token_id: Option<u32>,
    /// What the two logits mean.
    pub labels: [String; 2],
    /// sha256 of the `tokenizer.json` the ids come from.
    pub tokenizer_sha256: String,
    /// Most tokens of prompt plus steps.
    pub max_length: usize,
    /// Most prompt tokens.
    pub max_prompt_length: usize,
    /// Most step tokens, when limited.
    pub max_completion_length: Option<usize>,
}

impl PrmConfig {
    /// The config of a PRM trained from `base` with `settings`.
    pub fn for_base(base: &Base, settings: &PrmSettings, max_length: usize) -> Result<PrmConfig> {
        let separator_ids = base.tokenizer.encode(&settings.separator)?.ids;
        if separator_ids.is_empty() {
            return Err(Error::InvalidInput(format!(
                "--separator {:?} tokenizes to no tokens",
                settings.separator
            )));
        }
        let bos_token_id = base
            .template
            .as_ref()
            .and_then(|t| t.bos_token())
            .and_then(|t| base.tokenizer.token_id(t));
        Ok(PrmConfig {
            format: FORMAT.to_string(),
            separator: settings.separator.clone(),
            separator_ids,
            bos_token_id,
            labels: ["incorrect".to_string(), "correct".to_string()],
            tokenizer_sha256: tokenizer_sha256(&base.dir)?,
            max_length,
            max_prompt_length: settings.max_prompt_length,
            max_completion_length: settings.max_completion_length,
        })
    }

    /// Its truncation limits.
    pub fn limits(&self) -> StepLimits {
        StepLimits {
            max_length: self.max_length,
            max_prompt_length: self.max_prompt_length,
            max_completion_length: self.max_completion_length,
        }
    }
}

/// sha256 of `dir/tokenizer.json` (the identity a PRM and a policy must share).
pub fn tokenizer_sha256(dir: &Path) -> Result<String> {
    Ok(checkpoint::file_sha256(
        &dir.join(checkpoint::TOKENIZER_FILE),
    )?)
}

/// A loaded PRM.
#[derive(Debug)]
pub struct PrmModel {
    /// The checkpoint's files.
    pub base: Base,
    /// How it reads input.
    pub config: PrmConfig,
    model: Llama,
    head: PrmHead,
}

impl PrmModel {
    /// Loads the PRM checkpoint in `dir`.
    pub fn load(dir: &Path) -> Result<PrmModel> {
        let config_path = dir.join(PRM_CONFIG_FILE);
        if !config_path.is_file() {
            return Err(Error::InvalidInput(format!(
                "{} is not a PRM checkpoint: it has no {PRM_CONFIG_FILE} (train one with `r2l train prm`)",
                dir.display()
            )));
        }
        let text =
            std::fs::read_to_string(&config_path).map_err(crate::error::io_error(&config_path))?;
        let config: PrmConfig = serde_json::from_str(&text).map_err(|e| Error::Malformed {
            path: config_path.clone(),
            line: e.line(),
            message: e.to_string(),
        })?;
        if config.format != FORMAT {
            return Err(Error::Malformed {
                path: config_path,
                line: 0,
                message: format!("format {:?}, expected {FORMAT:?}", config.format),
            });
        }
        let base = Base::open(dir)?;
        let found = tokenizer_sha256(dir)?;
        if found != config.tokenizer_sha256 {
            return Err(Error::InvalidInput(format!(
                "{}: tokenizer.json (sha256 {found}) is not the tokenizer the PRM was trained with ({})",
                dir.display(),
                config.tokenizer_sha256
            )));
        }
        let (model, _) = Llama::load(dir, None, 0)?;
        let head_path = dir.join(PRM_HEAD_FILE);
        let mut tensors = checkpoint::load_tensors(&head_path)?;
        let missing = |name: &str| Error::Malformed {
            path: head_path.clone(),
            line: 0,
            message: format!("no tensor `{name}`"),
        };
        let weight = tensors
            .remove(WEIGHT_NAME)
            .ok_or_else(|| missing(WEIGHT_NAME))?;
        let bias = tensors
            .remove(BIAS_NAME)
            .ok_or_else(|| missing(BIAS_NAME))?;
        let head = PrmHead::from_tensors(weight, bias, base.config.hidden_size).map_err(|e| {
            Error::Malformed {
                path: head_path.clone(),
                line: 0,
                message: e.to_string(),
            }
        })?;
        Ok(PrmModel {
            base,
            config,
            model,
            head,
        })
    }

    /// Tokenizes a prompt and its steps as the PRM was trained.
    pub fn tokenize(&self, prompt: &str, steps: &[String]) -> Result<StepSequence> {
        tokenize_steps(
            |t| {
                self.base
                    .tokenizer
                    .encode(t)
                    .map(|e| e.ids)
                    .map_err(|e| e.to_string())
            },
            self.config.bos_token_id,
            prompt,
            steps,
            &self.config.separator_ids,
            self.config.limits(),
        )
        .map_err(Error::InvalidInput)
    }

    /// `P(correct)` of each step that fits the PRM's length limits (in order; steps cut off
    /// by `max_length` get none).
    pub fn step_probabilities(&self, prompt: &str, steps: &[String]) -> Result<Vec<f64>> {
        let sequence = self.tokenize(prompt, steps)?;
        self.probabilities_of(&sequence)
    }

    /// `P(correct)` at the label rows of a tokenized sequence.
    pub fn probabilities_of(&self, sequence: &StepSequence) -> Result<Vec<f64>> {
        if sequence.label_rows.is_empty() {
            return Ok(Vec::new());
        }
        let spans = [super::attention::Span::own(0, sequence.ids.len())];
        let positions: Vec<usize> = (0..sequence.ids.len()).collect();
        let (hidden, _) =
            self.model
                .forward_train(&sequence.ids, &spans, &positions, Pass::EVAL)?;
        let rows = gather_rows(&hidden, &sequence.label_rows)?;
        Ok(self.head.probabilities(&rows)?)
    }
}
