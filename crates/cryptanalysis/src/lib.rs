//! # moreml-cryptanalysis: the attacks that break MORE
//!
//! **MORE provides no confidentiality against anyone who holds its ciphertexts and has any prior
//! on the data.** It has no hardness assumption and no security level. This crate exists so that
//! the project states that honestly and shows it: every published or easily derived attack is
//! implemented here as runnable, tested code, and the tests measure success rates on ciphertexts
//! produced exactly as moreml produces them (`C = S diag(m, r) S^-1`, 4 reals row-major).
//!
//! | attack | holds | function |
//! |---|---|---|
//! | A linear relation (Tsaban-Lifshitz 2015) | ciphertexts (+1 known plaintext or a prior) | [`linear_relation`], [`linear_known_pair`], [`linear_ciphertext_only`] |
//! | B one known pair | ciphertexts + 1 pair | [`known_pair`], [`ProjectorDecryptor`] |
//! | C known plaintext (Gjosteen-Strand 2016) | ciphertexts + 1 pair (+ free (1, I)) | [`known_plaintext`], [`LinearDecryptor`] |
//! | D eigenvalues | ciphertexts + priors | [`eigen_attack`], [`predicted_eigen_success`] |
//! | E shared eigenvectors | ciphertexts + "looks like data" | [`shared_eigen`], [`shared_eigen_detailed`] |
//!
//! Planning a run on a whole file: [`CipherPool`] pools its tensors (one key), [`PoolScorer`] and
//! [`DataModel`] say what data look like, [`EigenPriors`] builds D's priors (noise level measured
//! without the key by [`estimate_eigen_noise`]), [`KnownPairs`] holds known pairs, and
//! [`run_attack`] runs any [`Attack`] with them. The `clap` feature makes [`Attack`] and
//! [`RGuess`] command-line value enums.
//!
//! Why they work: all ciphertexts under one key lie in the commutative 2-dimensional algebra
//! `{x P + y Q}`; their eigenvalues are the plaintext and the hidden r, and their eigenvectors
//! are the columns of the key. Noise does not help (Bauer-Fike): it moves eigenvalues by at most
//! `cond(S) ||E||`, the same order as the error it causes in honest decryption; see
//! [`add_relative_noise`] and the tests.
//!
//! This is the only moreml crate allowed to eigendecompose a ciphertext. It depends on no crate
//! that holds a secret key: every function takes only ciphertexts, public priors, and (for B, C)
//! known plaintext pairs. Inputs are `f32` or `f64` slices of 2x2 ciphertexts; computation is f64.
//!
//! ```
//! use moreml_cryptanalysis::{shared_eigen, ImageScorer};
//! # fn enc(m: f64, r: f64) -> [f64; 4] { // S = [[2,1],[1,1]], a stand-in for a secret key
//! #     [2.0 * m - r, 2.0 * (r - m), m - r, 2.0 * r - m] }
//! let image = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];          // a smooth 1x6 "image"
//! let noise = [0.9, 0.1, 0.7, 0.05, 0.6, 0.3];          // hidden r values
//! let cts: Vec<f64> = image.iter().zip(&noise).flat_map(|(m, r)| enc(*m, *r)).collect();
//! let out = shared_eigen(&cts, &ImageScorer::new(1, 6)).unwrap(); // ciphertexts only
//! assert!(out.recovered.iter().zip(&image).all(|(a, b)| (a - b).abs() < 1e-12));
//! ```
//!
//! The n x n variant (`C = S diag(m, r_1..r_{n-1}) S^-1`) falls to the same ideas but is not
//! implemented here.
#![warn(missing_docs)]
// `!(x > tol)` is deliberate: it also rejects NaN. `% 4 != 0` keeps rust-version 1.80.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::manual_is_multiple_of, unknown_lints)]

mod data_model;
mod eigen;
mod error;
mod known_pair;
mod known_plaintext;
mod linear;
mod mat2;
mod noise;
mod outcome;
mod plan;
mod pool;
mod prior;
mod score;
mod shared_eigen;

pub use data_model::{estimate_eigen_noise, DataModel, DynPrior, EigenPriors, Grid, RGuess, PIXEL_GRID};
pub use eigen::{choose_eigenvalue, eigen_attack, predicted_eigen_success};
pub use error::{AttackError, Result};
pub use known_pair::{known_pair, ProjectorDecryptor};
pub use known_plaintext::{known_plaintext, LinearDecryptor, ALGEBRA_DIM};
pub use linear::{linear_ciphertext_only, linear_known_pair, linear_relation, linear_relation_to, LinearRelation};
pub use mat2::{eigenvalues, Ct, CtScalar, Eigen2};
pub use noise::add_relative_noise;
pub use outcome::{fraction_exact_on_grid, fraction_recovered, relative_errors, Attack, AttackOutcome, RELATIVE_FLOOR};
pub use plan::{run_attack, AttackInputs, KnownPairs};
pub use pool::{image_shape, CipherPool, PoolScorer, Segment};
pub use prior::{AtomPrior, Histogram, Prior, QuantizedPrior, UniformPrior, EDGE_TOL};
pub use score::{ImageScorer, PriorScorer, StreamScorer};
pub use shared_eigen::{shared_eigen, shared_eigen_detailed, EigenReference, SharedEigen};
