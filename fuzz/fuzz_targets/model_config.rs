#![no_main]
//! Fuzz target: see `fuzz/entries.rs`.

#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::model_config(data));
