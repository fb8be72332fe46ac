//! The base checkpoint a run starts from, and the checkpoint it writes: the layout `r2l convert`
//! writes and `r2l serve` loads (config.json, model.safetensors in `f32` with LoRA merged,
//! tokenizer files, generation_config.json) plus `training.json`.

use std::path::{Path, PathBuf};

use checkpoint::{ChatTemplate, ModelConfig, Tokenizer};
use serde_json::Value;

use super::config::Config;
use super::model::Llama;
use crate::error::Result;

/// The file describing how a checkpoint was trained.
pub const TRAINING_FILE: &str = "training.json";

/// A base checkpoint's files, read once.
#[derive(Debug, Clone)]
pub struct Base {
    /// Its directory.
    pub dir: PathBuf,
    /// Its `config.json`, normalised.
    pub model_config: ModelConfig,
    /// The student config derived from it.
    pub config: Config,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// Its chat template, if any.
    pub template: Option<ChatTemplate>,
    /// Its `generation_config.json`, if any.
    pub generation: Option<Value>,
}

impl Base {
    /// Reads `dir`'s config, tokenizer, chat template and generation config (not the weights).
    /// Fails, naming the file and field, on a checkpoint that is not a Llama or Qwen2 model.
    pub fn open(dir: &Path) -> Result<Base> {
        let model_config = ModelConfig::read(dir)?;
        let config = Config::from_model_config(&model_config, &dir.join(checkpoint::CONFIG_FILE))?;
        Ok(Base {
            dir: dir.to_path_buf(),
            config,
            tokenizer: Tokenizer::load(dir)?,
            template: ChatTemplate::load(dir)?,
            generation: checkpoint::read_generation_config(dir)?,
            model_config,
        })
    }

    /// The token that ends generation: the first of the generation config's (or the model
    /// config's) end-of-sequence ids, else the chat template's `eos_token`.
    pub fn eos(&self) -> Option<u32> {
        checkpoint::stop_token_ids(self.generation.as_ref(), &self.model_config)
            .first()
            .copied()
            .or_else(|| {
                self.template
                    .as_ref()
                    .and_then(|t| t.eos_token())
                    .and_then(|t| self.tokenizer.token_id(t))
            })
    }

    /// Every id generation stops on.
    pub fn stop_ids(&self) -> Vec<u32> {
        let mut ids = checkpoint::stop_token_ids(self.generation.as_ref(), &self.model_config);
        if ids.is_empty() {
            ids.extend(self.eos());
        }
        ids
    }

    /// The weights' identity (`checkpoint::weights_sha256`).
    pub fn weights_sha256(&self) -> Result<String> {
        Ok(checkpoint::weights_sha256(&self.dir)?)
    }
}

/// Writes the trained `model` into `out` as a checkpoint of `base`'s layout, with `training`
/// as `training.json`. `config.json` is written last: its presence marks a complete export.
pub fn export(model: &Llama, base: &Base, out: &Path, training: &Value) -> Result<()> {
    std::fs::create_dir_all(out).map_err(crate::error::io_error(out))?;
    let tensors = model.hf_tensors()?;
    checkpoint::save_weights(out, &tensors)?;
    drop(tensors);
    checkpoint::copy_tokenizer_files(&base.dir, out)?;
    let generation = base
        .generation
        .clone()
        .unwrap_or_else(|| checkpoint::generation_config(&base.model_config));
    checkpoint::write_generation_config(out, &generation)?;
    checkpoint::write_json(&out.join(TRAINING_FILE), training)?;
    let mut config = base.model_config.clone();
    config.torch_dtype = Some("float32".to_string());
    config.write(out)?;
    Ok(())
}
