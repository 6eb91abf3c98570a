//! Commands by role: `owner` (needs the key or the owner's plaintext), `server` (ciphertexts
//! and models only; CI checks it never names the key crate), `experiments`, `tools`; `common`
//! holds the argument types they share. `run` dispatches.

pub mod common;
pub mod experiments;
pub mod owner;
pub mod server;
pub mod tools;

use crate::cli::Command;
use anyhow::Result;

/// Runs one subcommand.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Keygen(a) => owner::crypt::keygen(&a),
        Command::Encrypt(a) => owner::crypt::encrypt(&a),
        Command::Decrypt(a) => owner::crypt::decrypt(&a),
        Command::Inspect(a) => tools::inspect::inspect(&a),
        Command::Bench(a) => tools::bench::run(&a),
        Command::Mnist(a) => experiments::mnist::mnist(&a),
        Command::Dataset(a) => owner::dataset::dataset(&a),
        Command::Fetch(a) => owner::dataset::fetch(&a),
        Command::Train(a) => server::train::train(&a),
        Command::Predict(a) => server::predict::predict(&a),
        Command::Evaluate(a) => owner::evaluate::evaluate(&a),
        Command::Attack(a) => tools::attack::attack(&a),
        Command::SecurityReport(a) => experiments::security_report::security_report(&a),
        Command::Serve(a) => server::serve::serve(&a),
        Command::Client(a) => owner::client::client(&a),
        Command::Wbc(a) => experiments::wbc::wbc(&a),
        Command::Angio(a) => experiments::angio::angio(&a),
    }
}
