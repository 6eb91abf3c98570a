//! Direct convolution kernels for few output channels: the products of the im2col matrix,
//! computed without materialising it.
//!
//! A `5x5` kernel makes the im2col matrix 25 times the size of its input (`64 x 28 x 28`
//! images: 921,600 values per plane), and a convolution with few output channels reads it
//! for only 8 multiply-adds per value: writing it and reading it back twice (forward product,
//! weight gradient) took most of the convolution's time, twice as much for ciphertexts (two
//! planes) as for plaintexts. These kernels read each window straight from the input, which
//! stays in cache, and keep the results in registers.
//!
//! One generic kernel serves both domains; `S` is the number of operand streams. Plaintexts
//! have one (the real product). Ciphertexts multiply algebra coordinates,
//! `(a1 + a2 R')(b1 + b2 R') = (a1 b1 + a2 b2) + (a1 b2 + a2 b1) R'` (`R'^2 = I`), by
//! Karatsuba with three streams `a1`, `a2`, `a1 + a2`: `c1 = a1 b1 + a2 b2` and
//! `c2 = (a1 + a2)(b1 + b2) - c1`, three multiply-adds per pair of values instead of four.
//! The operand sums cost one pass over the (small) input and weights; the im2col-sized work
//! is all multiply-adds.
//!
//! The element loops work on register rows of [`LANES`] output channels in SIMD registers
//! ([`Row`]: one AVX-512 register of f64, one AVX register of f32, 32 registers; CPUs without
//! AVX-512, and other architectures, take the im2col + GEMM path).
//! Every sum is a chain of fused multiply-adds in an order fixed by the shapes, so the bits do
//! not depend on the number of threads.

use crate::planes::{Planes, Window2d};
use crate::Float;
use rayon::prelude::*;

/// Output channels of one register row (one AVX-512 register of f64, one AVX2 register of f32).
const LANES: usize = 8;
/// The most output channels the direct kernels take (two register rows); wider convolutions
/// reuse each im2col value often enough for a GEMM to win.
const MAX_CHANNELS: usize = 2 * LANES;
/// Output pixels per parallel task of the forward kernel.
const TASK_PIXELS: usize = 256;
/// Output pixels per partial sum of the weight gradient (partials are added in task order).
const TASK_INNER: usize = 1024;

/// One register row: `LANES` output channels.
type Lanes<T> = [T; LANES];

/// Whether [`crate::Domain::conv2d`] and [`crate::Domain::conv2d_weight_grad`] use the direct
/// kernels for a convolution with `channels` output channels: up to 16, on an
/// x86-64 CPU with AVX-512 (the kernels' 32 SIMD registers). Otherwise they take the im2col +
/// GEMM path, and a layer that keeps the im2col matrix for its weight gradient saves building
/// it twice.
///
/// ```
/// // Wide convolutions never take the direct kernels.
/// assert!(!moreml_cipher::direct_conv(17));
/// ```
pub fn direct(channels: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    let simd = std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    let simd = false;
    simd && channels > 0 && channels <= MAX_CHANNELS
}

/// Accumulators of one register row: `c1` and, for ciphertexts, `(a1 + a2)(b1 + b2)`.
type Acc<T> = [<T as Row>::Reg; 2];

/// Adds the products of one pair of operand values (`S` streams each) to `acc`.
///
/// # Safety
/// As [`Row`]: the CPU has AVX-512, AVX2 and FMA.
#[inline(always)]
unsafe fn product_add<T: Float, const S: usize>(acc: &mut Acc<T>, x: [T; S], w: &[Lanes<T>; S]) {
    // SAFETY (of every call below): the caller's contract.
    for i in 0..S.min(2) {
        acc[0] = unsafe { T::row_mul_add(x[i], T::row_load(&w[i]), acc[0]) };
    }
    if S == 3 {
        acc[1] = unsafe { T::row_mul_add(x[S - 1], T::row_load(&w[S - 1]), acc[1]) };
    }
}

/// The result planes of `acc`: `[c1]`, or `[c1, c2]` with `c2 = (a1 + a2)(b1 + b2) - c1`.
///
/// # Safety
/// As [`Row`].
#[inline(always)]
unsafe fn planes_of_acc<T: Float, const S: usize>(acc: &Acc<T>) -> [Lanes<T>; 2] {
    // SAFETY (of every call below): the caller's contract.
    unsafe {
        let second = if S == 3 { T::row_sub(acc[1], acc[0]) } else { acc[1] };
        [T::row_store(acc[0]), T::row_store(second)]
    }
}

/// Output planes for `S` operand streams.
const fn planes_for(streams: usize) -> usize {
    if streams == 3 {
        2
    } else {
        1
    }
}

/// The operand streams of tensor planes: `[x]`, or `[x1, x2, x1 + x2]` (`sum` holds the sum).
fn streams<'a, T: Float, const S: usize>(x: &'a Planes<T>, sum: &'a mut Vec<T>) -> [&'a [T]; S] {
    if S == 3 {
        *sum = x.plane(0).iter().zip(x.plane(1)).map(|(&a, &b)| a + b).collect();
    }
    let sum: &'a [T] = sum;
    std::array::from_fn(|i| if i < 2 && i < x.n_planes() { x.plane(i) } else { sum })
}

/// Register rows of `S` streams of a row-major `rows x cols` operand (`[b]` or
/// `[b1, b2, b1 + b2]`): per block of `LANES` columns, per row, zero beyond `cols`.
fn register_rows<T: Float, const S: usize>(
    b: &Planes<T>,
    rows: std::ops::Range<usize>,
    cols: usize,
) -> Vec<[Lanes<T>; S]> {
    let mut out = vec![[[<T as num_traits::Zero>::zero(); LANES]; S]; cols.div_ceil(LANES) * rows.len()];
    for (jb, block) in out.chunks_exact_mut(rows.len()).enumerate() {
        let (j0, width) = (jb * LANES, (cols - jb * LANES).min(LANES));
        for (p, row) in rows.clone().zip(block) {
            for (i, lanes) in row.iter_mut().enumerate().take(S.min(2)) {
                lanes[..width].copy_from_slice(&b.plane(i)[p * cols + j0..][..width]);
            }
            if S == 3 {
                row[S - 1] = std::array::from_fn(|l| row[0][l] + row[1][l]);
            }
        }
    }
    out
}

/// Offsets, relative to a window's first input value, of the window's values in im2col order
/// (`(ky, kx, c)`).
fn window_offsets(g: &Window2d) -> Vec<usize> {
    let mut offs = Vec::with_capacity(g.kh * g.kw * g.c);
    for ky in 0..g.kh {
        offs.extend((ky * g.w * g.c..).take(g.kw * g.c));
    }
    offs
}

/// Index of the first input value of the windows of output pixels `pixels` (`(n, oy, ox)` in
/// row-major order), stepping through the pixels (one division per call, not three per pixel).
fn window_bases(g: &Window2d, pixels: std::ops::Range<usize>) -> Vec<usize> {
    let (oh, ow) = (g.oh(), g.ow());
    let (mut n, rest) = (pixels.start / (oh * ow), pixels.start % (oh * ow));
    let (mut oy, mut ox) = (rest / ow, rest % ow);
    let mut bases = Vec::with_capacity(pixels.len());
    for _ in pixels {
        bases.push(((n * g.h + oy * g.stride) * g.w + ox * g.stride) * g.c);
        ox += 1;
        if ox == ow {
            (ox, oy) = (0, oy + 1);
            if oy == oh {
                (oy, n) = (0, n + 1);
            }
        }
    }
    bases
}

/// Value `at` of every stream.
///
/// # Safety
/// `at < x[i].len()` for every stream: the entry points assert that the input has the shape
/// of a valid geometry, whose windows (`window_bases + window_offsets`) all lie inside it.
#[inline(always)]
unsafe fn value_at<T: Float, const S: usize>(x: [&[T]; S], at: usize) -> [T; S] {
    // SAFETY: the caller's contract.
    std::array::from_fn(|i| unsafe { *x[i].get_unchecked(at) })
}

/// `im2col(x) * w`: `[N, H, W, C]` by `[KH*KW*C, OC]` into `[N, OH, OW, OC]`, or `None` when
/// the direct kernel does not apply (see [`MAX_CHANNELS`]; an empty batch).
pub(crate) fn forward<T: Float>(x: &Planes<T>, g: &Window2d, w: &Planes<T>) -> Option<Planes<T>> {
    let k = g.kh * g.kw * g.c;
    assert!(g.validate().is_ok() && x.shape() == g.input_shape(), "conv2d: input shape");
    assert_eq!(w.shape().len(), 2, "conv2d: weights must be [k, oc]");
    assert_eq!((w.shape()[0], x.n_planes()), (k, w.n_planes()), "conv2d: weight shape");
    let oc = w.shape()[1];
    if !direct(oc) || g.n == 0 {
        return None;
    }
    Some(match x.n_planes() {
        1 => forward_streams::<T, 1, 8>(x, g, w),
        2 => forward_streams::<T, 3, 4>(x, g, w),
        p => unreachable!("tensors have one or two planes, not {p}"),
    })
}

/// [`forward`] with `S` operand streams, `R` output pixels sharing each loaded weight row.
fn forward_streams<T: Float, const S: usize, const R: usize>(x: &Planes<T>, g: &Window2d, w: &Planes<T>) -> Planes<T> {
    let (k, oc) = (w.shape()[0], w.shape()[1]);
    let packed = register_rows::<T, S>(w, 0..k, oc);
    let offs = window_offsets(g);
    let mut sum = Vec::new();
    let xs = streams::<T, S>(x, &mut sum);
    let pixels = g.n * g.oh() * g.ow();
    let planes = planes_for(S);
    let mut out = Planes::for_overwrite(&[g.n, g.oh(), g.ow(), oc], planes);
    // Each task writes rows `t * TASK_PIXELS..` of every output plane.
    let mut rows: Vec<_> =
        out.raw_mut().chunks_exact_mut(pixels * oc).map(|p| p.chunks_mut(TASK_PIXELS * oc)).collect();
    let tasks: Vec<[Option<&mut [T]>; 2]> = (0..pixels.div_ceil(TASK_PIXELS))
        .map(|_| std::array::from_fn(|pl| rows.get_mut(pl).map(|r| r.next().expect("one chunk per task"))))
        .collect();
    tasks.into_par_iter().enumerate().for_each(|(t, [d1, d2])| {
        let mut empty = [];
        let dst = [d1.expect("a first plane"), d2.unwrap_or(&mut empty)];
        let bases = window_bases(g, t * TASK_PIXELS..(t * TASK_PIXELS + dst[0].len() / oc));
        // SAFETY: `forward` checked `direct` (AVX-512, AVX2 and FMA) and the input's geometry.
        unsafe { forward_task::<T, S, R>(dst, xs, &bases, &packed, &offs, oc) };
    });
    out
}

/// The output pixels of one task of [`forward`] (as many as `dst[0]` holds; windows at
/// `bases`).
///
/// # Safety
/// The CPU has AVX-512, AVX2 and FMA; every window lies inside `x` (a geometry `x` matches).
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx512f,avx512vl,avx2,fma"))]
unsafe fn forward_task<T: Float, const S: usize, const R: usize>(
    mut dst: [&mut [T]; 2],
    x: [&[T]; S],
    bases: &[usize],
    packed: &[[Lanes<T>; S]],
    offs: &[usize],
    oc: usize,
) {
    let pixels = dst[0].len() / oc;
    let full = pixels - pixels % R;
    for (jb, w) in packed.chunks_exact(offs.len()).enumerate() {
        // SAFETY (both loops): this function's contract.
        for i in (0..full).step_by(R) {
            unsafe { forward_pixels::<T, S, R>(&mut dst, x, &bases[i..i + R], [i, oc, jb], w, offs) };
        }
        for i in full..pixels {
            unsafe { forward_pixels::<T, S, 1>(&mut dst, x, &bases[i..i + 1], [i, oc, jb], w, offs) };
        }
    }
}

/// Output pixels `i..i + G` of a task (windows at `bases`), channels of register row `jb`.
///
/// # Safety
/// As [`forward_task`].
#[inline(always)]
unsafe fn forward_pixels<T: Float, const S: usize, const G: usize>(
    dst: &mut [&mut [T]; 2],
    x: [&[T]; S],
    bases: &[usize],
    [i, oc, jb]: [usize; 3],
    w: &[[Lanes<T>; S]],
    offs: &[usize],
) {
    let bases: [usize; G] = std::array::from_fn(|r| bases[r]);
    // SAFETY (all unsafe calls here): this function's contract.
    let mut acc = [unsafe { [T::row_zero(); 2] }; G];
    for (w, &off) in w.iter().zip(offs) {
        for (acc, &base) in acc.iter_mut().zip(&bases) {
            unsafe { product_add(acc, value_at(x, base + off), w) };
        }
    }
    let j0 = jb * LANES;
    let width = (oc - j0).min(LANES);
    for (r, acc) in acc.iter().enumerate() {
        let planes = unsafe { planes_of_acc::<T, S>(acc) };
        for (d, lanes) in dst.iter_mut().zip(&planes).take(planes_for(S)) {
            let d = &mut d[(i + r) * oc + j0..];
            if width == LANES {
                // A store of constant size (a variable one is a `memmove` call).
                d[..LANES].copy_from_slice(lanes);
            } else {
                d[..width].copy_from_slice(&lanes[..width]);
            }
        }
    }
}

/// `im2col(x)^T * dy`: the weight gradient `[KH*KW*C, OC]` of a convolution with output
/// gradient `dy` (`[N*OH*OW, OC]`), or `None` when the direct kernel does not apply (see
/// [`MAX_CHANNELS`]; an empty batch).
pub(crate) fn weight_grad<T: Float>(x: &Planes<T>, g: &Window2d, dy: &Planes<T>) -> Option<Planes<T>> {
    assert!(g.validate().is_ok() && x.shape() == g.input_shape(), "conv2d weight gradient: input shape");
    let pixels = g.n * g.oh() * g.ow();
    let oc = dy.numel() / pixels.max(1);
    assert_eq!((dy.numel(), dy.n_planes()), (pixels * oc, x.n_planes()), "conv2d weight gradient: gradient shape");
    if !direct(oc) || pixels == 0 {
        return None;
    }
    Some(match x.n_planes() {
        1 => weight_grad_streams::<T, 1, 8>(x, g, dy, oc),
        2 => weight_grad_streams::<T, 3, 4>(x, g, dy, oc),
        p => unreachable!("tensors have one or two planes, not {p}"),
    })
}

/// [`weight_grad`] with `S` operand streams, `Q` window values held in registers at once.
fn weight_grad_streams<T: Float, const S: usize, const Q: usize>(
    x: &Planes<T>,
    g: &Window2d,
    dy: &Planes<T>,
    oc: usize,
) -> Planes<T> {
    let pixels = g.n * g.oh() * g.ow();
    let offs = window_offsets(g);
    let k = offs.len();
    let mut sum = Vec::new();
    let xs = streams::<T, S>(x, &mut sum);
    let planes = planes_for(S);
    // Partial results are `planes x k x padded` with whole register rows (writes of a
    // constant size keep the accumulators in registers).
    let padded = oc.next_multiple_of(LANES);
    let size = planes * k * padded;
    let mut partials = vec![<T as num_traits::Zero>::zero(); pixels.div_ceil(TASK_INNER) * size];
    partials.par_chunks_mut(size).enumerate().for_each(|(t, part)| {
        let span = t * TASK_INNER..((t + 1) * TASK_INNER).min(pixels);
        let bases = window_bases(g, span.clone());
        let grads = register_rows::<T, S>(dy, span, oc);
        // SAFETY: `weight_grad` checked `direct` (AVX-512, AVX2 and FMA) and the input's geometry.
        unsafe { weight_grad_task::<T, S, Q>(part, xs, &bases, &grads, &offs) };
    });
    let mut parts = partials.chunks_exact(size);
    let first = parts.next().expect("at least one output pixel");
    let mut out: Vec<T> = first.chunks_exact(padded).flat_map(|row| &row[..oc]).copied().collect();
    for part in parts {
        for (o, &v) in out.iter_mut().zip(part.chunks_exact(padded).flat_map(|row| &row[..oc])) {
            *o += v;
        }
    }
    Planes::from_vec(&[k, oc], planes, out).expect("k x oc per plane")
}

/// One partial sum of [`weight_grad`]: `part` holds the planes of a `[k, padded]` result.
///
/// # Safety
/// The CPU has AVX-512, AVX2 and FMA; every window lies inside `x` (a geometry `x` matches).
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx512f,avx512vl,avx2,fma"))]
unsafe fn weight_grad_task<T: Float, const S: usize, const Q: usize>(
    part: &mut [T],
    x: [&[T]; S],
    bases: &[usize],
    grads: &[[Lanes<T>; S]],
    offs: &[usize],
) {
    let k = offs.len();
    let full = k - k % Q;
    for (jb, grads) in grads.chunks_exact(bases.len()).enumerate() {
        // SAFETY (both loops): this function's contract.
        for q0 in (0..full).step_by(Q) {
            unsafe { weight_grad_values::<T, S, Q>(part, x, bases, grads, &offs[q0..q0 + Q], [k, q0, jb]) };
        }
        for q0 in full..k {
            unsafe { weight_grad_values::<T, S, 1>(part, x, bases, grads, &offs[q0..q0 + 1], [k, q0, jb]) };
        }
    }
}

/// Window values `q0..q0 + G` (of `k`: rows of the result), channels of register row `jb`,
/// summed over the task's output pixels in registers.
///
/// # Safety
/// As [`weight_grad_task`].
#[inline(always)]
unsafe fn weight_grad_values<T: Float, const S: usize, const G: usize>(
    part: &mut [T],
    x: [&[T]; S],
    bases: &[usize],
    grads: &[[Lanes<T>; S]],
    offs: &[usize],
    [k, q0, jb]: [usize; 3],
) {
    let padded = part.len() / (planes_for(S) * k);
    let offs: [usize; G] = std::array::from_fn(|q| offs[q]);
    // SAFETY (all unsafe calls here): this function's contract.
    let mut acc = [unsafe { [T::row_zero(); 2] }; G];
    for (&base, grad) in bases.iter().zip(grads) {
        for (acc, &off) in acc.iter_mut().zip(&offs) {
            unsafe { product_add(acc, value_at(x, base + off), grad) };
        }
    }
    for (q, acc) in acc.iter().enumerate() {
        for (pl, lanes) in unsafe { planes_of_acc::<T, S>(acc) }.iter().enumerate().take(planes_for(S)) {
            part[((pl * k + q0 + q) * padded + jb * LANES)..][..LANES].copy_from_slice(lanes);
        }
    }
}

pub use row::Row;

/// Register rows: `LANES` values in SIMD registers, and the few operations the kernels need.
/// Explicit intrinsics, not auto-vectorised loops: left to itself the compiler vectorised the
/// kernels across output pixels with gathers (a 13x slower forward product).
mod row {
    use super::{Lanes, LANES};

    /// A scalar with register rows (implemented for `f32` and `f64`; a supertrait of
    /// [`crate::Float`], so the generic kernels can use it).
    ///
    /// # Safety
    /// Every method needs a CPU with AVX-512 (F, VL), AVX2 and FMA (checked by `direct` before
    /// any kernel runs).
    pub trait Row: Copy + Sized {
        /// `LANES` values in registers.
        type Reg: Copy;
        /// All zero.
        unsafe fn row_zero() -> Self::Reg;
        /// Loads a row.
        unsafe fn row_load(row: &Lanes<Self>) -> Self::Reg;
        /// Stores a row.
        unsafe fn row_store(reg: Self::Reg) -> Lanes<Self>;
        /// `acc + x * w` on every lane, fused (one rounding).
        unsafe fn row_mul_add(x: Self, w: Self::Reg, acc: Self::Reg) -> Self::Reg;
        /// `a - b` on every lane.
        unsafe fn row_sub(a: Self::Reg, b: Self::Reg) -> Self::Reg;
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use super::{Lanes, Row};
        use std::arch::x86_64::*;

        // SAFETY (all intrinsics below): the trait's contract, the CPU features are present;
        // the loads and stores are unaligned ones on arrays of exactly LANES values.
        impl Row for f64 {
            type Reg = __m512d;
            #[inline(always)]
            unsafe fn row_zero() -> Self::Reg {
                unsafe { _mm512_setzero_pd() }
            }
            #[inline(always)]
            unsafe fn row_load(row: &Lanes<Self>) -> Self::Reg {
                unsafe { _mm512_loadu_pd(row.as_ptr()) }
            }
            #[inline(always)]
            unsafe fn row_store(reg: Self::Reg) -> Lanes<Self> {
                let mut out = [0.0; super::LANES];
                unsafe { _mm512_storeu_pd(out.as_mut_ptr(), reg) };
                out
            }
            #[inline(always)]
            unsafe fn row_mul_add(x: Self, w: Self::Reg, acc: Self::Reg) -> Self::Reg {
                unsafe { _mm512_fmadd_pd(_mm512_set1_pd(x), w, acc) }
            }
            #[inline(always)]
            unsafe fn row_sub(a: Self::Reg, b: Self::Reg) -> Self::Reg {
                unsafe { _mm512_sub_pd(a, b) }
            }
        }

        impl Row for f32 {
            type Reg = __m256;
            #[inline(always)]
            unsafe fn row_zero() -> Self::Reg {
                unsafe { _mm256_setzero_ps() }
            }
            #[inline(always)]
            unsafe fn row_load(row: &Lanes<Self>) -> Self::Reg {
                unsafe { _mm256_loadu_ps(row.as_ptr()) }
            }
            #[inline(always)]
            unsafe fn row_store(reg: Self::Reg) -> Lanes<Self> {
                let mut out = [0.0; super::LANES];
                unsafe { _mm256_storeu_ps(out.as_mut_ptr(), reg) };
                out
            }
            #[inline(always)]
            unsafe fn row_mul_add(x: Self, w: Self::Reg, acc: Self::Reg) -> Self::Reg {
                unsafe { _mm256_fmadd_ps(_mm256_set1_ps(x), w, acc) }
            }
            #[inline(always)]
            unsafe fn row_sub(a: Self::Reg, b: Self::Reg) -> Self::Reg {
                unsafe { _mm256_sub_ps(a, b) }
            }
        }
    }

    /// Elsewhere the kernels never run (`direct` is false); plain arrays keep them compiling.
    #[cfg(not(target_arch = "x86_64"))]
    macro_rules! array_rows {
        ($($t:ty),*) => {$(
            impl Row for $t {
                type Reg = Lanes<$t>;
                unsafe fn row_zero() -> Self::Reg {
                    [0.0; LANES]
                }
                unsafe fn row_load(row: &Lanes<Self>) -> Self::Reg {
                    *row
                }
                unsafe fn row_store(reg: Self::Reg) -> Lanes<Self> {
                    reg
                }
                unsafe fn row_mul_add(x: Self, w: Self::Reg, acc: Self::Reg) -> Self::Reg {
                    std::array::from_fn(|l| x.mul_add(w[l], acc[l]))
                }
                unsafe fn row_sub(a: Self::Reg, b: Self::Reg) -> Self::Reg {
                    std::array::from_fn(|l| a[l] - b[l])
                }
            }
        )*};
    }
    #[cfg(not(target_arch = "x86_64"))]
    array_rows!(f32, f64);
}
