//! Integration tests of the harness on the real data files.

mod agreement;
mod datasets;
mod local_dataset;
mod malformed;
mod scoring;

use std::path::PathBuf;

/// The shared data directory. The tests read the real files, so a missing directory fails them
/// with a message saying where it was looked for.
pub fn data_dir() -> PathBuf {
    // The tests run inside the build tree: $R2L_DATA_DIR or ./shared/data, ../shared/data
    // beside the working directory, else the shared data beside the clone.
    harness::data::find_data_dir(None)
        .or_else(|_| {
            harness::data::find_data_dir(Some(std::path::Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/data"
            ))))
        })
        .unwrap_or_else(|e| panic!("{e}"))
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
