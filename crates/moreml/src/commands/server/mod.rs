//! Server commands: they see ciphertexts and models only. CI checks that no code here
//! imports the secret-key crate.

pub mod predict;
pub mod serve;
pub mod train;
