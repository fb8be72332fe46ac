//! Writing a file so that a reader (or a process killed mid-write) never sees half of it: the
//! bytes go to a temporary sibling, which is then renamed into place.

use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename
/// (callers name `path` in their error).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temporary = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        // Best effort: the rename error is the one worth reporting.
        let _ = std::fs::remove_file(&temporary);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("a.json");
        write_atomically(&path, b"one").unwrap_or_else(|e| panic!("{e}"));
        write_atomically(&path, b"two").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::fs::read(&path).unwrap_or_default(), b"two");
        let entries = std::fs::read_dir(dir.path()).map_or(0, |d| d.count());
        assert_eq!(entries, 1);
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        assert!(write_atomically(Path::new("/nonexistent-r2l-dir/x.json"), b"x").is_err());
    }
}
