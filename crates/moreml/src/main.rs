//! `moreml`: deep learning on MORE-encrypted data, from the command line.
//!
//! Commands are grouped by role: the data owner (holds the key) and the server (holds only
//! ciphertexts). See `moreml --help`.

mod cli;
mod commands;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    moreml_cipher::runtime::init(cli.threads, !cli.no_flush_to_zero);
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the error and its causes, most general first.
            eprintln!("moreml: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
