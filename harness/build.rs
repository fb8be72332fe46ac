//! Captures the git revision of the checkout at build time (`R2L_GIT_REV`), so an installed
//! binary reports the revision it was built from wherever it runs. A build outside a git
//! checkout (a source tarball) may set `R2L_GIT_REV` itself; otherwise it is `unknown`.
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=R2L_GIT_REV");
    let revision = std::env::var("R2L_GIT_REV")
        .ok()
        .filter(|rev| !rev.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=R2L_GIT_REV={revision}");
    // Rebuild when HEAD moves: HEAD itself (branch switches, detached commits), the branch it
    // points at, and packed refs.
    for path in ["HEAD", "packed-refs"] {
        watch_git_path(path);
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch_git_path(&branch);
    }
}

fn watch_git_path(name: &str) {
    if let Some(path) = git(&["rev-parse", "--git-path", name]) {
        let path = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join(path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}
