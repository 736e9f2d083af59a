//! `build` / `publish`: the image through the Docker Engine API (bollard). Async lives here only.

use anyhow::{bail, Result};
use clap::Args;
use std::process::ExitCode;

/// `imggen build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
}

/// Runs `imggen build`.
pub fn run(_args: BuildArgs) -> Result<ExitCode> {
    bail!("imggen build is not available in this version")
}
