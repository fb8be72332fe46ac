//! The identity of a model's weights: one sha256 that serve (the model's `sha256`), the trainer
//! (`training.json`'s base) and `r2l reproduce` (served ids, skipped steps) all compute the same
//! way, so a student's weights are recognised wherever they appear.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::files::{file_sha256, lower_hex};
use crate::weights::weight_files;

/// Lower-case hex sha256 identifying the weights at `path`:
/// - a file (a GGUF, or a single safetensors file): the file's own sha256, as `sha256sum` prints;
/// - a checkpoint directory with one `model.safetensors`: that file's sha256;
/// - a sharded checkpoint directory: the sha256 of the lines `"<shard name> <shard sha256>\n"`,
///   shards in name order (so renaming or reordering shards changes the identity, and a
///   one-shard index equals nothing but itself).
pub fn weights_sha256(path: &Path) -> Result<String> {
    if path.is_file() {
        return file_sha256(path);
    }
    let files = weight_files(path)?;
    if let [single] = files.as_slice() {
        if single.file_name() == Some(std::ffi::OsStr::new(crate::files::WEIGHTS_FILE)) {
            return file_sha256(single);
        }
    }
    let mut hasher = Sha256::new();
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        hasher.update(format!("{name} {}\n", file_sha256(file)?).as_bytes());
    }
    Ok(lower_hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_single_file_checkpoint_is_named_by_its_weights_file() {
        let dir = ok(tempfile::tempdir());
        let weights = dir.path().join("model.safetensors");
        ok(std::fs::write(&weights, b"weights"));
        let expected = ok(file_sha256(&weights));
        assert_eq!(ok(weights_sha256(dir.path())), expected);
        assert_eq!(ok(weights_sha256(&weights)), expected);
    }

    #[test]
    fn a_sharded_checkpoint_hashes_its_shards_in_name_order() {
        let dir = ok(tempfile::tempdir());
        for (name, body) in [("b.safetensors", "two"), ("a.safetensors", "one")] {
            ok(std::fs::write(dir.path().join(name), body));
        }
        ok(std::fs::write(
            dir.path().join("model.safetensors.index.json"),
            r#"{"weight_map": {"x": "b.safetensors", "y": "a.safetensors"}}"#,
        ));
        let line = |name: &str| format!("{name} {}\n", ok(file_sha256(&dir.path().join(name))));
        let expected = lower_hex(&Sha256::digest(
            format!("{}{}", line("a.safetensors"), line("b.safetensors")).as_bytes(),
        ));
        assert_eq!(ok(weights_sha256(dir.path())), expected);
    }

    #[test]
    fn a_directory_without_weights_is_an_error_naming_it() {
        let dir = ok(tempfile::tempdir());
        let error = weights_sha256(dir.path())
            .err()
            .unwrap_or_else(|| panic!("accepted"))
            .to_string();
        assert!(error.contains("model.safetensors"), "{error}");
    }
}
