//! # moreml-nn: one network, two numeric domains
//!
//! Layers, losses, SGD and the training loop, written once against
//! [`moreml_cipher::Domain`]. The same [`Model`] trains on plaintext tensors and on MORE
//! ciphertext tensors; with the same [`ModelConfig`] seed and [`TrainConfig`] batch order, the
//! decrypted encrypted run equals the plaintext run up to rounding.
//!
//! ```
//! use moreml_cipher::prelude::*;
//! use moreml_nn::{learner, Model, ModelConfig, TrainConfig};
//! let cfg = ModelConfig::mlp(2, 4, 2);
//! let x = PlainTensor::<f64>::from_vec(&[4, 2], vec![0., 0., 0., 1., 1., 0., 1., 1.]).unwrap();
//! let t = PlainTensor::<f64>::from_vec(&[4, 2], vec![1., 0., 0., 1., 0., 1., 1., 0.]).unwrap();
//! let mut model = Model::new(cfg).unwrap();
//! let train = TrainConfig { epochs: 1, batch_size: 2, lr: 0.1, momentum: 0.9, seed: 1 };
//! learner::train_epoch(&mut model, &x, &t, &train, 0, None).unwrap();
//! ```
//!
//! The server side never needs the key: weights start as public constants and every update
//! uses only the homomorphic operation set.

#![warn(missing_docs)]

mod config;
mod error;
pub mod funcs;
pub mod layers;
pub mod learner;
pub mod loss;
mod model;
pub mod persist;

pub use config::{Activation, LayerConfig, LossKind, ModelConfig, TrainConfig};
pub use error::{Error, Result};
pub use model::Model;
