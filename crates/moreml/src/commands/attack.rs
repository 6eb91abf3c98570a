//! `moreml attack` and `moreml security-report` (owned by the cryptanalysis work).

use anyhow::{bail, Result};
use clap::Args;

/// `moreml attack`.
#[derive(Args, Debug)]
pub struct AttackArgs {}

/// `moreml security-report`.
#[derive(Args, Debug)]
pub struct SecurityReportArgs {}

pub fn attack(_a: &AttackArgs) -> Result<()> {
    bail!("not yet implemented")
}

pub fn security_report(_a: &SecurityReportArgs) -> Result<()> {
    bail!("not yet implemented")
}
