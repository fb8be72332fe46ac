//! Server configuration: limits, API keys, and the models file (`[[models]] id, path, isq,
//! default, max_seqs, prefix_cache_mb`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::engine::{Isq, ModelSpec};
use crate::error::{Error, Result};

/// Limits that keep the server healthy under bad or heavy traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest request body (bytes) → 413 above.
    pub max_body_bytes: usize,
    /// Most messages in a chat request → 400 above.
    pub max_messages: usize,
    /// Largest `max_tokens` a request may ask for → 400 above.
    pub max_tokens_cap: usize,
    /// Most choices (`n`) per request → 400 above; they are generated one after the other.
    pub max_n: usize,
    /// Generations running at once.
    pub max_in_flight: usize,
    /// Requests waiting for a slot → 429 with `Retry-After` above.
    pub max_queue: usize,
    /// Time allowed for one generation → 504 after it.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_messages: 256,
            max_tokens_cap: 4096,
            max_n: 8,
            max_in_flight: 8,
            max_queue: 64,
            request_timeout: Duration::from_secs(300),
        }
    }
}

/// Everything `app` needs besides the models.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServeConfig {
    /// Accepted API keys; empty = open.
    pub api_keys: Vec<String>,
    /// Limits.
    pub limits: Limits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelsFile {
    models: Vec<ModelLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelLine {
    id: String,
    path: PathBuf,
    #[serde(default)]
    isq: Option<String>,
    #[serde(default)]
    default: bool,
    #[serde(default)]
    max_seqs: Option<usize>,
    #[serde(default)]
    prefix_cache_mb: Option<usize>,
}

/// Reads a models file; relative paths are relative to the file. Returns the specs and the
/// index of the default model.
pub fn read_models_file(path: &Path) -> Result<(Vec<ModelSpec>, usize)> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file_name = path.display().to_string();
    let table: toml::Table = toml::from_str(&text).map_err(|error| Error::Config {
        file: file_name.clone(),
        field: "(toml)".to_string(),
        message: error.message().to_string(),
    })?;
    let parsed: ModelsFile =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
            Error::Config {
                file: file_name.clone(),
                field: error.path().to_string(),
                message: error.inner().message().to_string(),
            }
        })?;
    if parsed.models.is_empty() {
        return Err(Error::Config {
            file: file_name,
            field: "models".into(),
            message: "no [[models]] entry".into(),
        });
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut specs = Vec::new();
    let mut default = None;
    for (index, line) in parsed.models.into_iter().enumerate() {
        let field = |name: &str| format!("models[{index}].{name}");
        if line.id.trim().is_empty() {
            return Err(Error::Config {
                file: file_name,
                field: field("id"),
                message: "empty".into(),
            });
        }
        if specs.iter().any(|s: &ModelSpec| s.id == line.id) {
            return Err(Error::Config {
                file: file_name,
                field: field("id"),
                message: format!("`{}` is used twice", line.id),
            });
        }
        let isq = match &line.isq {
            Some(text) => Isq::parse(text).map_err(|e| Error::Config {
                file: file_name.clone(),
                field: field("isq"),
                message: e.to_string(),
            })?,
            None => None,
        };
        if line.default {
            if default.is_some() {
                return Err(Error::Config {
                    file: file_name,
                    field: field("default"),
                    message: "only one model can be the default".into(),
                });
            }
            default = Some(index);
        }
        let model_path = if line.path.is_absolute() {
            line.path
        } else {
            base.join(line.path)
        };
        if line.max_seqs == Some(0) {
            return Err(Error::Config {
                file: file_name,
                field: field("max_seqs"),
                message: "must be at least 1".into(),
            });
        }
        let prefix_cache_mb = line
            .prefix_cache_mb
            .unwrap_or(crate::engine::prefix_cache::DEFAULT_PREFIX_CACHE_MB);
        if let Err(message) = crate::engine::prefix_cache::check_mb(prefix_cache_mb) {
            return Err(Error::Config {
                file: file_name,
                field: field("prefix_cache_mb"),
                message,
            });
        }
        specs.push(ModelSpec {
            id: line.id,
            path: model_path,
            isq,
            max_seqs: line.max_seqs.unwrap_or(crate::engine::DEFAULT_MAX_SEQS),
            prefix_cache_mb,
        });
    }
    Ok((specs, default.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::Builder::new()
            .suffix(".toml")
            .tempfile()
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(file.path(), text).unwrap_or_else(|e| panic!("{e}"));
        file
    }

    #[test]
    fn models_file_parses_with_default_and_relative_paths() {
        let file = write("[[models]]\nid = \"a\"\npath = \"a.gguf\"\n[[models]]\nid = \"b\"\npath = \"/m/b\"\nisq = \"q8_0\"\ndefault = true\nmax_seqs = 4\n");
        let (specs, default) = read_models_file(file.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(default, 1);
        assert_eq!((specs[0].max_seqs, specs[1].max_seqs), (1, 4));
        assert_eq!(specs[0].prefix_cache_mb, 256);
        assert_eq!(specs[1].isq, Some(Isq::Q8_0));
        assert!(specs[0].path.ends_with("a.gguf") && specs[0].path.is_absolute());
    }

    #[test]
    fn models_file_errors_name_the_field() {
        let file = write("[[models]]\nid = \"a\"\npath = \"a\"\nisq = \"q3\"\n\n\n");
        let message = read_models_file(file.path())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(message.contains("models[0].isq"), "{message}");
        let file = write("[[models]]\nid = \"a\"\npath = \"a\"\nquant = 1\n\n\n\n");
        let message = read_models_file(file.path())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(message.contains("quant"), "{message}");
    }
}
