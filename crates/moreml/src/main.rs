//! `moreml`: deep learning on MORE-encrypted data, from the command line.
//!
//! Commands are grouped by role: the data owner (holds the key) and the server (holds only
//! ciphertexts). See `moreml --help`.

mod cli;
mod commands;
mod distributed;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let flush_to_zero = !cli.no_flush_to_zero;
    if matches!(cli.command, cli::Command::Serve(_)) {
        // The main thread blocks in the HTTP event loop: compute runs on the pool's workers.
        moreml_cipher::runtime::init(cli.threads, flush_to_zero);
    } else {
        moreml_cipher::runtime::init_computing_caller(cli.threads, flush_to_zero);
    }
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("moreml: error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, most general first, skipping a cause whose text
/// the line already contains (errors that print their source would otherwise repeat it).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
