//! Server commands: they see ciphertexts and models only. CI checks that nothing here
//! names the key crate (`moreml_more`).

pub mod predict;
pub mod serve;
pub mod train;
