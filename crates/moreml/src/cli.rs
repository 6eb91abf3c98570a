//! Command-line interface definitions.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const ABOUT: &str = "Deep learning on MORE-encrypted data (reproducing Vizitiu et al. 2019/2020).

A data owner (hospital) keeps the secret key and encrypts data; a server trains and runs
networks on the ciphertexts without the key; the owner decrypts predictions or weights.

WARNING: MORE has no security level. Anyone holding ciphertexts and a rough prior on the data
can recover the plaintexts (see `moreml attack` and the README's Security section).";

const GROUPS: &str = "Owner commands (need the key):   keygen, dataset, encrypt, decrypt, evaluate
Server commands (no key):        train, predict, inspect
Experiments and tools:           mnist, attack, security-report, bench, fetch

Workflow:  moreml keygen --out key.json
           moreml dataset mnist --out data/          (owner, plaintext)
           moreml encrypt --key key.json --input data/train.safetensors --output train.enc.safetensors
           moreml train --data train.enc.safetensors --out model.safetensors        (server)
           moreml predict --model model.safetensors --input test.enc.safetensors --output pred.safetensors
           moreml evaluate --key key.json --predictions pred.safetensors --labels data/test.safetensors";

/// The `moreml` command line.
#[derive(Parser, Debug)]
#[command(name = "moreml", version, about = ABOUT, after_help = GROUPS)]
pub struct Cli {
    /// Worker threads (0 = one per core).
    #[arg(long, global = true, default_value_t = 0)]
    pub threads: usize,
    /// Keep subnormal floats (slower; flush-to-zero is on by default).
    #[arg(long, global = true)]
    pub no_flush_to_zero: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// All subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// [owner] Generate a secret key (JSON, written with permissions 0600).
    Keygen(KeygenArgs),
    /// [owner] Encrypt every tensor of a safetensors file.
    Encrypt(crate::commands::owner::crypt::EncryptArgs),
    /// [owner] Decrypt every tensor of a ciphertext file made under the key.
    Decrypt(CryptArgs),
    /// [owner] Export a data set as a plaintext tensor file, ready for `encrypt`.
    Dataset(crate::commands::owner::dataset::DatasetArgs),
    /// [tool] Download a data set (MNIST) with MD5 verification.
    Fetch(crate::commands::owner::dataset::FetchArgs),
    /// [server] Train a network on a (plaintext or encrypted) data set file; no key.
    Train(crate::commands::server::train::TrainArgs),
    /// [server] Run a trained model on a (plaintext or encrypted) input file; no key.
    Predict(crate::commands::server::predict::PredictArgs),
    /// [owner] Decrypt predictions and score them against the true labels.
    Evaluate(crate::commands::owner::evaluate::EvaluateArgs),
    /// [any] Show what a tensor file holds (kind, dtype, key id, shapes, size); never values.
    Inspect(InspectArgs),
    /// [experiment] MNIST: train plaintext and encrypted side by side, write a report.
    Mnist(crate::commands::experiments::mnist::MnistArgs),
    /// [tool] Measure encryption throughput and encrypted/plaintext GEMM time ratios.
    Bench(crate::commands::tools::bench::BenchCommand),
    /// [attacker] Recover plaintexts from a ciphertext file without the key (attacks A-E).
    Attack(crate::commands::tools::attack::AttackArgs),
    /// [tool] Run every attack against the project's own encrypted artefacts; write a report.
    SecurityReport(crate::commands::experiments::security_report::SecurityReportArgs),
    /// [server] Serve models over HTTP: ciphertexts in, ciphertext predictions out; no key.
    Serve(crate::commands::server::serve::ServeArgs),
    /// [owner] Use the service: encrypt, send, decrypt (predict), or measure it (load).
    Client(crate::commands::owner::client::ClientArgs),
    /// [tool] Whole-body circulation simulator: simulate a patient, sample a surrogate data set.
    Wbc(crate::commands::experiments::wbc::WbcArgs),
    /// [experiment] Synthetic X-ray coronary angiograms: generate labelled PNG frames, benchmark.
    Angio(crate::commands::experiments::angio::AngioArgs),
}

/// `moreml keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the key (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Largest accepted condition number of the key matrix S (errors grow with it).
    #[arg(long, default_value_t = 10.0)]
    pub max_condition: f64,
    /// Distribution of the hidden random value r of each ciphertext.
    #[arg(long, value_enum, default_value_t = RDist::Empirical)]
    pub r_dist: RDist,
    /// Half-width of the noise added to empirical r draws.
    #[arg(long, default_value_t = 0.01)]
    pub r_jitter: f64,
    /// Lower bound of uniform r.
    #[arg(long, default_value_t = 0.5)]
    pub r_low: f64,
    /// Upper bound of uniform r.
    #[arg(long, default_value_t = 1.5)]
    pub r_high: f64,
    /// Overwrite an existing key file (data encrypted under the old key becomes unreadable).
    #[arg(long)]
    pub force: bool,
}

/// How r is drawn.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RDist {
    /// Same feature's value in a random other record, plus jitter (stable training).
    Empirical,
    /// Uniform in [r-low, r-high).
    Uniform,
}

/// `moreml decrypt`.
#[derive(Args, Debug)]
pub struct CryptArgs {
    /// The secret key file.
    #[arg(long)]
    pub key: PathBuf,
    /// Input safetensors file.
    #[arg(long)]
    pub input: PathBuf,
    /// Output safetensors file (written atomically).
    #[arg(long)]
    pub output: PathBuf,
}

/// `moreml inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A moreml (or any safetensors) file.
    #[arg(long)]
    pub input: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}
