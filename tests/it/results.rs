//! The committed results: every `run.json` under `results/` re-scores to the metrics it states
//! from its committed `samples.jsonl` alone (up to floating-point summation order).

use std::path::{Path, PathBuf};

use harness::runner::{RunLog, MANIFEST_FILE};

fn run_dirs(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            // Ad-hoc runs (gitignored) are not committed results.
            if path.file_name().is_some_and(|name| name == "runs") {
                continue;
            }
            run_dirs(&path, found);
        } else if path.file_name().is_some_and(|name| name == MANIFEST_FILE) {
            found.push(dir.to_path_buf());
        }
    }
}

#[test]
fn every_committed_run_rescores_to_its_metrics() {
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let mut dirs = Vec::new();
    run_dirs(&results, &mut dirs);
    assert!(
        dirs.iter()
            .any(|dir| dir.starts_with(results.join("baselines"))),
        "no committed baseline run under {}",
        results.display()
    );
    for dir in dirs {
        let run = RunLog::load(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert_eq!(run.samples.len(), run.manifest.n, "{}", dir.display());
        let rescored = run
            .rescore()
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        // Equal up to floating-point summation order (the bootstrap's sums may be reduced in
        // another order run to run): 1e-12 absolute on values and CI bounds.
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12;
        assert_eq!(
            rescored.keys().collect::<Vec<_>>(),
            run.manifest.metrics.keys().collect::<Vec<_>>(),
            "{}",
            dir.display()
        );
        for (name, stated) in &run.manifest.metrics {
            let again = &rescored[name];
            let cis_agree = match (again.ci95, stated.ci95) {
                (Some((a_low, a_high)), Some((s_low, s_high))) => {
                    close(a_low, s_low) && close(a_high, s_high)
                }
                (None, None) => true,
                _ => false,
            };
            assert!(
                close(again.value, stated.value) && cis_agree,
                "{}: {name}: stated {stated:?}, re-scored {again:?}",
                dir.display()
            );
        }
    }
}
