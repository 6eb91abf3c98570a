//! One module per group of subcommands; `run` dispatches.

pub mod angio;
pub mod attack;
pub mod bench;
pub mod common;
pub mod crypt;
mod inspect;
pub mod mnist;
pub mod owner;
pub mod security_report;
pub mod server;
pub mod wbc;

use crate::cli::Command;
use anyhow::Result;

/// Runs one subcommand.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Keygen(a) => crypt::keygen(&a),
        Command::Encrypt(a) => crypt::encrypt(&a),
        Command::Decrypt(a) => crypt::decrypt(&a),
        Command::Inspect(a) => inspect::inspect(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Mnist(a) => mnist::mnist(&a),
        Command::Dataset(a) => owner::dataset::dataset(&a),
        Command::Fetch(a) => owner::dataset::fetch(&a),
        Command::Train(a) => server::train::train(&a),
        Command::Predict(a) => server::predict::predict(&a),
        Command::Evaluate(a) => owner::evaluate::evaluate(&a),
        Command::Attack(a) => attack::attack(&a),
        Command::SecurityReport(a) => security_report::security_report(&a),
        Command::Serve(a) => server::serve::serve(&a),
        Command::Client(a) => owner::client::client(&a),
        Command::Wbc(a) => wbc::wbc(&a),
        Command::Angio(a) => angio::angio(&a),
    }
}

/// Calls a generic function with the scalar type named by a file's dtype string.
macro_rules! with_dtype {
    ($dtype:expr, $f:ident ( $($arg:expr),* )) => {
        match $dtype {
            "f64" => $f::<f64>($($arg),*),
            _ => $f::<f32>($($arg),*),
        }
    };
}
pub(crate) use with_dtype;
