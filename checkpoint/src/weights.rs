//! Safetensors weights: one `model.safetensors`, or shards listed in
//! `model.safetensors.index.json`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use candle_core::{Device, Tensor};

use crate::error::{io_error, Error, Result};
use crate::files::{write_atomically, WEIGHTS_FILE, WEIGHTS_INDEX_FILE};

/// Every tensor of the checkpoint in `dir`, by name, on the CPU in its stored dtype.
pub fn load_weights(dir: &Path) -> Result<HashMap<String, Tensor>> {
    let single = dir.join(WEIGHTS_FILE);
    if single.is_file() {
        return load_file(&single);
    }
    let index = dir.join(WEIGHTS_INDEX_FILE);
    if !index.is_file() {
        return Err(Error::Missing {
            dir: dir.to_path_buf(),
            file: format!("{WEIGHTS_FILE} (or {WEIGHTS_INDEX_FILE})"),
        });
    }
    let mut tensors = HashMap::new();
    for shard in shard_files(&index)? {
        tensors.extend(load_file(&dir.join(&shard))?);
    }
    Ok(tensors)
}

/// The weights file(s) of `dir`, for hashing: `model.safetensors`, or the sorted shards.
pub fn weight_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let single = dir.join(WEIGHTS_FILE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join(WEIGHTS_INDEX_FILE);
    if !index.is_file() {
        return Err(Error::Missing {
            dir: dir.to_path_buf(),
            file: format!("{WEIGHTS_FILE} (or {WEIGHTS_INDEX_FILE})"),
        });
    }
    Ok(shard_files(&index)?
        .into_iter()
        .map(|shard| dir.join(shard))
        .collect())
}

/// The shard file names of an index, sorted and deduplicated.
fn shard_files(index: &Path) -> Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(index).map_err(io_error(index))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Json {
        path: index.to_path_buf(),
        message: format!("not valid JSON: {e}"),
    })?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::Json {
            path: index.to_path_buf(),
            message: "field `weight_map` is missing or not an object".to_string(),
        })?;
    map.iter()
        .map(|(name, file)| {
            file.as_str()
                .filter(|f| !f.contains('/') && !f.contains('\\'))
                .map(str::to_string)
                .ok_or_else(|| Error::Json {
                    path: index.to_path_buf(),
                    message: format!(
                        "field `weight_map.{name}`: not a file name in this directory"
                    ),
                })
        })
        .collect()
}

fn load_file(path: &Path) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| Error::Weights {
        path: path.to_path_buf(),
        message: format!("not a readable safetensors file: {e}"),
    })
}

/// Writes `tensors` to `dir/model.safetensors` atomically (see [`save_tensors`]).
pub fn save_weights(dir: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    save_tensors(&dir.join(WEIGHTS_FILE), tensors)
}

/// Writes `tensors` to the safetensors file `path` atomically, sorted by name, with the
/// `{"format": "pt"}` header metadata Hugging Face transformers expects. The same tensors give
/// the same bytes.
pub fn save_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let metadata: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    let mut sorted: Vec<(&String, Tensor)> = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        let tensor = tensor.contiguous().map_err(|e| Error::Weights {
            path: path.to_path_buf(),
            message: format!("tensor `{name}`: {e}"),
        })?;
        sorted.push((name, tensor));
    }
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    write_atomically(path, |tmp| {
        safetensors::serialize_to_file(sorted, Some(metadata), tmp).map_err(|e| Error::Weights {
            path: tmp.to_path_buf(),
            message: format!("writing: {e}"),
        })
    })
}

/// Every tensor of the safetensors file `path`, by name, on the CPU.
pub fn load_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    load_file(path)
}

#[cfg(test)]
mod tests {
    use candle_core::DType;

    use super::*;

    #[test]
    fn saves_and_loads_single_and_sharded() {
        let dir = std::env::temp_dir().join(format!("r2l-ckpt-weights-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let a = Tensor::arange(0f32, 6., &Device::Cpu)
            .and_then(|t| t.reshape((2, 3)))
            .unwrap_or_else(|e| panic!("{e}"));
        let b = Tensor::ones(4, DType::F32, &Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
        let tensors: HashMap<String, Tensor> = [("a".to_string(), a), ("b".to_string(), b)].into();
        save_weights(&dir, &tensors).unwrap_or_else(|e| panic!("{e}"));
        let back = load_weights(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.len(), 2);
        let values = back
            .get("a")
            .map(|t| t.to_vec2::<f32>())
            .transpose()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(values, Some(vec![vec![0., 1., 2.], vec![3., 4., 5.]]));
        let header = std::fs::read(dir.join(WEIGHTS_FILE)).unwrap_or_default();
        let header = String::from_utf8_lossy(&header[8..100]);
        assert!(header.contains("\"format\":\"pt\""), "{header}");

        // The same file listed as the only shard of an index.
        let sharded = dir.join("sharded");
        std::fs::create_dir_all(&sharded).unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(dir.join(WEIGHTS_FILE), sharded.join("part-1.safetensors"))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            sharded.join(WEIGHTS_INDEX_FILE),
            r#"{"weight_map": {"a": "part-1.safetensors", "b": "part-1.safetensors"}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(load_weights(&sharded).map(|t| t.len()).ok(), Some(2));
        assert_eq!(weight_files(&sharded).map(|f| f.len()).ok(), Some(1));
        let err = load_weights(&dir).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("no model.safetensors")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
