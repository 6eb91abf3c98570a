//! The numeric-domain trait: the homomorphic operation set, as one interface implemented by
//! plaintext tensors and by ciphertext tensors.
//!
//! Layers and non-linear functions are written once against [`Domain`]; the plaintext
//! baseline then runs exactly the same formulas as the encrypted run, which makes
//! "decrypt(encrypted result) == plaintext result" a testable property.
//!
//! The trait is the whole vocabulary a server has for ciphertexts: add, subtract, multiply,
//! multiply by a public constant, add a public constant, inverse, and linear re-arrangements
//! (reshape, transpose, slicing, sums). It offers no comparison, no way to read a value and no
//! eigen-decomposition.

use crate::planes::{Planes, Window2d};
use crate::{Float, Result};

/// The seal: only this crate's tensor types implement [`Domain`], and only this crate can
/// build one from raw storage. Other crates get ciphertexts through
/// [`crate::CipherTensor::from_wire`] (which checks the algebra), public constants
/// ([`Domain::constant`], [`Domain::zeros`]) and the homomorphic operations.
pub(crate) mod sealed {
    /// Marker supertrait of [`super::Domain`]; not nameable outside the crate.
    pub trait Sealed {}
    impl<T: crate::Float> Sealed for crate::PlainTensor<T> {}
    impl<T: crate::Float> Sealed for crate::CipherTensor<T> {}
    /// Capability to wrap or mutate raw storage; only this crate can make one.
    pub struct Token(pub(crate) ());
}
use sealed::Token;

/// Wraps raw storage as a domain tensor (crate-internal: bypasses the algebra check).
pub(crate) fn wrap<D: Domain>(p: Planes<D::Scalar>) -> D {
    D::wrap_sealed(p, Token(()))
}

/// A tensor type that supports the MORE homomorphic operation set.
///
/// Implemented by [`crate::PlainTensor`] (one real per element) and [`crate::CipherTensor`]
/// (one MORE ciphertext per element, stored as two algebra coordinates).
///
/// Shapes of operands must agree; a mismatch is a programming error and panics (data from
/// users is shape-checked when it is loaded).
///
/// ```
/// use moreml_cipher::prelude::*;
/// fn poly<D: Domain>(x: &D) -> D {
///     // x^2 + 0.5 x + 1, written once for both domains
///     x.square().add(&x.scale(D::Scalar::of(0.5))).add_scalar(D::Scalar::of(1.0))
/// }
/// let x = PlainTensor::<f64>::from_vec(&[3], vec![0.0, 1.0, 2.0]).unwrap();
/// assert_eq!(poly(&x).values(), &[1.0, 2.5, 6.0]);
/// ```
pub trait Domain: sealed::Sealed + Clone + Send + Sync + std::fmt::Debug + 'static {
    /// The real scalar the domain computes in.
    type Scalar: Float;
    /// The same domain computing in `f64`: headroom for the few reductions that need it
    /// (the softmax sums of the loss, see `moreml_nn::loss`).
    type Wide: Domain<Scalar = f64>;
    /// Coordinate planes per element (1 plaintext, 2 ciphertext).
    const PLANES: usize;
    /// `"plain"` or `"cipher"`, for logs and reports.
    const NAME: &'static str;

    #[doc(hidden)]
    fn planes(&self) -> &Planes<Self::Scalar>;
    #[doc(hidden)]
    fn planes_mut(&mut self, token: Token) -> &mut Planes<Self::Scalar>;
    #[doc(hidden)]
    fn wrap_sealed(p: Planes<Self::Scalar>, token: Token) -> Self;
    #[doc(hidden)]
    fn into_planes(self) -> Planes<Self::Scalar>;

    /// Elementwise product (for ciphertexts: the matrix product of the 2x2 ciphertexts).
    fn mul(&self, other: &Self) -> Self;
    /// Elementwise inverse `1/x` (for ciphertexts: the matrix inverse; needs both the value
    /// and the hidden random value non-zero).
    fn recip(&self) -> Self;
    /// Adds a public constant to every element.
    fn add_scalar(&self, c: Self::Scalar) -> Self;
    /// Matrix product `op(self) * op(rhs)` of two 2-D tensors, `op` = optional transpose.
    ///
    /// # Shapes
    /// `op(self)`: `[m, k]`, `op(rhs)`: `[k, n]` -> `[m, n]`.
    fn matmul(&self, transpose_self: bool, rhs: &Self, transpose_rhs: bool) -> Self;
    /// [`Domain::matmul`] with the left operand's per-product work kept in `lhs_work` for
    /// further products with the same left operand (see [`MatmulLhs`]).
    #[doc(hidden)]
    fn matmul_keeping(
        &self,
        transpose_self: bool,
        rhs: &Self,
        transpose_rhs: bool,
        lhs_work: &std::sync::OnceLock<Vec<Self::Scalar>>,
    ) -> Self {
        let _ = lhs_work;
        self.matmul(transpose_self, rhs, transpose_rhs)
    }
    /// The polynomial `coeffs[0] + coeffs[1] x + ...` with public coefficients, by Horner's
    /// rule (`acc = acc * x + k`: [`Domain::mul`] and [`Domain::add_scalar`] only), and the
    /// same for a second coefficient list (an activation's derivative), in one fused pass.
    /// Empty coefficients give zeros.
    fn polynomial(&self, coeffs: &[f64], second: Option<&[f64]>) -> (Self, Option<Self>);

    /// Public constants: each value `v` becomes `v` (plain) or the trivial ciphertext `v*I`.
    ///
    /// This is how a server initialises weights: they start public and become ciphertexts
    /// through the first update.
    fn constant(shape: &[usize], values: Vec<Self::Scalar>) -> Result<Self> {
        let n = values.len();
        let mut data = values;
        data.resize(n * Self::PLANES, <Self::Scalar as num_traits::Zero>::zero());
        Ok(wrap::<Self>(Planes::from_vec(shape, Self::PLANES, data)?))
    }

    /// The same tensor in `f64` (exact).
    fn widen(&self) -> Self::Wide {
        wrap::<Self::Wide>(self.planes().cast::<f64>())
    }
    /// An `f64` tensor of this domain rounded to [`Domain::Scalar`].
    fn narrow(wide: &Self::Wide) -> Self {
        wrap::<Self>(wide.planes().cast::<Self::Scalar>())
    }
    /// Whether every coordinate is finite. A server sees this without the key: a ciphertext
    /// is finite exactly when its coordinates are, so divergence is detectable server-side.
    fn all_finite(&self) -> bool {
        self.planes().raw().iter().all(|v| num_traits::Float::is_finite(*v))
    }

    /// The algebra coordinates of every element, plane after plane (`numel * PLANES` values):
    /// exactly what a server already holds, no key involved.
    ///
    /// For collectives that move tensors between the processes of one training job
    /// (`moreml_nn::collective`: sum gradients across processes, broadcast weights).
    fn coords(&self) -> &[Self::Scalar] {
        self.planes().raw()
    }
    /// Mutable algebra coordinates, for a collective to write a received or summed tensor in
    /// place. Any coordinates are an element of the algebra (for ciphertexts: under the same
    /// basis), so this cannot break the algebra invariant that [`crate::CipherTensor::from_wire`]
    /// checks; what the values mean is the sender's business.
    ///
    /// ```
    /// use moreml_cipher::prelude::*;
    /// let mut x = PlainTensor::<f64>::from_vec(&[2], vec![1.0, 2.0]).unwrap();
    /// let y = x.clone();
    /// for (a, b) in x.coords_mut().iter_mut().zip(y.coords()) {
    ///     *a += *b; // what an all-reduce-sum over two processes does
    /// }
    /// assert_eq!(x.values(), &[2.0, 4.0]);
    /// ```
    fn coords_mut(&mut self) -> &mut [Self::Scalar] {
        self.planes_mut(Token(())).raw_mut()
    }

    /// All-zero tensor (zero is a public constant).
    fn zeros(shape: &[usize]) -> Self {
        wrap::<Self>(Planes::zeros(shape, Self::PLANES))
    }

    /// The logical shape.
    fn shape(&self) -> &[usize] {
        self.planes().shape()
    }
    /// Number of elements.
    fn numel(&self) -> usize {
        self.planes().numel()
    }
    /// Same elements, another shape.
    fn reshape(self, shape: &[usize]) -> Result<Self> {
        Ok(wrap::<Self>(self.into_planes().reshape(shape)?))
    }

    /// `self * self`.
    fn square(&self) -> Self {
        self.mul(self)
    }
    /// Elementwise sum.
    fn add(&self, other: &Self) -> Self {
        wrap::<Self>(self.planes().add(other.planes()))
    }
    /// Elementwise difference.
    fn sub(&self, other: &Self) -> Self {
        wrap::<Self>(self.planes().sub(other.planes()))
    }
    /// Multiplication by a public constant.
    fn scale(&self, c: Self::Scalar) -> Self {
        wrap::<Self>(self.planes().scale(c))
    }
    /// `self = alpha * x + beta * self` with public constants `alpha`, `beta`.
    fn axpby(&mut self, alpha: Self::Scalar, x: &Self, beta: Self::Scalar) {
        self.planes_mut(Token(())).axpby(alpha, x.planes(), beta)
    }
    /// Adds a `[k]` row to every row of a `[.., k]` tensor (bias).
    fn add_row(&mut self, row: &Self) {
        self.planes_mut(Token(())).add_row(row.planes())
    }
    /// `[.., k] -> [k]`: sum over all leading axes (bias gradient).
    fn sum_rows(&self) -> Self {
        wrap::<Self>(self.planes().sum_rows())
    }
    /// `[n, k] -> [n]`: sum over the last axis.
    fn sum_last(&self) -> Self {
        wrap::<Self>(self.planes().sum_last())
    }
    /// `[n] -> [n, k]`: repeat each element `k` times.
    fn broadcast_last(&self, k: usize) -> Self {
        wrap::<Self>(self.planes().broadcast_last(k))
    }
    /// Transpose of a matrix.
    fn transpose2(&self) -> Self {
        wrap::<Self>(self.planes().transpose2())
    }
    /// Stacks tensors along axis 0.
    fn concat_rows(parts: &[&Self]) -> Self {
        let planes: Vec<&Planes<Self::Scalar>> = parts.iter().map(|p| p.planes()).collect();
        wrap::<Self>(Planes::concat_rows(&planes))
    }
    /// Rows `idx` of axis 0 (mini-batch selection).
    fn gather_rows(&self, idx: &[usize]) -> Self {
        wrap::<Self>(self.planes().gather_rows(idx))
    }
    /// im2col for convolutions, see [`Window2d`].
    fn im2col(&self, g: &Window2d) -> Self {
        wrap::<Self>(self.planes().im2col(g))
    }
    /// Adjoint of [`Domain::im2col`].
    fn col2im(&self, g: &Window2d) -> Self {
        wrap::<Self>(self.planes().col2im(g))
    }
    /// Convolution without padding: `[N, H, W, C]` by weights `[KH*KW*C, OC]` into
    /// `[N, OH, OW, OC]`, the product `im2col(self) * w` (see [`Window2d`]). With few output
    /// channels (up to 16) a direct kernel reads the windows from the input instead of
    /// building the im2col matrix (25 times the input for a `5x5` kernel).
    ///
    /// ```
    /// use moreml_cipher::prelude::*;
    /// use moreml_cipher::Window2d;
    /// let g = Window2d { n: 1, h: 3, w: 3, c: 1, kh: 2, kw: 2, stride: 1 };
    /// let x = PlainTensor::<f64>::from_vec(&[1, 3, 3, 1], (1..=9).map(f64::from).collect()).unwrap();
    /// let w = PlainTensor::<f64>::from_vec(&[4, 1], vec![1.0, 0.0, 0.0, 1.0]).unwrap();
    /// // Each output adds the top-left and bottom-right value of its window.
    /// assert_eq!(x.conv2d(&g, &w).values(), &[6.0, 8.0, 12.0, 14.0]);
    /// assert_eq!(x.conv2d(&g, &w), x.im2col(&g).matmul(false, &w, false).reshape(&[1, 2, 2, 1]).unwrap());
    /// ```
    fn conv2d(&self, g: &Window2d, w: &Self) -> Self {
        match crate::conv::forward(self.planes(), g, w.planes()) {
            Some(out) => wrap::<Self>(out),
            None => {
                let oc = w.shape()[1];
                let out = self.im2col(g).matmul(false, w, false);
                out.reshape(&[g.n, g.oh(), g.ow(), oc]).expect("im2col rows are the output pixels")
            }
        }
    }
    /// The weight gradient of [`Domain::conv2d`] for the output gradient `dy`, one row per
    /// output pixel (`[N*OH*OW, OC]`): `im2col(self)^T * dy`, `[KH*KW*C, OC]`, by a direct
    /// kernel for few output channels.
    fn conv2d_weight_grad(&self, g: &Window2d, dy: &Self) -> Self {
        assert_eq!(dy.shape().first(), Some(&(g.n * g.oh() * g.ow())), "conv2d_weight_grad: one row per pixel");
        match crate::conv::weight_grad(self.planes(), g, dy.planes()) {
            Some(out) => wrap::<Self>(out),
            None => self.im2col(g).matmul(true, dy, false),
        }
    }
    /// Slot `(dy, dx)` of every pooling window.
    fn window_slot(&self, g: &Window2d, dy: usize, dx: usize) -> Self {
        wrap::<Self>(self.planes().window_slot(g, dy, dx))
    }
    /// `scale` times the sum of each window (average pooling), one pass.
    fn window_mean(&self, g: &Window2d, scale: Self::Scalar) -> Self {
        wrap::<Self>(self.planes().window_mean(g, scale))
    }
    /// Adjoint of [`Domain::window_mean`].
    fn window_mean_adjoint(&self, g: &Window2d, scale: Self::Scalar) -> Self {
        wrap::<Self>(self.planes().window_mean_adjoint(g, scale))
    }
    /// SGD with momentum, public constants only, one pass:
    /// `velocity = grad + momentum * velocity; self = self - lr * velocity`. Returns whether
    /// every updated coordinate of `self` is finite (divergence shows without another pass).
    fn momentum_step(&mut self, velocity: &mut Self, grad: &Self, lr: Self::Scalar, momentum: Self::Scalar) -> bool {
        self.planes_mut(Token(())).momentum_step(velocity.planes_mut(Token(())), grad.planes(), -lr, momentum)
    }
    /// Adjoint of [`Domain::window_slot`], accumulated into `acc`.
    fn add_to_window_slot(&self, acc: &mut Self, g: &Window2d, dy: usize, dx: usize) {
        self.planes().add_to_window_slot(acc.planes_mut(Token(())), g, dy, dx)
    }
}

/// A left matrix operand kept for several products (e.g. a convolution's im2col matrix, used
/// by the forward product and again by the weight gradient): work that depends on it alone is
/// done once. For ciphertexts that is the Karatsuba operand sum `A1 + A2`, a full pass over
/// the operand per product otherwise; for plaintexts nothing. Products are bit-identical to
/// [`Domain::matmul`].
///
/// ```
/// use moreml_cipher::prelude::*;
/// use moreml_cipher::MatmulLhs;
/// let a = PlainTensor::<f64>::from_vec(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
/// let b = PlainTensor::<f64>::from_vec(&[2, 1], vec![1.0, 1.0]).unwrap();
/// let kept = MatmulLhs::new(a.clone());
/// assert_eq!(kept.matmul(false, &b, false), a.matmul(false, &b, false));
/// assert_eq!(kept.matmul(true, &b, false), a.matmul(true, &b, false));
/// ```
#[derive(Clone, Debug)]
pub struct MatmulLhs<D: Domain> {
    value: D,
    work: std::sync::OnceLock<Vec<D::Scalar>>,
}

impl<D: Domain> MatmulLhs<D> {
    /// Keeps `value` as a left operand.
    pub fn new(value: D) -> Self {
        Self { value, work: std::sync::OnceLock::new() }
    }

    /// The operand.
    pub fn value(&self) -> &D {
        &self.value
    }

    /// `op(value) * op(rhs)`, as [`Domain::matmul`].
    pub fn matmul(&self, transpose_self: bool, rhs: &D, transpose_rhs: bool) -> D {
        self.value.matmul_keeping(transpose_self, rhs, transpose_rhs, &self.work)
    }
}

impl<D: Domain> Drop for MatmulLhs<D> {
    fn drop(&mut self) {
        if let Some(work) = self.work.take() {
            crate::pool::give(work);
        }
    }
}
