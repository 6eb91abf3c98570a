//! Owner commands: they hold (or make) the secret key, or handle the owner's plaintext data.

pub mod dataset;
pub mod evaluate;
pub mod client;
