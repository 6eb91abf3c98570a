//! `moreml bench`: measurements printed side by side in one run (ratios, not absolute claims).

mod core;
mod train;

use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `moreml bench`.
#[derive(Args, Debug)]
pub struct BenchCommand {
    #[command(subcommand)]
    pub what: BenchWhat,
}

/// Benchmark suites.
#[derive(Subcommand, Debug)]
pub enum BenchWhat {
    /// Encryption/decryption throughput and encrypted/plaintext GEMM ratios.
    Core(BenchArgs),
    /// Plaintext and encrypted training epochs and inference, MLP and CNN, f32 and f64,
    /// interleaved in one process.
    Train(train::TrainBenchArgs),
}

/// `moreml bench core`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Values to encrypt per throughput measurement.
    #[arg(long, default_value_t = 1 << 23)]
    pub values: usize,
    /// Square GEMM sizes to compare.
    #[arg(long, value_delimiter = ',', default_values_t = [256usize, 512, 1024])]
    pub sizes: Vec<usize>,
    /// Repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(c: &BenchCommand) -> Result<()> {
    match &c.what {
        BenchWhat::Core(a) => core::bench(a),
        BenchWhat::Train(a) => train::bench(a),
    }
}

/// Median of measurements.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
