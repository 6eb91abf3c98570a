//! # moreml-more: the data owner's side of MORE
//!
//! The [`SecretKey`] and everything that needs it: key generation, encryption, decryption with
//! an integrity check, key files. Only the data owner links this crate; server code works with
//! `moreml-cipher` alone.
//!
//! ## The scheme (real 2x2 MORE)
//! A value `m` encrypts to `C = S diag(m, r) S^-1 = m P + r Q` with a fresh hidden `r`
//! ([`RDistribution`]); decryption is `m = (S^-1 C S)[0][0]`, and the off-diagonal entries of
//! `S^-1 C S`, which are zero for honest ciphertexts, give a free integrity check.
//!
//! ## Security
//! MORE has **no security level**. Anyone holding ciphertexts and any prior on the data can
//! recover plaintexts (attacks implemented in `moreml-cryptanalysis`, measured in the README).
//! Use it only where that is acceptable; for confidentiality use lattice FHE (e.g. CKKS) or
//! secure enclaves / MPC.

#![warn(missing_docs)]

mod error;
mod key;
mod params;
mod sampler;

pub use error::{Error, Result};
pub use key::{Decrypted, FileDecryption, Precision, SecretKey, PRECISION_THRESHOLD};
pub use params::{KeyParams, RDistribution, CONDITION_RANGE, MAX_R};
pub use sampler::PlainRecords;
