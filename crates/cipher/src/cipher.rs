//! Ciphertext tensors in algebra coordinates: what a server computes with.

use crate::basis::{KeyTag, PublicBasis};
use crate::kernels::{self, for_chunks2};
use crate::plain::{matmul_operands, storage_plumbing};
use crate::planes::Planes;
use crate::wire::WireCiphertext;
use crate::{Domain, Error, Float, Result};

/// A tensor of MORE ciphertexts, each stored as its coordinates `(a, b)` in the public basis
/// `{I, R'}` (see [`PublicBasis`]).
///
/// It implements [`Domain`] and nothing else that computes on values: there is no method that
/// reads a plaintext, compares ciphertexts or diagonalises one. Decryption needs the owner's
/// secret key, which lives in another crate that server code does not link.
///
/// ```
/// use moreml_cipher::prelude::*;
/// let basis = PublicBasis::new([0.0, 1.0, 1.0, 0.0]).unwrap();
/// // Two ciphertexts as the owner would send them (standard 2x2 form).
/// let wire = WireCiphertext::<f64>::from_vec(&[2], vec![2.0, 1.0, 1.0, 2.0, 5.0, -3.0, -3.0, 5.0]).unwrap();
/// let x = CipherTensor::from_wire(&wire, &basis, "example").unwrap();
/// let y = x.square().add_scalar(1.0); // server side: x^2 + 1, no key involved
/// let back = y.to_wire(&basis);
/// assert_eq!(back.shape(), &[2]);
/// ```
#[derive(Clone, PartialEq)]
pub struct CipherTensor<T: Float>(Planes<T>);

/// What one elementwise pass over an operand costs, in multiply-adds of a GEMM (measured on
/// 2 cores, f64 and f32 alike: a pass over 921,600 values ~0.36 ns per value, a GEMM
/// ~0.025 ns per multiply-add); decides between Karatsuba and four products.
const KARATSUBA_PASS: usize = 12;

impl<T: Float> std::fmt::Debug for CipherTensor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CipherTensor<{}>{:?}", T::NAME, self.shape())
    }
}

impl<T: Float> CipherTensor<T> {
    /// Converts standard 2x2 ciphertexts into algebra coordinates, rejecting values that are
    /// not in the algebra of `basis` (corruption, or a basis from another key) and NaN/inf.
    pub fn from_wire(wire: &WireCiphertext<T>, basis: &PublicBasis, what: &str) -> Result<Self> {
        let n = wire.numel();
        let mut planes = Planes::zeros(wire.shape(), 2);
        let tol = PublicBasis::tolerance::<T>();
        let src = wire.raw();
        let first_bad = std::sync::Mutex::new(None::<(usize, f64)>);
        {
            let (pa, pb) = planes.planes_mut2();
            for_chunks2(pa, pb, |ca, cb, off| {
                for (i, (a, b)) in ca.iter_mut().zip(cb.iter_mut()).enumerate() {
                    let c = &src[4 * (off + i)..4 * (off + i) + 4];
                    let c = [c[0].f64(), c[1].f64(), c[2].f64(), c[3].f64()];
                    let (x, y, res) = basis.to_coords(c);
                    if res.is_nan() || res > tol {
                        let mut w = first_bad.lock().unwrap_or_else(|e| e.into_inner());
                        if w.is_none() {
                            *w = Some((off + i, res));
                        }
                    }
                    *a = T::of(x);
                    *b = T::of(y);
                }
            });
        }
        if let Some((index, residual)) = first_bad.into_inner().unwrap_or_else(|e| e.into_inner()) {
            let c = &src[4 * index..4 * index + 4];
            if c.iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    what: what.to_string(),
                    index,
                    value: c.iter().find(|v| !v.is_finite()).map_or(f64::NAN, |v| v.f64()),
                    hint: "the ciphertext file is damaged; re-create or re-copy it",
                });
            }
            return Err(Error::OutOfAlgebra {
                what: what.to_string(),
                key_id: "of this basis".into(),
                index,
                residual,
                tolerance: tol,
            });
        }
        debug_assert_eq!(planes.numel(), n);
        Ok(Self(planes))
    }

    /// Like [`CipherTensor::from_wire`], naming the key in errors.
    pub fn from_wire_tagged(wire: &WireCiphertext<T>, tag: &KeyTag, what: &str) -> Result<Self> {
        Self::from_wire(wire, &tag.basis, what).map_err(|e| match e {
            Error::OutOfAlgebra { what, index, residual, tolerance, .. } => {
                Error::OutOfAlgebra { what, key_id: tag.key_id.clone(), index, residual, tolerance }
            }
            e => e,
        })
    }

    /// Back to standard 2x2 ciphertexts `a I + b R'`.
    pub fn to_wire(&self, basis: &PublicBasis) -> WireCiphertext<T> {
        let (pa, pb) = (self.0.plane(0), self.0.plane(1));
        let mut out = vec![T::zero(); 4 * self.numel()];
        kernels::for_chunks(&mut out, |o, off| {
            for (k, c) in o.chunks_exact_mut(4).enumerate() {
                let i = off / 4 + k;
                let m = basis.from_coords(pa[i].f64(), pb[i].f64());
                for (d, s) in c.iter_mut().zip(m) {
                    *d = T::of(s);
                }
            }
        });
        WireCiphertext::from_vec(self.shape(), out).expect("4 values per ciphertext")
    }
}

impl<T: Float> Domain for CipherTensor<T> {
    type Scalar = T;
    type Wide = CipherTensor<f64>;
    const PLANES: usize = 2;
    const NAME: &'static str = "cipher";
    storage_plumbing!();

    fn mul(&self, other: &Self) -> Self {
        assert_eq!(self.shape(), other.shape(), "mul: shape mismatch");
        let (a, b) = (self.0.plane(0), self.0.plane(1));
        let (c, d) = (other.0.plane(0), other.0.plane(1));
        let mut out = Planes::for_overwrite(self.shape(), 2);
        let (oa, ob) = out.planes_mut2();
        for_chunks2(oa, ob, |x, y, off| {
            let r = off..off + x.len();
            let (a, b, c, d) = (&a[r.clone()], &b[r.clone()], &c[r.clone()], &d[r]);
            for i in 0..x.len() {
                x[i] = a[i] * c[i] + b[i] * d[i];
                y[i] = a[i] * d[i] + b[i] * c[i];
            }
        });
        Self(out)
    }

    fn square(&self) -> Self {
        let (a, b) = (self.0.plane(0), self.0.plane(1));
        let mut out = Planes::for_overwrite(self.shape(), 2);
        let (oa, ob) = out.planes_mut2();
        for_chunks2(oa, ob, |x, y, off| {
            for i in 0..x.len() {
                let (p, q) = (a[off + i], b[off + i]);
                x[i] = p * p + q * q;
                y[i] = (p + p) * q;
            }
        });
        Self(out)
    }

    fn recip(&self) -> Self {
        // (a + bR')^-1 = (a - bR') / (a^2 - b^2); a^2 - b^2 = m * r.
        let (a, b) = (self.0.plane(0), self.0.plane(1));
        let mut out = Planes::for_overwrite(self.shape(), 2);
        let (oa, ob) = out.planes_mut2();
        for_chunks2(oa, ob, |x, y, off| {
            for i in 0..x.len() {
                let (p, q) = (a[off + i], b[off + i]);
                let det = T::one() / ((p - q) * (p + q));
                x[i] = p * det;
                y[i] = -q * det;
            }
        });
        Self(out)
    }

    fn add_scalar(&self, c: T) -> Self {
        // c * I only moves the first coordinate; the second is copied as is.
        let (a, b) = (self.0.plane(0), self.0.plane(1));
        let mut out = Planes::for_overwrite(self.shape(), 2);
        let (oa, ob) = out.planes_mut2();
        for_chunks2(oa, ob, |x, y, off| {
            for ((x, y), (&a, &b)) in x.iter_mut().zip(y.iter_mut()).zip(a[off..].iter().zip(&b[off..])) {
                *x = a + c;
                *y = b;
            }
        });
        Self(out)
    }

    fn all_finite(&self) -> bool {
        // One vectorised parallel pass instead of the trait's serial scan.
        self.0.all_finite()
    }

    fn polynomial(&self, coeffs: &[f64], second: Option<&[f64]>) -> (Self, Option<Self>) {
        let (a, b) = (self.0.plane(0), self.0.plane(1));
        let lists = [Some(coeffs), second];
        let ks: Vec<_> = lists.iter().flatten().map(|c| kernels::horner_coeffs::<T>(c)).collect();
        let mut outs: Vec<Planes<T>> = ks.iter().map(|_| Planes::for_overwrite(self.shape(), 2)).collect();
        let slices = outs
            .iter_mut()
            .flat_map(|o| {
                let (p, q) = o.planes_mut2();
                [p, q]
            })
            .collect();
        kernels::for_chunks_n(slices, |chunks, off| {
            for (pair, k) in chunks.chunks_exact_mut(2).zip(&ks) {
                let [pa, pb] = pair else { unreachable!("chunks of two") };
                let Some((top, rest)) = k else {
                    // The empty polynomial: 0 (the storage is recycled, so write it).
                    pa.fill(T::zero());
                    pb.fill(T::zero());
                    continue;
                };
                // Horner in the algebra, the exact operations of `mul` and `add_scalar`:
                // (p + q R')(xa + xb R') = (p xa + q xb) + (p xb + q xa) R'. One pass over the
                // (cache-resident) chunk per coefficient, so the element loop vectorises.
                pa.fill(T::zero() + *top);
                pb.fill(T::zero());
                let (xa, xb) = (&a[off..off + pa.len()], &b[off..off + pa.len()]);
                for &c in rest {
                    for (((p, q), &xa), &xb) in pa.iter_mut().zip(pb.iter_mut()).zip(xa).zip(xb) {
                        (*p, *q) = (*p * xa + *q * xb + c, *p * xb + *q * xa);
                    }
                }
            }
        });
        let second = second.and_then(|_| outs.pop()).map(Self);
        (Self(outs.pop().expect("one output per coefficient list")), second)
    }

    fn matmul(&self, ta: bool, rhs: &Self, tb: bool) -> Self {
        let mut lhs_sum = std::sync::OnceLock::new();
        let out = self.matmul_keeping(ta, rhs, tb, &lhs_sum);
        if let Some(sum) = lhs_sum.take() {
            crate::pool::give(sum);
        }
        out
    }

    fn matmul_keeping(&self, ta: bool, rhs: &Self, tb: bool, lhs_sum: &std::sync::OnceLock<Vec<T>>) -> Self {
        // (A1 + A2 R')(B1 + B2 R') with R'^2 = I is C1 = A1 B1 + A2 B2, C2 = A1 B2 + A2 B1.
        let (ao, bo, shape) = matmul_operands(self.shape(), ta, rhs.shape(), tb);
        let [m, n] = shape;
        let k = ao.logical().1;
        let (a1, a2) = (self.0.plane(0), self.0.plane(1));
        let (b1, b2) = (rhs.0.plane(0), rhs.0.plane(1));
        let mut out = Planes::for_overwrite(&shape, 2);
        let (c1, c2) = out.planes_mut2();
        // Karatsuba saves one of the four products for three passes over memory: the operand
        // sums A1 + A2 and B1 + B2, and C2 = (A1 + A2)(B1 + B2) - C1. A pass costs about as
        // much as KARATSUBA_PASS multiply-adds per element, so products with a short side (the
        // convolution's `36864 x 25 x 8`: every operand value takes part in only 8 or 25
        // multiply-adds) are cheaper as four, done block by block so that each operand is read
        // from memory once. The choice depends on the shapes alone (not on whether `lhs_sum`
        // is already kept), so a kept operand gives the same bits as a plain `matmul`.
        if m * n * k < KARATSUBA_PASS * (m * k + k * n + m * n) {
            kernels::gemm_pairs(c1, c2, [a1, a2], ao, [b1, b2], bo);
            return Self(out);
        }
        // Karatsuba: C2 = (A1 + A2)(B1 + B2) - C1. The two products of C1 and the one of C2
        // are independent parallel tasks; `lhs_sum` keeps A1 + A2 for further products with
        // the same left operand.
        let (sa, sb) = rayon::join(
            || lhs_sum.get_or_init(|| kernels::zip_collect(a1, a2, |x, y| x + y)),
            || kernels::zip_collect(b1, b2, |x, y| x + y),
        );
        rayon::join(
            || {
                kernels::gemm(c1, a1, ao, b1, bo, T::one(), false);
                kernels::gemm(c1, a2, ao, b2, bo, T::one(), true);
            },
            || kernels::gemm(c2, sa, ao, &sb, bo, T::one(), false),
        );
        kernels::update(c2, c1, |s, c| s - c);
        // The operand sum is a bare vector, not a tensor: hand its storage back explicitly
        // (the left one goes back when its keeper is dropped).
        crate::pool::give(sb);
        Self(out)
    }
}
