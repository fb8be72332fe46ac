//! The file names of a checkpoint directory, atomic writes, and hashing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{io_error, Error, Result};

/// The model configuration. Written last: its presence marks a complete checkpoint.
pub const CONFIG_FILE: &str = "config.json";
/// The weights of a single-file checkpoint.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The shard index of a multi-file checkpoint.
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";
/// The Hugging Face `tokenizers` file.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Special tokens and (in transformers 4.x) the chat template.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
/// The chat template as its own file (transformers 4.43+ and 5.x).
pub const CHAT_TEMPLATE_FILE: &str = "chat_template.jinja";
/// Special token ids generation starts and stops with.
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";

/// Files that describe the tokenizer and chat template, copied as they are from a base model
/// into every checkpoint trained from it.
pub const TOKENIZER_FILES: [&str; 5] = [
    TOKENIZER_FILE,
    TOKENIZER_CONFIG_FILE,
    CHAT_TEMPLATE_FILE,
    "chat_template.json",
    "special_tokens_map.json",
];

/// Writes `path` through `write` on a `.partial` sibling, then renames it into place, so that a
/// reader never sees half a file.
pub fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let mut tmp = OsString::from(path.as_os_str());
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    if let Err(e) = write(&tmp) {
        // Best effort: the write error is the one worth reporting.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(io_error(path))
}

/// Writes `value` as pretty JSON with a final newline, atomically.
pub fn write_json(path: &Path, value: &Value) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Json {
        path: path.to_path_buf(),
        message: format!("encoding: {e}"),
    })?;
    bytes.push(b'\n');
    write_atomically(path, |tmp| {
        std::fs::write(tmp, &bytes).map_err(io_error(tmp))
    })
}

/// Copies the tokenizer files [`TOKENIZER_FILES`] that exist in `from` into `to` (created).
/// Returns the names copied; fails when `from` has no `tokenizer.json`.
pub fn copy_tokenizer_files(from: &Path, to: &Path) -> Result<Vec<&'static str>> {
    if !from.join(TOKENIZER_FILE).is_file() {
        return Err(Error::Missing {
            dir: from.to_path_buf(),
            file: TOKENIZER_FILE.to_string(),
        });
    }
    std::fs::create_dir_all(to).map_err(io_error(to))?;
    let mut copied = Vec::new();
    for name in TOKENIZER_FILES {
        let source = from.join(name);
        if source.is_file() {
            let target = to.join(name);
            write_atomically(&target, |tmp| {
                std::fs::copy(&source, tmp)
                    .map(|_| ())
                    .map_err(io_error(&source))
            })?;
            copied.push(name);
        }
    }
    Ok(copied)
}

/// Lower-case hex sha256 of a file, streamed.
pub fn file_sha256(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(io_error(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(lower_hex(&hasher.finalize()))
}

/// Bytes as lower-case hex (how every sha256 in r2l is written).
pub(crate) fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_file() {
        let dir = std::env::temp_dir().join(format!("r2l-ckpt-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("abc");
        std::fs::write(&path, b"abc").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            file_sha256(&path).ok().as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        write_json(&dir.join("x.json"), &serde_json::json!({"a": 1}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            std::fs::read_to_string(dir.join("x.json")).ok().as_deref(),
            Some("{\n  \"a\": 1\n}\n")
        );
        let err = copy_tokenizer_files(&dir, &dir.join("out"))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("no tokenizer.json")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
