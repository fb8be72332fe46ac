//! Times r2l's Krippendorff alpha on a raw f64 matrix written by `krippendorff_peer.py`, so both
//! implementations run on the same input. Prints one JSON line.
//!
//! Usage: alpha_timing FILE CODERS (alpha|bootstrap) [REPEATS]

use std::time::Instant;

use harness::metrics::{
    alpha_of_coder_rows, bootstrap_ci, BootstrapConfig, Level, ReliabilityData,
};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, file, coders, mode, rest @ ..] = args.as_slice() else {
        return Err("usage: alpha_timing FILE CODERS (alpha|bootstrap) [REPEATS]".to_string());
    };
    let coders: usize = coders.parse().map_err(|e| format!("CODERS: {e}"))?;
    let repeats: usize = rest
        .first()
        .map_or(Ok(5), |r| r.parse())
        .map_err(|e| format!("REPEATS: {e}"))?;
    let values = r2l_benchmarks::read_raw_f64(std::path::Path::new(file))
        .map_err(|e| format!("{file}: {e}"))?;
    let mut best = f64::INFINITY;
    let mut result = (0.0, None);
    for _ in 0..repeats.max(1) {
        let clock = Instant::now();
        result = match mode.as_str() {
            "alpha" => (
                alpha_of_coder_rows(&values, coders, Level::Interval).map_err(|e| e.to_string())?,
                None,
            ),
            "bootstrap" => {
                let data =
                    ReliabilityData::from_coder_rows(&values, coders).map_err(|e| e.to_string())?;
                let config = BootstrapConfig {
                    resamples: 1000,
                    seed: 0,
                    confidence: 0.95,
                };
                let ci = bootstrap_ci(&data.metric(Level::Interval), &config);
                (data.alpha(Level::Interval).map_err(|e| e.to_string())?, ci)
            }
            other => return Err(format!("unknown mode `{other}`; use alpha or bootstrap")),
        };
        best = best.min(clock.elapsed().as_secs_f64());
    }
    let (alpha, ci95) = result;
    println!(
        "{}",
        serde_json::json!({"seconds": best, "alpha": alpha, "ci95": ci95.map(|(lo, hi)| [lo, hi])})
    );
    Ok(())
}
