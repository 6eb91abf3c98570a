//! Input parsing and closed-form 2x2 linear algebra (computed in f64).

use crate::error::{AttackError, Result};

/// A ciphertext entry type: `f32` or `f64`. All computation is done in `f64`.
///
/// ```
/// use moreml_cryptanalysis::CtScalar;
/// assert_eq!(<f32 as CtScalar>::from_f64(0.5).to_f64(), 0.5);
/// ```
pub trait CtScalar: Copy + private::Sealed {
    /// Widen to f64.
    fn to_f64(self) -> f64;
    /// Narrow from f64 (rounding for f32).
    fn from_f64(x: f64) -> Self;
}
impl CtScalar for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(x: f64) -> Self {
        x as f32
    }
}
impl CtScalar for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(x: f64) -> Self {
        x
    }
}
mod private {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// One 2x2 ciphertext in f64, row-major `[c00, c01, c10, c11]`.
pub type Ct = [f64; 4];

/// Parse a flat row-major slice of 2x2 ciphertexts, checking length and finiteness.
pub(crate) fn parse<T: CtScalar>(op: &'static str, data: &[T]) -> Result<Vec<Ct>> {
    if data.len() % 4 != 0 {
        return Err(AttackError::BadLength { op, len: data.len() });
    }
    if data.is_empty() {
        return Err(AttackError::Empty { op });
    }
    data.chunks_exact(4)
        .enumerate()
        .map(|(i, c)| {
            let m = [c[0].to_f64(), c[1].to_f64(), c[2].to_f64(), c[3].to_f64()];
            if m.iter().all(|x| x.is_finite()) {
                Ok(m)
            } else {
                Err(AttackError::NonFinite { op, what: "ciphertext", index: i })
            }
        })
        .collect()
}

pub(crate) fn check_finite(op: &'static str, what: &'static str, xs: &[f64]) -> Result<()> {
    match xs.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(AttackError::NonFinite { op, what, index }),
        None => Ok(()),
    }
}

/// Accurate 2x2 determinant (Kahan's fma trick).
pub(crate) fn det(c: &Ct) -> f64 {
    let w = c[1] * c[2];
    let e = (-c[1]).mul_add(c[2], w);
    let f = c[0].mul_add(c[3], -w);
    f + e
}

pub(crate) fn frob(c: &Ct) -> f64 {
    c.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The two eigenvalues of one 2x2 ciphertext.
///
/// `lambda[0] >= lambda[1]`. When noise makes the discriminant negative (complex pair), it is
/// clamped to 0 and `clamped` is set: both eigenvalues are then the real part.
///
/// ```
/// use moreml_cryptanalysis::eigenvalues;
/// // S = [[2,1],[1,1]], C = S diag(0.25, 0.75) S^-1
/// let e = eigenvalues(&[-0.25, 1.0, -0.5, 1.25]);
/// assert!((e.lambda[0] - 0.75).abs() < 1e-12 && (e.lambda[1] - 0.25).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eigen2 {
    /// Eigenvalues, larger first.
    pub lambda: [f64; 2],
    /// Whether a negative discriminant (from noise) was clamped to zero.
    pub clamped: bool,
}

/// Eigenvalues of a 2x2 row-major matrix, numerically stable form (see [`Eigen2`]).
pub fn eigenvalues(c: &Ct) -> Eigen2 {
    let mid = 0.5 * (c[0] + c[3]);
    let h = 0.5 * (c[0] - c[3]);
    let q = h.mul_add(h, c[1] * c[2]);
    let (s, clamped) = if q < 0.0 { (0.0, true) } else { (q.sqrt(), false) };
    // big = the eigenvalue without cancellation; small = det / big.
    let big = if mid >= 0.0 { mid + s } else { mid - s };
    let small = if big != 0.0 { det(c) / big } else { mid - s.copysign(mid) };
    let (hi, lo) = if big >= small { (big, small) } else { (small, big) };
    Eigen2 { lambda: [hi, lo], clamped }
}

/// Half the eigenvalue gap, sqrt(max(0, ((a-d)/2)^2 + bc)).
pub(crate) fn half_gap(c: &Ct) -> f64 {
    let h = 0.5 * (c[0] - c[3]);
    h.mul_add(h, c[1] * c[2]).max(0.0).sqrt()
}

/// A right null vector of the (near) rank-one 2x2 matrix k, from its larger row.
pub(crate) fn right_null(k: &Ct) -> [f64; 2] {
    let r0 = k[0].hypot(k[1]);
    let r1 = k[2].hypot(k[3]);
    if r0 >= r1 {
        [k[1], -k[0]]
    } else {
        [k[3], -k[2]]
    }
}

/// A left null vector (u^T k = 0) of the (near) rank-one 2x2 matrix k, from its larger column.
pub(crate) fn left_null(k: &Ct) -> [f64; 2] {
    let c0 = k[0].hypot(k[2]);
    let c1 = k[1].hypot(k[3]);
    if c0 >= c1 {
        [k[2], -k[0]]
    } else {
        [k[3], -k[1]]
    }
}

/// u^T C v.
pub(crate) fn bilinear(u: &[f64; 2], c: &Ct, v: &[f64; 2]) -> f64 {
    u[0] * (c[0] * v[0] + c[1] * v[1]) + u[1] * (c[2] * v[0] + c[3] * v[1])
}
