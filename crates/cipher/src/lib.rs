//! # moreml-cipher: the server side of moreml
//!
//! Tensors of MORE ciphertexts and the homomorphic operation set, fast kernels, and the
//! tensor file format. This crate holds **no secret key** and cannot decrypt: the key lives in
//! `moreml-more`, which server code does not depend on.
//!
//! * [`PlainTensor`]: real values (the plaintext baseline).
//! * [`CipherTensor`]: MORE ciphertexts in algebra coordinates (what servers compute on).
//! * [`Domain`]: the operation set both implement; networks are written once against it.
//! * [`WireCiphertext`]: standard 2x2 ciphertexts, as stored in files.
//! * [`format`]: safetensors files with a moreml header, atomic writes.
//!
//! ```
//! use moreml_cipher::prelude::*;
//! // A server-side computation, generic over the domain: the same code runs on plaintext
//! // and on ciphertexts.
//! fn layer<D: Domain>(x: &D, w: &D) -> D {
//!     x.matmul(false, w, false).square()
//! }
//! let x = PlainTensor::<f64>::from_vec(&[1, 2], vec![1.0, 2.0]).unwrap();
//! let w = PlainTensor::<f64>::from_vec(&[2, 1], vec![3.0, 4.0]).unwrap();
//! assert_eq!(layer(&x, &w).values(), &[121.0]);
//! ```
//!
//! # Security
//! MORE has no security level: anyone holding ciphertexts and a rough idea of the data
//! recovers the plaintexts (see the `moreml-cryptanalysis` crate and the README).

#![warn(missing_docs)]

mod basis;
mod cipher;
mod conv;
mod domain;
mod error;
pub mod format;
mod kernels;
pub mod mapped;
mod plain;
mod planes;
mod pool;
pub mod runtime;
mod scalar;
mod wire;

pub use basis::{KeyTag, PublicBasis};
pub use cipher::CipherTensor;
pub use conv::direct as direct_conv;
pub use domain::{Domain, MatmulLhs};
pub use error::{Error, Result};
pub use plain::PlainTensor;
pub use planes::Window2d;
pub use scalar::Float;
pub use wire::WireCiphertext;

/// The handful of names most code needs.
pub mod prelude {
    pub use crate::{CipherTensor, Domain, Float, KeyTag, PlainTensor, PublicBasis, WireCiphertext};
}
