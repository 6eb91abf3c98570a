//! Fast kernels: GEMM on top of the `gemm` crate, and chunked parallel elementwise loops.
//!
//! Kernels take plain slices plus dimensions and write into a destination, so that the
//! plaintext and the ciphertext tensors share them (faer-style: storage is not the kernel's
//! business).

use crate::Float;
use rayon::prelude::*;

/// Below this many elements, elementwise loops run on the calling thread.
pub(crate) const PAR_MIN: usize = 1 << 15;
/// Multiply-adds from which a GEMM is cut in halves (rows or columns of the result) that run
/// as separate rayon tasks: the mini-batch layers (`64 x 1152 x 128`, the convolution's
/// `36864 x 25 x 8`) get both cores without a thread pool of their own.
const SPLIT_GEMM: usize = 1 << 21;
/// Multiply-adds from which the `gemm` crate parallelises a product itself (large square
/// products: it shares the packed panels between threads).
const LARGE_GEMM: usize = 1 << 24;
/// Inner length from which a product with a small result (a weight gradient such as the
/// convolution's `25 x 36864 x 8`) is cut along `k` instead: halves of the sum go to separate
/// tasks and are added at the end. Cutting such a product along its short result sides made
/// every task stream the whole strided operand (measured: 2-3x slower than one thread).
const SPLIT_K: usize = 1 << 13;
/// Chunk length handed to one rayon task.
pub(crate) const CHUNK: usize = 1 << 13;
/// Shape of one GEMM operand as stored row-major, and whether it is used transposed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Operand {
    pub rows: usize,
    pub cols: usize,
    pub transposed: bool,
}

impl Operand {
    /// Logical (rows, cols) after the optional transpose.
    pub fn logical(self) -> (usize, usize) {
        if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }
    /// (column stride, row stride) of the logical matrix inside the row-major buffer.
    fn strides(self) -> (isize, isize) {
        if self.transposed {
            (self.cols as isize, 1)
        } else {
            (1, self.cols as isize)
        }
    }
}

/// `dst = beta_dst * dst + alpha * op(a) * op(b)`, with `dst` row-major `m x n`.
///
/// When `accumulate` is false `dst` is overwritten (its old contents are never read).
///
/// One GEMM implementation (the `gemm` crate, on rayon's threads) for every size: it beat
/// `matrixmultiply` on the skinny convolution products (`36864 x 25 x 8` f64: 0.32 ms vs
/// 0.83 ms, single-threaded) and ties on the dense mini-batch ones, and `matrixmultiply`'s own
/// thread pool competed with rayon's spinning workers for the two cores.
pub(crate) fn gemm<T: Float>(dst: &mut [T], a: &[T], ao: Operand, b: &[T], bo: Operand, alpha: T, accumulate: bool) {
    let (m, k) = ao.logical();
    let (k2, n) = bo.logical();
    assert_eq!(k, k2, "gemm: inner dimensions differ");
    assert_eq!(dst.len(), m * n, "gemm: destination has the wrong length");
    assert_eq!(a.len(), ao.rows * ao.cols);
    assert_eq!(b.len(), bo.rows * bo.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(T::zero());
        }
        return;
    }
    let (a_cs, a_rs) = ao.strides();
    let (b_cs, b_rs) = bo.strides();
    let block =
        Block { dst: dst.as_mut_ptr(), a: a.as_ptr(), b: b.as_ptr(), m, n, k, a_cs, a_rs, b_cs, b_rs, dst_rs: n };
    // SAFETY: the pointers come from slices whose lengths were checked against the logical
    // dimensions and strides above; dst does not alias a or b (distinct borrows).
    unsafe { block.run(alpha, accumulate) }
}

/// A block of one GEMM: `dst[m x n] (+)= alpha * a[m x k] * b[k x n]`, every matrix given by a
/// pointer to its first entry and its strides (`dst` has column stride 1).
#[derive(Clone, Copy)]
struct Block<T> {
    dst: *mut T,
    a: *const T,
    b: *const T,
    m: usize,
    n: usize,
    k: usize,
    a_cs: isize,
    a_rs: isize,
    b_cs: isize,
    b_rs: isize,
    dst_rs: usize,
}

// SAFETY: a block is only run while the slices it points into are borrowed by `gemm`, and the
// halves of a split write disjoint parts of `dst`.
unsafe impl<T: Send> Send for Block<T> {}

impl<T: Float> Block<T> {
    /// Runs the block; products from [`SPLIT_GEMM`] to [`LARGE_GEMM`] multiply-adds are cut in
    /// two along the longer side of the result, recursively, and the halves run in parallel
    /// (each result entry is still one dot product of the same length).
    ///
    /// # Safety
    /// The pointers and strides must describe valid, non-overlapping matrices (`dst` unique).
    unsafe fn run(self, alpha: T, accumulate: bool) {
        let work = self.m * self.n * self.k;
        if work >= SPLIT_GEMM && self.k >= 2 * SPLIT_K && self.k >= 16 * self.m.max(self.n) {
            return self.run_split_k(alpha, accumulate);
        }
        let threads = rayon::current_num_threads();
        if !(SPLIT_GEMM..LARGE_GEMM).contains(&work) || threads == 1 || self.m.max(self.n) < 16 {
            let par =
                if work >= LARGE_GEMM && threads > 1 { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
            return self.run_here(alpha, accumulate, par);
        }
        let (mut lo, mut hi) = (self, self);
        if self.m >= self.n {
            let h = self.m / 2;
            (lo.m, hi.m) = (h, self.m - h);
            hi.a = self.a.offset(h as isize * self.a_rs);
            hi.dst = self.dst.add(h * self.dst_rs);
        } else {
            // Column halves rounded to 8 so both keep whole SIMD tiles.
            let h = (self.n / 2).next_multiple_of(8).min(self.n - 1);
            (lo.n, hi.n) = (h, self.n - h);
            hi.b = self.b.offset(h as isize * self.b_cs);
            hi.dst = self.dst.add(h);
        }
        // SAFETY: the halves cover disjoint rows (or columns) of `dst` and read shared inputs.
        rayon::join(move || unsafe { lo.run(alpha, accumulate) }, move || unsafe { hi.run(alpha, accumulate) });
    }

    /// The block as one call of the `gemm` crate, with its `parallelism`.
    ///
    /// # Safety
    /// As [`Block::run`].
    unsafe fn run_here(self, alpha: T, accumulate: bool, parallelism: gemm::Parallelism) {
        gemm::gemm(
            self.m,
            self.n,
            self.k,
            self.dst,
            1,
            self.dst_rs as isize,
            accumulate,
            self.a,
            self.a_cs,
            self.a_rs,
            self.b,
            self.b_cs,
            self.b_rs,
            T::one(),
            alpha,
            false,
            false,
            false,
            parallelism,
        );
    }

    /// Rows `r0..r0 + rows` of the logical `a` and of `dst`.
    fn rows(mut self, r0: usize, rows: usize) -> Self {
        // SAFETY (of the offsets): r0 + rows <= m, inside the matrices the block describes.
        self.a = self.a.wrapping_offset(r0 as isize * self.a_rs);
        self.dst = self.dst.wrapping_add(r0 * self.dst_rs);
        self.m = rows;
        self
    }

    /// Inner indices `k0..k0 + len` of the logical `a` and `b`.
    fn inner(mut self, k0: usize, len: usize) -> Self {
        self.a = self.a.wrapping_offset(k0 as isize * self.a_cs);
        self.b = self.b.wrapping_offset(k0 as isize * self.b_rs);
        self.k = len;
        self
    }

    /// `dst (+)= alpha * (a_lo b_lo + a_hi b_hi)` over the two halves of `k`: the first half
    /// goes to `dst`, the second to a scratch result added at the end. The cut depends on the
    /// shape only, never on the thread count, so results are the same on any machine.
    ///
    /// # Safety
    /// As [`Block::run`].
    unsafe fn run_split_k(self, alpha: T, accumulate: bool) {
        let h = (self.k / 2).next_multiple_of(8);
        let (mut lo, mut hi) = (self, self);
        (lo.k, hi.k) = (h, self.k - h);
        hi.a = self.a.offset(h as isize * self.a_cs);
        hi.b = self.b.offset(h as isize * self.b_rs);
        let mut scratch = vec![T::zero(); self.m * self.n];
        (hi.dst, hi.dst_rs) = (scratch.as_mut_ptr(), self.n);
        // SAFETY: `lo` writes `dst`, `hi` the scratch buffer; both only read the operands.
        rayon::join(move || unsafe { lo.run(alpha, accumulate) }, move || unsafe { hi.run(alpha, false) });
        for (i, row) in scratch.chunks_exact(self.n).enumerate() {
            // SAFETY: row `i` of `dst` has `n` entries at stride 1, and `hi` has finished.
            let d = unsafe { std::slice::from_raw_parts_mut(self.dst.add(i * self.dst_rs), self.n) };
            for (d, &s) in d.iter_mut().zip(row) {
                *d += s;
            }
        }
    }
}

/// Runs `f(chunk_of_out, offset)` over `out` in parallel chunks (serially when small).
pub(crate) fn for_chunks<T: Float>(out: &mut [T], f: impl Fn(&mut [T], usize) + Sync) {
    if out.len() < PAR_MIN {
        f(out, 0);
    } else {
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(i, c)| f(c, i * CHUNK));
    }
}

/// Like [`for_chunks`] over two outputs of equal length, chunked in lockstep.
pub(crate) fn for_chunks2<T: Float>(o1: &mut [T], o2: &mut [T], f: impl Fn(&mut [T], &mut [T], usize) + Sync) {
    debug_assert_eq!(o1.len(), o2.len());
    if o1.len() < PAR_MIN {
        f(o1, o2, 0);
    } else {
        o1.par_chunks_mut(CHUNK)
            .zip(o2.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(i, (c1, c2))| f(c1, c2, i * CHUNK));
    }
}

/// Like [`for_chunks`] over any number of outputs of equal length, chunked in lockstep:
/// `f(chunks, offset)` gets the `i`-th chunk of every output.
pub(crate) fn for_chunks_n<T: Float>(mut outs: Vec<&mut [T]>, f: impl Fn(&mut [&mut [T]], usize) + Sync) {
    let len = outs.first().map_or(0, |o| o.len());
    debug_assert!(outs.iter().all(|o| o.len() == len));
    if len < PAR_MIN {
        f(&mut outs, 0);
        return;
    }
    let mut pieces: Vec<Vec<&mut [T]>> = (0..len.div_ceil(CHUNK)).map(|_| Vec::with_capacity(outs.len())).collect();
    for o in outs {
        for (p, c) in pieces.iter_mut().zip(o.chunks_mut(CHUNK)) {
            p.push(c);
        }
    }
    pieces.into_par_iter().enumerate().for_each(|(i, mut p)| f(&mut p, i * CHUNK));
}

/// Public polynomial coefficients in the kernel's scalar type, highest degree first, split into
/// the leading coefficient and the rest (`None` for an empty list, whose polynomial is 0).
pub(crate) fn horner_coeffs<T: Float>(coeffs: &[f64]) -> Option<(T, Vec<T>)> {
    let (&top, rest) = coeffs.split_last()?;
    Some((T::of(top), rest.iter().rev().map(|&c| T::of(c)).collect()))
}

/// `out[i] = f(out[i], x[i])` in parallel.
pub(crate) fn update<T: Float>(out: &mut [T], x: &[T], f: impl Fn(T, T) -> T + Sync) {
    for_chunks(out, |o, off| {
        let end = off + o.len();
        for (o, &v) in o.iter_mut().zip(&x[off..end]) {
            *o = f(*o, v);
        }
    });
}

/// Whether every value is finite, in independent lanes so that it vectorises
/// (`v - v` is 0 for finite `v` and NaN for NaN and infinities).
pub(crate) fn all_finite<T: Float>(x: &[T]) -> bool {
    const LANES: usize = 16;
    let mut acc = [T::zero(); LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            // `v - v` on purpose: 0 when finite, NaN otherwise.
            #[allow(clippy::eq_op)]
            {
                *a += v - v;
            }
        }
    }
    acc.iter().all(|a| *a == T::zero()) && chunks.remainder().iter().all(|v| v.is_finite())
}

/// `f(x[i], y[i])` into a new vector (recycled storage, see [`crate::pool`]), in parallel
/// chunks when large.
pub(crate) fn zip_collect<T: Float>(x: &[T], y: &[T], f: impl Fn(T, T) -> T + Sync) -> Vec<T> {
    assert_eq!(x.len(), y.len(), "zip_collect: lengths differ");
    let mut out = crate::pool::take(x.len());
    for_chunks(&mut out, |o, off| {
        for ((o, &a), &b) in o.iter_mut().zip(&x[off..]).zip(&y[off..]) {
            *o = f(a, b);
        }
    });
    out
}

/// `f(x[i])` into a new vector (recycled storage), in parallel chunks when large.
pub(crate) fn map_collect<T: Float>(x: &[T], f: impl Fn(T) -> T + Sync) -> Vec<T> {
    let mut out = crate::pool::take(x.len());
    for_chunks(&mut out, |o, off| {
        for (o, &a) in o.iter_mut().zip(&x[off..]) {
            *o = f(a);
        }
    });
    out
}

/// Bytes of operands one task of [`gemm_pairs`] keeps in cache for its four products (half
/// of a core's L2 here). Cache-cold, 2 cores, f64: the convolution's forward product 1.27 ms
/// with two chains of whole products -> 1.08-1.12 ms, its weight gradient 1.54-1.86 ->
/// 1.16-1.22 ms; 256 KiB to 1 MiB blocks measured alike, 2 MiB worse.
const PAIR_BLOCK_BYTES: usize = 512 << 10;

/// The four products of a ciphertext GEMM, `c1 = A1 B1 + A2 B2` and `c2 = A1 B2 + A2 B1`
/// (`a = [A1, A2]`, `b = [B1, B2]`), block by block along the long side so that each block of
/// the operands is read from memory once and used by all four products while it is in cache.
///
/// For the convolution's skinny products (`36864 x 25 x 8` forward, `25 x 36864 x 8` weight
/// gradient) two chains of whole products read every operand plane twice from memory.
/// Blocks run as parallel tasks; a long inner side is cut into blocks whose partial results
/// are added in block order, so the bits depend on the shape only, not on the thread count.
pub(crate) fn gemm_pairs<T: Float>(c1: &mut [T], c2: &mut [T], a: [&[T]; 2], ao: Operand, b: [&[T]; 2], bo: Operand) {
    let (m, k) = ao.logical();
    let (k2, n) = bo.logical();
    assert_eq!(k, k2, "gemm_pairs: inner dimensions differ");
    assert!(c1.len() == m * n && c2.len() == m * n, "gemm_pairs: destinations have the wrong length");
    assert!(a.iter().all(|p| p.len() == m * k) && b.iter().all(|p| p.len() == k * n));
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c1.fill(T::zero());
        c2.fill(T::zero());
        return;
    }
    let (a_cs, a_rs) = ao.strides();
    let (b_cs, b_rs) = bo.strides();
    let block = |dst: *mut T, dst_rs: usize, ap: &[T], bp: &[T]| Block {
        dst,
        a: ap.as_ptr(),
        b: bp.as_ptr(),
        m,
        n,
        k,
        a_cs,
        a_rs,
        b_cs,
        b_rs,
        dst_rs,
    };
    let size = std::mem::size_of::<T>();
    // The four products of one block, one after the other on this thread: dst1/dst2 rows
    // `r0..r0 + rows` over inner indices `k0..k0 + len`.
    let four = |d1: *mut T, d2: *mut T, d_rs: usize, r0: usize, rows: usize, k0: usize, len: usize| {
        let part = |d, ap, bp| block(d, d_rs, ap, bp).rows(r0, rows).inner(k0, len);
        let none = gemm::Parallelism::None;
        // SAFETY: the slices were checked against the logical shapes above; `rows`/`inner`
        // stay inside them, and each task writes its own rows or its own partial result.
        unsafe {
            part(d1, a[0], b[0]).run_here(T::one(), false, none);
            part(d1, a[1], b[1]).run_here(T::one(), true, none);
            part(d2, a[0], b[1]).run_here(T::one(), false, none);
            part(d2, a[1], b[0]).run_here(T::one(), true, none);
        }
    };
    if k > m && m * n <= 1 << 14 {
        // A reduction (weight gradient): blocks of the inner side, each into its own partial
        // result, added in block order.
        let len = (PAIR_BLOCK_BYTES / (2 * (m + n) * size)).max(64);
        let blocks = k.div_ceil(len);
        let mut partials = vec![T::zero(); blocks * 2 * m * n];
        partials.par_chunks_mut(2 * m * n).enumerate().for_each(|(i, p)| {
            let (p1, p2) = p.split_at_mut(m * n);
            let k0 = i * len;
            // Partial results are `m x n` row-major; `rows` offsets dst by whole rows of n.
            four(p1.as_mut_ptr(), p2.as_mut_ptr(), n, 0, m, k0, len.min(k - k0));
        });
        let mut sums = partials.chunks_exact(2 * m * n);
        let first = sums.next().expect("k > 0 gives a block");
        c1.copy_from_slice(&first[..m * n]);
        c2.copy_from_slice(&first[m * n..]);
        for p in sums {
            update(c1, &p[..m * n], |c, x| c + x);
            update(c2, &p[m * n..], |c, x| c + x);
        }
        return;
    }
    // Blocks of rows of the result, each written by one task.
    let rows = (PAIR_BLOCK_BYTES / (2 * (k + n) * size)).max(16);
    let (d1, d2) = (SendPtr(c1.as_mut_ptr()), SendPtr(c2.as_mut_ptr()));
    (0..m.div_ceil(rows)).into_par_iter().for_each(|i| {
        let r0 = i * rows;
        let (d1, d2) = (&d1, &d2);
        four(d1.0, d2.0, n, r0, rows.min(m - r0), 0, k);
    });
}

/// A destination pointer shared by tasks that write disjoint rows.
struct SendPtr<T>(*mut T);
// SAFETY: only used by `gemm_pairs`, whose tasks write disjoint rows of the destination.
unsafe impl<T> Sync for SendPtr<T> {}
unsafe impl<T> Send for SendPtr<T> {}
