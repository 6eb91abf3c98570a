//! Plaintext tensors: the baseline domain, and the owner's view of data.

use crate::kernels::{self, Operand};
use crate::planes::Planes;
use crate::{Domain, Error, Float, Result};

/// A dense row-major tensor of real values.
///
/// ```
/// use moreml_cipher::prelude::*;
/// let a = PlainTensor::<f32>::from_vec(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
/// let b = a.matmul(false, &a, false);
/// assert_eq!(b.values(), &[7.0, 10.0, 15.0, 22.0]);
/// ```
#[derive(Clone, PartialEq)]
pub struct PlainTensor<T: Float>(Planes<T>);

impl<T: Float> std::fmt::Debug for PlainTensor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlainTensor<{}>{:?}", T::NAME, self.shape())
    }
}

impl<T: Float> PlainTensor<T> {
    /// Wraps row-major `values` with a shape.
    pub fn from_vec(shape: &[usize], values: Vec<T>) -> Result<Self> {
        Ok(Self(Planes::from_vec(shape, 1, values)?))
    }
    /// The values, row-major.
    pub fn values(&self) -> &[T] {
        self.0.raw()
    }
    /// Mutable values, row-major.
    pub fn values_mut(&mut self) -> &mut [T] {
        self.0.raw_mut()
    }
    /// Takes the values out.
    pub fn into_values(self) -> Vec<T> {
        self.0.into_raw()
    }
    /// Errors with [`Error::NonFinite`] at the first NaN or infinity (input data: the hint
    /// asks to fix the data).
    pub fn check_finite(&self, what: &str) -> Result<()> {
        self.check_finite_with(what, "remove or replace non-finite values in the input data")
    }
    /// Like [`PlainTensor::check_finite`] with the caller's `hint` (e.g. "the training
    /// diverged; lower the learning rate" for decrypted predictions).
    pub fn check_finite_with(&self, what: &str, hint: &'static str) -> Result<()> {
        match self.values().iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(index) => {
                Err(Error::NonFinite { what: what.to_string(), index, value: self.values()[index].f64(), hint })
            }
        }
    }
    /// Converts to another scalar type.
    pub fn cast<U: Float>(&self) -> PlainTensor<U> {
        let v = self.values().iter().map(|x| U::of(x.f64())).collect();
        PlainTensor::from_vec(self.shape(), v).expect("same length")
    }
}

/// Implements the hidden storage plumbing of [`Domain`] for a newtype over [`Planes`].
macro_rules! storage_plumbing {
    () => {
        fn planes(&self) -> &Planes<T> {
            &self.0
        }
        fn planes_mut(&mut self, _: crate::domain::sealed::Token) -> &mut Planes<T> {
            &mut self.0
        }
        fn wrap_sealed(p: Planes<T>, _: crate::domain::sealed::Token) -> Self {
            debug_assert_eq!(p.n_planes(), Self::PLANES);
            Self(p)
        }
        fn into_planes(self) -> Planes<T> {
            self.0
        }
    };
}
pub(crate) use storage_plumbing;

/// Validates two matrices for `op(a) * op(b)` and returns the operand descriptions.
pub(crate) fn matmul_operands(a: &[usize], ta: bool, b: &[usize], tb: bool) -> (Operand, Operand, [usize; 2]) {
    assert!(a.len() == 2 && b.len() == 2, "matmul needs matrices: {a:?} x {b:?}");
    let ao = Operand { rows: a[0], cols: a[1], transposed: ta };
    let bo = Operand { rows: b[0], cols: b[1], transposed: tb };
    let ((m, k), (k2, n)) = (ao.logical(), bo.logical());
    assert_eq!(
        k,
        k2,
        "matmul: inner dimensions differ: {a:?}{} x {b:?}{}",
        if ta { "^T" } else { "" },
        if tb { "^T" } else { "" }
    );
    (ao, bo, [m, n])
}

impl<T: Float> Domain for PlainTensor<T> {
    type Scalar = T;
    type Wide = PlainTensor<f64>;
    const PLANES: usize = 1;
    const NAME: &'static str = "plain";
    storage_plumbing!();

    fn mul(&self, other: &Self) -> Self {
        assert_eq!(self.shape(), other.shape(), "mul: shape mismatch");
        Self(self.0.with_data(kernels::zip_collect(self.values(), other.values(), |a, b| a * b)))
    }

    fn recip(&self) -> Self {
        Self(self.0.with_data(kernels::map_collect(self.values(), |a| T::one() / a)))
    }

    fn add_scalar(&self, c: T) -> Self {
        Self(self.0.with_data(kernels::map_collect(self.values(), |a| a + c)))
    }

    fn all_finite(&self) -> bool {
        // One vectorised parallel pass instead of the trait's serial scan.
        self.0.all_finite()
    }

    fn polynomial(&self, coeffs: &[f64], second: Option<&[f64]>) -> (Self, Option<Self>) {
        let x = self.values();
        let lists = [Some(coeffs), second];
        let ks: Vec<_> = lists.iter().flatten().map(|c| kernels::horner_coeffs::<T>(c)).collect();
        let mut outs: Vec<Self> = ks.iter().map(|_| Self(Planes::for_overwrite(self.shape(), 1))).collect();
        kernels::for_chunks_n(outs.iter_mut().map(|o| o.values_mut()).collect(), |chunks, off| {
            for (out, k) in chunks.iter_mut().zip(&ks) {
                let Some((top, rest)) = k else {
                    // The empty polynomial: 0 (the storage is recycled, so write it).
                    out.fill(T::zero());
                    continue;
                };
                // Same operations, in the same order, as `zeros + top` then `mul` / `add_scalar`
                // per coefficient: bit-identical to the unfused form. One pass over the
                // (cache-resident) chunk per coefficient, so the element loop vectorises.
                out.fill(T::zero() + *top);
                for &c in rest {
                    for (o, &v) in out.iter_mut().zip(&x[off..]) {
                        *o = *o * v + c;
                    }
                }
            }
        });
        let second = second.and_then(|_| outs.pop());
        (outs.pop().expect("one output per coefficient list"), second)
    }

    fn matmul(&self, ta: bool, rhs: &Self, tb: bool) -> Self {
        let (ao, bo, shape) = matmul_operands(self.shape(), ta, rhs.shape(), tb);
        let mut out = Self(Planes::for_overwrite(&shape, 1));
        kernels::gemm(out.values_mut(), self.values(), ao, rhs.values(), bo, T::one(), false);
        out
    }
}
