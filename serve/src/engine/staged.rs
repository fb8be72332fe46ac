//! A checkpoint directory as mistral.rs should see it: when its `config.json` is in a shape
//! mistral.rs 0.8.1 cannot read (transformers 5.x puts `rope_theta` inside `rope_parameters`),
//! a temporary directory holds the normalised `config.json` beside links to every other file.

use std::path::Path;

use tempfile::TempDir;

use crate::error::{Error, Result};

/// A temporary normalised view of a checkpoint directory, removed on drop.
#[derive(Debug)]
pub struct StagedCheckpoint {
    dir: TempDir,
}

impl StagedCheckpoint {
    /// None when `source`'s `config.json` needs no change; else the staged directory.
    pub fn for_dir(source: &Path) -> Result<Option<StagedCheckpoint>> {
        let Some(config) = checkpoint::normalized_if_changed(source)? else {
            return Ok(None);
        };
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let dir = tempfile::Builder::new()
            .prefix("r2l-checkpoint-")
            .tempdir()
            .map_err(io(&std::env::temp_dir()))?;
        let source = std::fs::canonicalize(source).map_err(io(source))?;
        for entry in std::fs::read_dir(&source).map_err(io(&source))? {
            let entry = entry.map_err(io(&source))?;
            let name = entry.file_name();
            if name == checkpoint::CONFIG_FILE {
                continue;
            }
            let link = dir.path().join(&name);
            link_file(&entry.path(), &link).map_err(io(&link))?;
        }
        checkpoint::write_json(&dir.path().join(checkpoint::CONFIG_FILE), &config)?;
        tracing::info!(
            "{}: config.json normalised (transformers 5.x shape) for mistral.rs",
            source.display()
        );
        Ok(Some(StagedCheckpoint { dir }))
    }

    /// The staged directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

#[cfg(unix)]
fn link_file(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn link_file(target: &Path, link: &Path) -> std::io::Result<()> {
    std::fs::copy(target, link).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(dir: &Path, config: &serde_json::Value) {
        std::fs::write(dir.join("config.json"), config.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("tokenizer.json"), "{}").unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn a_transformers_5_config_is_staged_with_rope_theta() {
        let source = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write_config(
            source.path(),
            &serde_json::json!({
                "architectures": ["LlamaForCausalLM"], "num_attention_heads": 9,
                "num_key_value_heads": 3, "dtype": "float32",
                "rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"},
            }),
        );
        let staged = StagedCheckpoint::for_dir(source.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("not staged"));
        let text = std::fs::read_to_string(staged.dir().join("config.json")).unwrap_or_default();
        let config: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(config["rope_theta"], 100000.0);
        assert_eq!(config["torch_dtype"], "float32");
        assert!(config.get("rope_parameters").is_none());
        assert_eq!(
            std::fs::read_to_string(staged.dir().join("tokenizer.json"))
                .ok()
                .as_deref(),
            Some("{}")
        );
        let kept = staged.dir().to_path_buf();
        drop(staged);
        assert!(
            !kept.exists(),
            "the staging directory is removed with the engine"
        );
    }

    #[test]
    fn a_transformers_4_config_is_used_in_place() {
        let source = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write_config(
            source.path(),
            &serde_json::json!({
                "architectures": ["LlamaForCausalLM"], "num_attention_heads": 9,
                "num_key_value_heads": 3, "rope_theta": 100000.0, "torch_dtype": "float32",
            }),
        );
        let staged = StagedCheckpoint::for_dir(source.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(staged.is_none());
    }
}
