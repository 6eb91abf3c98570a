//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`) through the same entry
//! points the fuzz targets call (`fuzz/entries.rs`), so CI keeps every input the fuzzer ever
//! found interesting without needing the fuzzer. A panic here is a regression.

#[path = "../../../fuzz/entries.rs"]
mod entries;

use std::path::Path;

/// Runs `entry` on every file of `fuzz/corpus/<target>`; returns how many there were.
fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| entry(&bytes));
        assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
        n += 1;
    }
    assert!(n > 0, "{target}: empty corpus in {}", dir.display());
    n
}

#[test]
fn replay_plain_file() {
    replay("plain_file", entries::plain_file);
}

#[test]
fn replay_cipher_file() {
    replay("cipher_file", entries::cipher_file);
}

#[test]
fn replay_model_config() {
    replay("model_config", entries::model_config);
}

#[test]
fn replay_key_json() {
    replay("key_json", entries::key_json);
}
