//! Running the binary and scripted endpoints.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::LazyLock;

/// A runtime for scripted servers.
pub static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
});

/// The r2l binary under test.
pub fn r2l() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_r2l"));
    command.env("R2L_LOG", "warn");
    command
}

/// Runs r2l with `args` and returns its output.
pub fn run(args: &[&str], home: &Path) -> Output {
    r2l()
        .args(args)
        .env("R2L_HOME", home)
        .output()
        .unwrap_or_else(|e| panic!("running r2l: {e}"))
}

/// stdout parsed as one JSON value (panics with stderr when it is not).
pub fn json_of(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The real data directory; the tests that read it fail when it is absent.
pub fn data_dir() -> std::path::PathBuf {
    // The tests run inside the build tree: $R2L_DATA_DIR or ./shared/data, ../shared/data
    // beside the working directory, else the shared data beside the clone. Absolute, because
    // some tests run r2l from another working directory.
    let dir = harness::data::find_data_dir(None)
        .or_else(|_| {
            harness::data::find_data_dir(Some(std::path::Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/data"
            ))))
        })
        .unwrap_or_else(|e| panic!("{e}"));
    std::path::absolute(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}
