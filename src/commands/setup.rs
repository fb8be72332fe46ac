//! `r2l setup`: runs the project's setup script (the same one `scripts/setup.sh` is).

use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

/// The setup script, embedded so that an installed binary can set a machine up too.
const SETUP_SCRIPT: &str = include_str!("../../scripts/setup.sh");

/// Arguments of `r2l setup` (none yet: everything is configured through `R2L_HOME`).
#[derive(clap::Args, Debug)]
pub struct SetupArgs {}

/// Runs `r2l setup`.
pub fn run(_args: &SetupArgs) -> Result<ExitCode> {
    let binary = std::env::current_exe().context("locating the r2l binary")?;
    let status = Command::new("bash")
        .arg("-c")
        .arg(SETUP_SCRIPT)
        .env("R2L_BIN", binary)
        .status()
        .context("could not start bash to run the setup script")?;
    if !status.success() {
        bail!("the setup script failed ({status})");
    }
    Ok(ExitCode::SUCCESS)
}
