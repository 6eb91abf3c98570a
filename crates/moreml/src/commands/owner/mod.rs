//! Owner commands: they hold (or make) the secret key, or handle the owner's plaintext data.

pub mod client;
pub mod crypt;
pub mod dataset;
pub mod dataset_images;
pub mod evaluate;
