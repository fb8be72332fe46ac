//! Integration tests of the harness on the real data files.

mod agreement;
mod datasets;
mod malformed;
mod scoring;

use std::path::PathBuf;

/// The shared data directory, or None (with a message) when it is absent: the tests that read
/// real files then have nothing to check. In CI the directory is always present.
pub fn data_dir() -> Option<PathBuf> {
    let dir = harness::data::default_data_dir();
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: data directory {} not found (set R2L_DATA_DIR)",
            dir.display()
        );
        None
    }
}

/// Loads a split of the real data, or returns from the test when the data is absent.
#[macro_export]
macro_rules! load_or_skip {
    ($name:expr, $split:expr) => {{
        let Some(dir) = $crate::data_dir() else {
            return;
        };
        match harness::data::load($name, $split, &dir) {
            Ok(dataset) => dataset,
            Err(error) => panic!("loading {} {}: {error}", $name, $split),
        }
    }};
}
