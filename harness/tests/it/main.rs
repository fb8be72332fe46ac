//! Integration tests of the harness on the real data files.

mod agreement;
mod datasets;
mod malformed;
mod scoring;

use std::path::PathBuf;

/// The shared data directory. The tests read the real files, so a missing directory fails them
/// with a message saying where it was looked for.
pub fn data_dir() -> PathBuf {
    let dir = harness::data::default_data_dir();
    assert!(
        dir.is_dir(),
        "data directory {} not found: put the shared data beside the clone or set R2L_DATA_DIR",
        dir.display()
    );
    dir
}

/// Loads a split of the real data (the test fails when it is absent or does not load).
#[macro_export]
macro_rules! load_split {
    ($name:expr, $split:expr) => {{
        let dir = $crate::data_dir();
        match harness::data::load($name, $split, &dir) {
            Ok(dataset) => dataset,
            Err(error) => panic!("loading {} {}: {error}", $name, $split),
        }
    }};
}
