//! The real scalar types the engine computes in (`f32`, `f64`).

use std::fmt::{Debug, Display};

/// A real floating-point scalar: `f32` or `f64`.
///
/// Everything numeric in moreml is generic over this trait, so f32 and f64 share one code path.
///
/// ```
/// use moreml_cipher::Float;
/// fn half<T: Float>(x: T) -> T { x * T::of(0.5) }
/// assert_eq!(half(3.0f32), 1.5);
/// assert_eq!(<f64 as Float>::NAME, "f64");
/// ```
pub trait Float:
    num_traits::Float
    + bytemuck::Pod
    + Default
    + Send
    + Sync
    + Debug
    + Display
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + crate::conv::Row
    + 'static
{
    /// The safetensors dtype of this scalar.
    const DTYPE: safetensors::Dtype;
    /// Short name used in file headers and messages (`"f32"`, `"f64"`).
    const NAME: &'static str;
    /// Converts from `f64` (rounding for `f32`).
    fn of(x: f64) -> Self;
    /// Widens to `f64`.
    fn f64(self) -> f64;
}

impl Float for f32 {
    const DTYPE: safetensors::Dtype = safetensors::Dtype::F32;
    const NAME: &'static str = "f32";
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
}

impl Float for f64 {
    const DTYPE: safetensors::Dtype = safetensors::Dtype::F64;
    const NAME: &'static str = "f64";
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
}
