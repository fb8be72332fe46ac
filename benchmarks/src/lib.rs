//! Shared helpers for r2l's benchmarks: reproducible synthetic reliability matrices, written in
//! the raw format the peer-comparison scripts read.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A coders × units matrix (row-major, NaN = missing) of integer ratings 1–5 with
/// `missing_fraction` of the cells missing, from `seed`.
pub fn reliability_matrix(
    coders: usize,
    units: usize,
    missing_fraction: f64,
    seed: u64,
) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..coders * units)
        .map(|_| {
            if rng.random::<f64>() < missing_fraction {
                f64::NAN
            } else {
                f64::from(rng.random_range(1..=5u8))
            }
        })
        .collect()
}

/// Reads a raw little-endian f64 file (the format `benchmarks/krippendorff_peer.py` writes).
pub fn read_raw_f64(path: &std::path::Path) -> std::io::Result<Vec<f64>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            f64::from_le_bytes(word)
        })
        .collect())
}

/// The shared data directory for the benchmarks: `$R2L_DATA_DIR`, `./shared/data` or
/// `../shared/data` beside the working directory, else the shared data beside this clone.
pub fn data_dir() -> std::path::PathBuf {
    harness::data::find_data_dir(None)
        .or_else(|_| {
            harness::data::find_data_dir(Some(std::path::Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/data"
            ))))
        })
        .unwrap_or_else(|e| panic!("{e}"))
}
