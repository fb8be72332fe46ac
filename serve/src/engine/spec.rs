//! What to load: a model id, a path (GGUF file or Hugging Face-style directory) and the
//! in-situ quantization to apply.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// In-situ quantization applied when loading a safetensors checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isq {
    /// 8-bit blocks of 32 (candle has SIMD kernels for it; works at any width).
    Q8_0,
    /// 4-bit blocks of 32.
    Q4_0,
    /// 4-bit K-quant (blocks of 256: widths that are not a multiple of 256 fall back).
    Q4K,
}

impl Isq {
    /// Parses `q8_0`, `q4_0`, `q4k` (case-insensitive); `none` gives None.
    pub fn parse(text: &str) -> Result<Option<Isq>> {
        match text.to_ascii_lowercase().as_str() {
            "q8_0" | "q8" => Ok(Some(Isq::Q8_0)),
            "q4_0" => Ok(Some(Isq::Q4_0)),
            "q4k" | "q4_k" => Ok(Some(Isq::Q4K)),
            "none" | "f32" => Ok(None),
            other => Err(Error::Config {
                file: "--isq".to_string(),
                field: "isq".to_string(),
                message: format!("unknown quantization `{other}`; valid: q8_0, q4_0, q4k, none"),
            }),
        }
    }

    /// The name shown in `/v1/models` (`Q8_0`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Isq::Q8_0 => "Q8_0",
            Isq::Q4_0 => "Q4_0",
            Isq::Q4K => "Q4K",
        }
    }

    pub(crate) fn to_mistralrs(self) -> mistralrs::IsqType {
        match self {
            Isq::Q8_0 => mistralrs::IsqType::Q8_0,
            Isq::Q4_0 => mistralrs::IsqType::Q4_0,
            Isq::Q4K => mistralrs::IsqType::Q4K,
        }
    }
}

/// The on-disk format of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    /// A single GGUF file (already quantized; tokenizer and chat template in its metadata).
    Gguf,
    /// A directory with config.json, tokenizer.json and model.safetensors.
    Safetensors,
}

/// Sequences decoded together by default. Measured here (`r2l eval --task uit-visfd --local
/// default --limit 16 --concurrency 8`): 313 s with mistral.rs's default of 32, 203 s with 2,
/// 93 s with 1 — on this CPU engine batching is slower than one sequence at a time. Again after
/// the vendored engine fixes (2026-12-07, 8 concurrent 128-token requests of
/// `benchmarks/serve/client.py`): 42.4 tok/s with 8 against 52.5 with 1 (Q4_1 GGUF), 48.5
/// against 59.7 (ISQ Q8_0). mistral.rs copies every sequence's whole KV cache whenever the batch
/// changes and runs sequences of different lengths apart until they catch up.
pub const DEFAULT_MAX_SEQS: usize = 1;

/// A model to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The id clients use in `model`.
    pub id: String,
    /// The GGUF file or checkpoint directory.
    pub path: PathBuf,
    /// In-situ quantization (safetensors only).
    pub isq: Option<Isq>,
    /// Most sequences mistral.rs decodes together (others wait in its queue).
    pub max_seqs: usize,
    /// Megabytes of KV cache kept for prefix reuse (0: off); see [`super::prefix_cache`].
    pub prefix_cache_mb: usize,
}

impl ModelSpec {
    /// A spec with the default batch size ([`DEFAULT_MAX_SEQS`]) and prefix cache
    /// ([`super::prefix_cache::DEFAULT_PREFIX_CACHE_MB`]).
    pub fn new(id: impl Into<String>, path: impl Into<PathBuf>, isq: Option<Isq>) -> ModelSpec {
        ModelSpec {
            id: id.into(),
            path: path.into(),
            isq,
            max_seqs: DEFAULT_MAX_SEQS,
            prefix_cache_mb: super::prefix_cache::DEFAULT_PREFIX_CACHE_MB,
        }
    }

    /// The format of `path`, checking that what a loader needs is there.
    pub fn format(&self) -> Result<ModelFormat> {
        let path = &self.path;
        if path.is_file()
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        {
            if let Some(isq) = self.isq {
                return Err(Error::Model {
                    path: path.clone(),
                    message: format!(
                        "in-situ quantization ({}) of a GGUF file is refused by mistral.rs; convert it first with `r2l convert` and serve the directory",
                        isq.name()
                    ),
                });
            }
            return Ok(ModelFormat::Gguf);
        }
        if path.is_dir() {
            for needed in ["config.json", "tokenizer.json"] {
                if !path.join(needed).is_file() {
                    return Err(missing(path, needed));
                }
            }
            if !has_safetensors(path) {
                return Err(missing(path, "model.safetensors"));
            }
            return Ok(ModelFormat::Safetensors);
        }
        Err(Error::Model {
            path: path.clone(),
            message: "not found, or neither a .gguf file nor a checkpoint directory".to_string(),
        })
    }

    /// The quantization shown in `/v1/models`.
    pub fn quantization(&self, format: ModelFormat) -> String {
        match (format, self.isq) {
            (ModelFormat::Gguf, _) => gguf_quantization(&self.path),
            (ModelFormat::Safetensors, Some(isq)) => format!("ISQ {}", isq.name()),
            (ModelFormat::Safetensors, None) => "none (F32)".to_string(),
        }
    }
}

fn missing(dir: &Path, file: &str) -> Error {
    Error::Model {
        path: dir.to_path_buf(),
        message: format!("checkpoint directory has no {file}"),
    }
}

fn has_safetensors(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| e.path().extension().is_some_and(|x| x == "safetensors"))
        })
        .unwrap_or(false)
}

/// The quantization named in a GGUF file name (`...Q4_1.gguf` → `GGUF Q4_1`).
fn gguf_quantization(path: &Path) -> String {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let tag = stem.rsplit(['.', '-']).next().unwrap_or_default();
    if tag.starts_with(['Q', 'q', 'F', 'f', 'I', 'i']) && tag.len() <= 8 {
        format!("GGUF {}", tag.to_uppercase())
    } else {
        "GGUF".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantization_names_parse() {
        assert_eq!(Isq::parse("Q8_0").ok(), Some(Some(Isq::Q8_0)));
        assert_eq!(Isq::parse("q4k").ok(), Some(Some(Isq::Q4K)));
        assert_eq!(Isq::parse("none").ok(), Some(None));
        assert!(Isq::parse("q3")
            .map(|_| ())
            .unwrap_err()
            .to_string()
            .contains("valid: q8_0"));
    }

    #[test]
    fn gguf_file_names_give_their_quantization() {
        assert_eq!(
            gguf_quantization(Path::new("/m/SmolLM2-135M-Instruct.Q4_1.gguf")),
            "GGUF Q4_1"
        );
        assert_eq!(gguf_quantization(Path::new("/m/model.gguf")), "GGUF");
    }
}
