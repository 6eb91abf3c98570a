//! Ciphertexts in the standard MORE form: one 2x2 real matrix per value.

use crate::planes::numel;
use crate::{Error, Float, Result};

/// A tensor of standard 2x2 MORE ciphertexts, as exchanged between owner and server and
/// stored in files (`[..shape, 2, 2]`, row-major).
///
/// This form is what the papers describe and what anyone can decrypt with the key in a few
/// lines of numpy; servers convert it to algebra coordinates ([`crate::CipherTensor`]) to compute.
#[derive(Clone, PartialEq)]
pub struct WireCiphertext<T: Float> {
    shape: Vec<usize>,
    data: Vec<T>,
}

impl<T: Float> std::fmt::Debug for WireCiphertext<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WireCiphertext<{}>{:?}", T::NAME, self.shape)
    }
}

impl<T: Float> WireCiphertext<T> {
    /// Wraps `data` (4 reals per ciphertext: c00, c01, c10, c11) with the logical `shape`.
    pub fn from_vec(shape: &[usize], data: Vec<T>) -> Result<Self> {
        let expected = 4 * numel(shape);
        if data.len() != expected {
            return Err(Error::BadLength { op: "wire ciphertext", shape: shape.to_vec(), expected, got: data.len() });
        }
        Ok(Self { shape: shape.to_vec(), data })
    }
    /// Logical shape (without the trailing `2, 2`).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// Shape as stored in files: `[..shape, 2, 2]`.
    pub fn file_shape(&self) -> Vec<usize> {
        let mut s = self.shape.clone();
        s.extend([2, 2]);
        s
    }
    /// Number of ciphertexts.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }
    /// The matrices, 4 reals each, row-major.
    pub fn raw(&self) -> &[T] {
        &self.data
    }
    /// Mutable access to the matrices (for tests and cryptanalysis experiments, e.g. noise).
    pub fn raw_mut(&mut self) -> &mut [T] {
        &mut self.data
    }
    /// Takes the matrices out.
    pub fn into_raw(self) -> Vec<T> {
        self.data
    }
    /// Same ciphertexts, another logical shape.
    pub fn reshape(mut self, shape: &[usize]) -> Result<Self> {
        if numel(shape) != self.numel() {
            return Err(Error::ShapeMismatch { op: "reshape", lhs: self.shape, rhs: shape.to_vec() });
        }
        self.shape = shape.to_vec();
        Ok(self)
    }
}
