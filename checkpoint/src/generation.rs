//! `generation_config.json`: the special token ids generation starts and stops with.

use std::path::Path;

use serde_json::{json, Value};

use crate::config::ModelConfig;
use crate::error::{io_error, Error, Result};
use crate::files::{write_json, GENERATION_CONFIG_FILE};

/// The generation config a model config implies: its bos, eos and (if any) pad token ids.
pub fn generation_config(config: &ModelConfig) -> Value {
    let mut value = json!({
        "bos_token_id": config.bos_token_id,
        "eos_token_id": config.eos_token_id,
    });
    if let (Some(pad), Some(map)) = (config.pad_token_id, value.as_object_mut()) {
        map.insert("pad_token_id".into(), pad.into());
    }
    value
}

/// `dir/generation_config.json` if it exists.
pub fn read_generation_config(dir: &Path) -> Result<Option<Value>> {
    let path = dir.join(GENERATION_CONFIG_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Json {
            path,
            message: format!("not valid JSON: {e}"),
        })
}

/// Writes `dir/generation_config.json` atomically.
pub fn write_generation_config(dir: &Path, value: &Value) -> Result<()> {
    write_json(&dir.join(GENERATION_CONFIG_FILE), value)
}

/// The end-of-sequence ids generation stops on: those of `generation_config.json` when it
/// names any, else the model config's.
pub fn stop_token_ids(generation: Option<&Value>, config: &ModelConfig) -> Vec<u32> {
    let listed = generation
        .and_then(|g| g.get("eos_token_id"))
        .map(|v| match v {
            Value::Number(n) => n.as_u64().map(|n| vec![n]).unwrap_or_default(),
            Value::Array(items) => items.iter().filter_map(Value::as_u64).collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default();
    let ids: Vec<u32> = listed
        .into_iter()
        .filter_map(|n| u32::try_from(n).ok())
        .collect();
    if ids.is_empty() {
        config.eos_token_ids()
    } else {
        ids
    }
}
