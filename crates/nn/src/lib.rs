//! # moreml-nn: one network, two numeric domains
//!
//! Layers, losses, the optimiser and the training loop, written once against
//! [`moreml_cipher::Domain`]. The same [`Model`] trains on plaintext tensors and on MORE
//! ciphertext tensors; with the same [`ModelConfig`] seed and [`TrainConfig`] batch order, the
//! decrypted encrypted run equals the plaintext run up to rounding.
//!
//! * [`layers`]: one file per layer, a serde config and the [`layers::Module`] it builds;
//! * [`Model`]: forward, backward, parameters; [`optim::Sgd`]: the update rule;
//! * [`Learner`]: the one epoch loop (batch order, divergence guard, history);
//! * [`records`]: where the loop reads mini-batches from (tensors in memory, mapped files);
//! * [`persist`]: models as safetensors files (plaintext or ciphertext);
//! * [`checkpoint`]: the learner's whole state between epochs, to resume bit for bit;
//! * [`collective`]: all-reduce and broadcast between the ranks of a data-parallel job.
//!
//! ```
//! use moreml_cipher::prelude::*;
//! use moreml_nn::{Learner, Model, ModelConfig, Pair, TrainConfig};
//! let x = PlainTensor::<f64>::from_vec(&[4, 2], vec![0., 0., 0., 1., 1., 0., 1., 1.]).unwrap();
//! let t = PlainTensor::<f64>::from_vec(&[4, 2], vec![1., 0., 0., 1., 0., 1., 1., 0.]).unwrap();
//! let train = TrainConfig { epochs: 1, batch_size: 2, lr: 0.1, momentum: 0.9, seed: 1 };
//! let mut learner = Learner::new(Model::new(ModelConfig::mlp(2, 4, 2)).unwrap(), train).unwrap();
//! learner.train_epoch(&Pair::new(&x, &t).unwrap()).unwrap();
//! ```
//!
//! The server side never needs the key: weights start as public constants and every update
//! uses only the homomorphic operation set.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod collective;
mod config;
mod error;
pub mod funcs;
pub mod layers;
pub mod learner;
pub mod loss;
mod model;
pub mod optim;
pub mod persist;
pub mod records;

pub use config::{LossKind, ModelConfig, TrainConfig};
pub use error::{Error, Result};
pub use layers::{Activation, LayerConfig};
pub use learner::{EpochStats, Learner};
pub use model::Model;
pub use records::{Pair, Records, Rows};
