//! A content-addressed cache of chat answers, so an interrupted run resumes where it stopped:
//! the key hashes the model, the messages and the generation settings (not the endpoint, so a
//! fleet of replicas shares it). Entries are written to a temporary file and renamed into place,
//! so a killed process never leaves half an entry.

use std::path::{Path, PathBuf};

use chat::{ChatRequest, ChatResponse};
use serde_json::json;

use crate::data::sha256_hex;
use crate::error::{Error, Result};

/// A directory of cached answers, one JSON file per request hash.
#[derive(Debug, Clone)]
pub struct RequestCache {
    dir: PathBuf,
}

impl RequestCache {
    /// A cache rooted at `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> RequestCache {
        RequestCache { dir: dir.into() }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The request's content hash (hex sha256).
    pub fn key(request: &ChatRequest) -> String {
        let identity = json!({
            "model": request.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
            "stop": request.stop,
            "response_format": request.response_format,
        });
        sha256_hex(identity.to_string().as_bytes())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    /// The cached answer for `key`, if present and readable (an unreadable entry is a miss).
    pub fn get(&self, key: &str) -> Option<ChatResponse> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores an answer atomically (temporary file + rename).
    pub fn put(&self, key: &str, response: &ChatResponse) -> Result<()> {
        let path = self.path(key);
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            path: parent.to_path_buf(),
            source,
        })?;
        let body = serde_json::to_vec(response).map_err(|e| Error::InvalidInput(e.to_string()))?;
        write_atomically(&path, &body)
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temporary = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, bytes).map_err(|source| Error::Io {
        path: temporary.clone(),
        source,
    })?;
    std::fs::rename(&temporary, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat::Message;

    #[test]
    fn keys_depend_on_content_not_endpoint() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![Message::user("hi")],
            ..Default::default()
        };
        let mut other = request.clone();
        assert_eq!(RequestCache::key(&request), RequestCache::key(&other));
        other.temperature = Some(0.7);
        assert_ne!(RequestCache::key(&request), RequestCache::key(&other));
    }

    #[test]
    fn entries_round_trip() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cache = RequestCache::new(dir.path());
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![Message::user("hi")],
            ..Default::default()
        };
        let response = chat::response_for(&request, "hello".into(), "x".into());
        let key = RequestCache::key(&request);
        assert!(cache.get(&key).is_none());
        cache.put(&key, &response).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.get(&key), Some(response));
    }
}
