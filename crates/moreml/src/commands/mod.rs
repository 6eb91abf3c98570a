//! One module per group of subcommands; `run` dispatches.

pub mod angio;
pub mod attack;
mod bench;
pub mod crypt;
#[allow(dead_code)] // until the lead wires `moreml dataset images` to dataset_images::dataset_images
pub mod dataset_images;
mod inspect;
pub mod mnist;
pub mod workflow;

use crate::cli::Command;
use anyhow::Result;

/// Runs one subcommand.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Keygen(a) => crypt::keygen(&a),
        Command::Encrypt(a) => crypt::encrypt(&a),
        Command::Decrypt(a) => crypt::decrypt(&a),
        Command::Inspect(a) => inspect::inspect(&a),
        Command::Bench(a) => bench::bench(&a),
        Command::Mnist(a) => mnist::mnist(&a),
        Command::Dataset(a) => workflow::dataset(&a),
        Command::Fetch(a) => workflow::fetch(&a),
        Command::Train(a) => workflow::train(&a),
        Command::Predict(a) => workflow::predict(&a),
        Command::Evaluate(a) => workflow::evaluate(&a),
        Command::Attack(a) => attack::attack(&a),
        Command::SecurityReport(a) => attack::security_report(&a),
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
