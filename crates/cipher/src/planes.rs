//! Storage shared by plaintext and ciphertext tensors, and the operations that act on every
//! coordinate plane the same way.
//!
//! A plaintext tensor has one plane (the values); a ciphertext tensor has two (its coordinates
//! `a`, `b` in the public basis `{I, R'}` of the MORE algebra). Every *linear* map (sums,
//! differences, scaling by public constants, broadcasting, slicing, im2col, pooling windows)
//! is homomorphic when applied plane by plane, so it is written once here. Nothing in this
//! module multiplies two tensors: that is where the domains differ.

use crate::{kernels, pool};
use crate::{Error, Float, Result};
use rayon::prelude::*;

/// Dense row-major storage: `planes` coordinate planes of `shape`, stored back to back.
///
/// Dropped storage goes back to [`crate::pool`] for the next tensor of the same length.
#[derive(Clone, PartialEq)]
pub struct Planes<T: Float> {
    shape: Vec<usize>,
    planes: usize,
    data: Vec<T>,
}

impl<T: Float> Drop for Planes<T> {
    fn drop(&mut self) {
        pool::give(std::mem::take(&mut self.data));
    }
}

impl<T: Float> std::fmt::Debug for Planes<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print values: for ciphertexts they are all an attacker needs.
        write!(f, "Planes {{ shape: {:?}, planes: {} }}", self.shape, self.planes)
    }
}

/// Number of elements of a shape.
pub(crate) fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Geometry of a 2-D sliding window over an `[N, H, W, C]` (NHWC) tensor, no padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Window2d {
    /// Batch size.
    pub n: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Step between windows (same in both directions).
    pub stride: usize,
}

impl Window2d {
    /// Output height.
    pub fn oh(&self) -> usize {
        (self.h - self.kh) / self.stride + 1
    }
    /// Output width.
    pub fn ow(&self) -> usize {
        (self.w - self.kw) / self.stride + 1
    }
    /// Shape of the input this geometry expects.
    pub fn input_shape(&self) -> [usize; 4] {
        [self.n, self.h, self.w, self.c]
    }
    /// `[N * OH * OW, KH * KW * C]`: the im2col matrix.
    pub fn cols_shape(&self) -> [usize; 2] {
        [self.n * self.oh() * self.ow(), self.kh * self.kw * self.c]
    }
    /// `[N, OH, OW, C]`: one window slot of every window.
    pub fn slot_shape(&self) -> [usize; 4] {
        [self.n, self.oh(), self.ow(), self.c]
    }
    /// Checks the geometry is non-empty and fits the input.
    pub fn validate(&self) -> Result<()> {
        if self.kh == 0 || self.kw == 0 || self.stride == 0 || self.kh > self.h || self.kw > self.w {
            return Err(Error::ShapeMismatch {
                op: "window2d",
                lhs: vec![self.h, self.w],
                rhs: vec![self.kh, self.kw, self.stride],
            });
        }
        Ok(())
    }
}

impl<T: Float> Planes<T> {
    /// Wraps `data` (plane after plane) with a shape.
    pub(crate) fn from_vec(shape: &[usize], planes: usize, data: Vec<T>) -> Result<Self> {
        let expected = numel(shape) * planes;
        if data.len() != expected {
            return Err(Error::BadLength { op: "tensor", shape: shape.to_vec(), expected, got: data.len() });
        }
        Ok(Self { shape: shape.to_vec(), planes, data })
    }

    /// All-zero storage.
    pub(crate) fn zeros(shape: &[usize], planes: usize) -> Self {
        let mut data = pool::take(numel(shape) * planes);
        data.fill(T::zero());
        Self { shape: shape.to_vec(), planes, data }
    }

    /// Storage with unspecified contents (a recycled buffer), for a result whose every element
    /// the caller writes: no allocation and no zeroing pass in the steady state.
    pub(crate) fn for_overwrite(shape: &[usize], planes: usize) -> Self {
        Self { shape: shape.to_vec(), planes, data: pool::take(numel(shape) * planes) }
    }

    /// The logical shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of logical elements (per plane).
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// Number of coordinate planes.
    pub fn n_planes(&self) -> usize {
        self.planes
    }

    pub(crate) fn plane(&self, k: usize) -> &[T] {
        let n = self.numel();
        &self.data[k * n..(k + 1) * n]
    }

    pub(crate) fn plane_mut(&mut self, k: usize) -> &mut [T] {
        let n = self.numel();
        &mut self.data[k * n..(k + 1) * n]
    }

    pub(crate) fn planes_mut2(&mut self) -> (&mut [T], &mut [T]) {
        let n = self.numel();
        let (a, b) = self.data.split_at_mut(n);
        (a, &mut b[..n])
    }

    pub(crate) fn raw(&self) -> &[T] {
        &self.data
    }

    pub(crate) fn raw_mut(&mut self) -> &mut [T] {
        &mut self.data
    }

    pub(crate) fn into_raw(mut self) -> Vec<T> {
        std::mem::take(&mut self.data)
    }

    /// The same values in another scalar type (exact when widening).
    pub(crate) fn cast<U: Float>(&self) -> Planes<U> {
        Planes {
            shape: self.shape.clone(),
            planes: self.planes,
            data: self.data.iter().map(|v| U::of(v.f64())).collect(),
        }
    }

    /// Same data, new shape with the same number of elements.
    pub fn reshape(mut self, shape: &[usize]) -> Result<Self> {
        if numel(shape) != self.numel() {
            return Err(Error::ShapeMismatch {
                op: "reshape",
                lhs: std::mem::take(&mut self.shape),
                rhs: shape.to_vec(),
            });
        }
        self.shape = shape.to_vec();
        Ok(self)
    }

    fn same_shape(&self, other: &Self, op: &'static str) {
        assert!(
            self.shape == other.shape && self.planes == other.planes,
            "{op}: shape mismatch {:?} vs {:?}",
            self.shape,
            other.shape
        );
    }

    /// Fills `out` plane by plane with `f(src_plane, dst_plane)` (`out` from [`Planes::zeros`]
    /// when `f` accumulates, from [`Planes::for_overwrite`] when it writes every element).
    fn per_plane(&self, mut out: Self, f: impl Fn(&[T], &mut [T])) -> Self {
        for k in 0..self.planes {
            f(self.plane(k), out.plane_mut(k));
        }
        out
    }

    /// Elementwise `self + other`.
    ///
    /// # Panics
    /// If the shapes differ (a programming error: shapes of user data are checked at load).
    pub fn add(&self, other: &Self) -> Self {
        self.same_shape(other, "add");
        self.with_data(kernels::zip_collect(&self.data, &other.data, |a, b| a + b))
    }

    /// Elementwise `self - other`.
    ///
    /// # Panics
    /// If the shapes differ.
    pub fn sub(&self, other: &Self) -> Self {
        self.same_shape(other, "sub");
        self.with_data(kernels::zip_collect(&self.data, &other.data, |a, b| a - b))
    }

    /// `self = alpha * x + beta * self` (the SGD / momentum update).
    ///
    /// # Panics
    /// If the shapes differ.
    pub fn axpby(&mut self, alpha: T, x: &Self, beta: T) {
        self.same_shape(x, "axpby");
        kernels::update(&mut self.data, &x.data, |s, v| alpha * v + beta * s);
    }

    /// One SGD-with-momentum step in one pass over the three tensors:
    /// `v = g + momentum * v; self = neg_lr * v + self` (the same roundings as two
    /// [`Planes::axpby`] passes). Returns whether every updated value is finite (checked on
    /// each chunk while it is in cache, instead of another pass).
    ///
    /// # Panics
    /// If the shapes differ.
    pub fn momentum_step(&mut self, v: &mut Self, g: &Self, neg_lr: T, momentum: T) -> bool {
        self.same_shape(v, "momentum_step");
        self.same_shape(g, "momentum_step");
        let non_finite = std::sync::atomic::AtomicBool::new(false);
        kernels::for_chunks2(&mut self.data, &mut v.data, |w, v, off| {
            for ((w, v), &g) in w.iter_mut().zip(v.iter_mut()).zip(&g.data[off..]) {
                *v = g + momentum * *v;
                *w = neg_lr * *v + *w;
            }
            if !kernels::all_finite(w) {
                non_finite.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
        !non_finite.into_inner()
    }

    /// Whether every coordinate is finite (one vectorised parallel pass).
    pub fn all_finite(&self) -> bool {
        if self.data.len() < kernels::PAR_MIN {
            kernels::all_finite(&self.data)
        } else {
            self.data.par_chunks(kernels::CHUNK).all(kernels::all_finite)
        }
    }

    /// `c * self` for a public constant `c`.
    pub fn scale(&self, c: T) -> Self {
        self.with_data(kernels::map_collect(&self.data, |v| v * c))
    }

    /// Same shape and plane count, new data (same length).
    pub(crate) fn with_data(&self, data: Vec<T>) -> Self {
        debug_assert_eq!(data.len(), self.data.len());
        Self { shape: self.shape.clone(), planes: self.planes, data }
    }

    /// Adds `row` (shape `[k]`) to every row of `self` (shape `[.., k]`).
    ///
    /// # Panics
    /// If the last dimension of `self` is not the length of `row`.
    pub fn add_row(&mut self, row: &Self) {
        let k = row.numel();
        assert!(
            self.shape.last() == Some(&k) && row.planes == self.planes,
            "add_row: {:?} vs {:?}",
            self.shape,
            row.shape
        );
        for p in 0..self.planes {
            let r = row.plane(p).to_vec();
            let dst = self.plane_mut(p);
            let go = |chunk: &mut [T]| {
                for out in chunk.chunks_exact_mut(k.max(1)) {
                    for (v, &b) in out.iter_mut().zip(&r) {
                        *v += b;
                    }
                }
            };
            if dst.len() < kernels::PAR_MIN {
                go(dst);
            } else {
                let rows_per_task = (kernels::CHUNK / k).max(1);
                dst.par_chunks_mut(rows_per_task * k).for_each(go);
            }
        }
    }

    /// Sums over every axis but the last: `[.., k] -> [k]`. Long inputs are summed in blocks
    /// of a fixed number of rows in parallel, then the block sums in order (the same result
    /// for any number of threads).
    pub fn sum_rows(&self) -> Self {
        let k = *self.shape.last().unwrap_or(&1);
        let block = (kernels::CHUNK / k.max(1)).max(1) * k.max(1);
        let sum_into = |dst: &mut [T], src: &[T]| {
            for row in src.chunks_exact(k.max(1)) {
                for (d, &v) in dst.iter_mut().zip(row) {
                    *d += v;
                }
            }
        };
        self.per_plane(Self::zeros(&[k], self.planes), |src, dst| {
            if src.len() < kernels::PAR_MIN {
                sum_into(dst, src);
                return;
            }
            let partial: Vec<Vec<T>> = src
                .par_chunks(block)
                .map(|b| {
                    let mut s = vec![T::zero(); k];
                    sum_into(&mut s, b);
                    s
                })
                .collect();
            for s in &partial {
                for (d, &v) in dst.iter_mut().zip(s) {
                    *d += v;
                }
            }
        })
    }

    /// Sums over the last axis: `[n, k] -> [n]`.
    /// (Starts from zeros: a last axis of length 0 writes nothing.)
    pub fn sum_last(&self) -> Self {
        let k = *self.shape.last().unwrap_or(&1);
        let lead = &self.shape[..self.shape.len().saturating_sub(1)];
        self.per_plane(Self::zeros(lead, self.planes), |src, dst| {
            for (d, row) in dst.iter_mut().zip(src.chunks_exact(k.max(1))) {
                *d = row.iter().copied().sum();
            }
        })
    }

    /// Repeats a `[n]` column `k` times: `[n] -> [n, k]`.
    pub fn broadcast_last(&self, k: usize) -> Self {
        let mut shape = self.shape.clone();
        shape.push(k);
        self.per_plane(Self::for_overwrite(&shape, self.planes), |src, dst| {
            for (row, &v) in dst.chunks_exact_mut(k.max(1)).zip(src) {
                row.fill(v);
            }
        })
    }

    /// Stacks tensors along axis 0 (all other axes must agree).
    ///
    /// # Panics
    /// If `parts` is empty or the trailing shapes differ.
    pub fn concat_rows(parts: &[&Self]) -> Self {
        let first = parts.first().expect("concat_rows needs at least one part");
        let tail = &first.shape[1..];
        let rows: usize = parts.iter().map(|p| p.shape[0]).sum();
        let mut shape = first.shape.clone();
        shape[0] = rows;
        let mut out = Self::for_overwrite(&shape, first.planes);
        for k in 0..first.planes {
            let mut off = 0;
            let dst = out.plane_mut(k);
            for p in parts {
                assert!(&p.shape[1..] == tail && p.planes == first.planes, "concat_rows: shapes differ");
                let src = p.plane(k);
                dst[off..off + src.len()].copy_from_slice(src);
                off += src.len();
            }
        }
        out
    }

    /// Transpose of a 2-D tensor.
    pub fn transpose2(&self) -> Self {
        assert_eq!(self.shape.len(), 2, "transpose2 needs a matrix");
        let (r, c) = (self.shape[0], self.shape[1]);
        self.per_plane(Self::for_overwrite(&[c, r], self.planes), |src, dst| {
            const B: usize = 32;
            for i0 in (0..r).step_by(B) {
                for j0 in (0..c).step_by(B) {
                    for i in i0..(i0 + B).min(r) {
                        for j in j0..(j0 + B).min(c) {
                            dst[j * r + i] = src[i * c + j];
                        }
                    }
                }
            }
        })
    }

    /// Selects entries along axis 0: `out[i] = self[idx[i]]`.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn gather_rows(&self, idx: &[usize]) -> Self {
        let rows = self.shape.first().copied().unwrap_or(0);
        let row_len = self.numel().checked_div(rows).unwrap_or(0);
        let mut shape = self.shape.clone();
        shape[0] = idx.len();
        if let Some(i) = idx.iter().find(|&&i| i >= rows) {
            panic!("gather_rows: index {i} out of range {rows}");
        }
        let mut out = Self::for_overwrite(&shape, self.planes);
        if row_len == 0 {
            return out;
        }
        // Output row r is row idx[r % n] of plane r / n. Rows picked at random from a large
        // data set are cache misses, so a mini-batch is gathered by both cores.
        let (n, plane_len, src) = (idx.len(), self.numel(), &self.data);
        let copy = |r: usize, dst: &mut [T]| {
            let start = (r / n) * plane_len + idx[r % n] * row_len;
            dst.copy_from_slice(&src[start..start + row_len]);
        };
        if out.data.len() < kernels::PAR_MIN {
            out.data.chunks_exact_mut(row_len).enumerate().for_each(|(r, d)| copy(r, d));
        } else {
            let rows_per_task = (kernels::CHUNK / row_len).max(1);
            out.data
                .par_chunks_exact_mut(row_len)
                .with_min_len(rows_per_task)
                .enumerate()
                .for_each(|(r, d)| copy(r, d));
        }
        out
    }

    /// im2col: `[N, H, W, C] -> [N*OH*OW, KH*KW*C]`, one row per output pixel (every element
    /// written, so the storage is a recycled buffer in the steady state).
    pub fn im2col(&self, g: &Window2d) -> Self {
        assert_eq!(self.shape, g.input_shape(), "im2col: input shape");
        let mut out = Self::for_overwrite(&g.cols_shape(), self.planes);
        let (oh, ow) = (g.oh(), g.ow());
        let row_len = g.kh * g.kw * g.c;
        let seg = g.kw * g.c; // contiguous run in the input for one kernel row
        let rows_per_plane = g.n * oh;
        let in_plane = self.numel();
        // One parallel loop over the output rows of every plane, a few thousand values per task.
        let tasks_min = (kernels::CHUNK / (row_len * ow)).max(1);
        out.data.par_chunks_mut(row_len * ow).with_min_len(tasks_min).enumerate().for_each(|(pr, rows)| {
            let (p, nr) = (pr / rows_per_plane, pr % rows_per_plane);
            let src = &self.data[p * in_plane..(p + 1) * in_plane];
            let (n, oy) = (nr / oh, nr % oh);
            for (ox, row) in rows.chunks_exact_mut(row_len).enumerate() {
                for (ky, dst) in row.chunks_exact_mut(seg).enumerate() {
                    let y = oy * g.stride + ky;
                    let start = ((n * g.h + y) * g.w + ox * g.stride) * g.c;
                    // A plain loop: runs are short (5 values for a 5x5 single-channel
                    // kernel), where a memcpy call costs more than the copy.
                    for (d, &v) in dst.iter_mut().zip(&src[start..start + seg]) {
                        *d = v;
                    }
                }
            }
        });
        out
    }

    /// The adjoint of [`Planes::im2col`]: scatter-adds rows back into `[N, H, W, C]`.
    pub fn col2im(&self, g: &Window2d) -> Self {
        assert_eq!(self.shape, g.cols_shape(), "col2im: input shape");
        let (oh, ow) = (g.oh(), g.ow());
        let row_len = g.kh * g.kw * g.c;
        let seg = g.kw * g.c;
        let image = g.h * g.w * g.c;
        self.per_plane(Self::for_overwrite(&g.input_shape(), self.planes), |src, dst| {
            // One image per task: images never overlap, so no synchronisation is needed; each
            // task zeroes its image just before scattering into it.
            dst.par_chunks_mut(image).enumerate().for_each(|(n, img)| {
                img.fill(T::zero());
                for oy in 0..oh {
                    for ox in 0..ow {
                        let row = &src[((n * oh + oy) * ow + ox) * row_len..][..row_len];
                        for ky in 0..g.kh {
                            let y = oy * g.stride + ky;
                            let start = (y * g.w + ox * g.stride) * g.c;
                            for (d, &v) in img[start..start + seg].iter_mut().zip(&row[ky * seg..(ky + 1) * seg]) {
                                *d += v;
                            }
                        }
                    }
                }
            });
        })
    }

    /// Slot `(dy, dx)` of every window: `[N, H, W, C] -> [N, OH, OW, C]`.
    pub fn window_slot(&self, g: &Window2d, dy: usize, dx: usize) -> Self {
        assert_eq!(self.shape, g.input_shape(), "window_slot: input shape");
        let (oh, ow, c) = (g.oh(), g.ow(), g.c);
        self.per_plane(Self::for_overwrite(&g.slot_shape(), self.planes), |src, dst| {
            for (nr, out_row) in dst.chunks_exact_mut(ow * c).enumerate() {
                let (n, oy) = (nr / oh, nr % oh);
                let y = oy * g.stride + dy;
                for ox in 0..ow {
                    let x = ox * g.stride + dx;
                    let s = ((n * g.h + y) * g.w + x) * c;
                    out_row[ox * c..(ox + 1) * c].copy_from_slice(&src[s..s + c]);
                }
            }
        })
    }

    /// `scale *` the sum of every window, slots summed in row-major order:
    /// `[N, H, W, C] -> [N, OH, OW, C]` (average pooling with `scale = 1 / (KH KW)`), one pass.
    pub fn window_mean(&self, g: &Window2d, scale: T) -> Self {
        assert_eq!(self.shape, g.input_shape(), "window_mean: input shape");
        let (oh, ow, c) = (g.oh(), g.ow(), g.c);
        self.per_plane(Self::for_overwrite(&g.slot_shape(), self.planes), |src, dst| {
            let go = |(nr, out_row): (usize, &mut [T])| {
                let (n, oy) = (nr / oh, nr % oh);
                for ox in 0..ow {
                    let out = &mut out_row[ox * c..(ox + 1) * c];
                    for slot in 0..g.kh * g.kw {
                        let (y, x) = (oy * g.stride + slot / g.kw, ox * g.stride + slot % g.kw);
                        let s = &src[((n * g.h + y) * g.w + x) * c..][..c];
                        if slot == 0 {
                            out.copy_from_slice(s);
                        } else {
                            for (o, &v) in out.iter_mut().zip(s) {
                                *o += v;
                            }
                        }
                    }
                    for o in out.iter_mut() {
                        *o *= scale;
                    }
                }
            };
            if dst.len() < kernels::PAR_MIN {
                dst.chunks_exact_mut(ow * c).enumerate().for_each(go);
            } else {
                dst.par_chunks_exact_mut(ow * c).enumerate().for_each(go);
            }
        })
    }

    /// The adjoint of [`Planes::window_mean`]: `[N, OH, OW, C] -> [N, H, W, C]`, every
    /// window slot receiving `scale * self` (accumulated where windows overlap), one pass.
    /// Each task zeroes its own image just before scattering into it (cache-hot, in parallel)
    /// instead of a separate zeroing pass over the whole result.
    pub fn window_mean_adjoint(&self, g: &Window2d, scale: T) -> Self {
        assert_eq!(self.shape, g.slot_shape(), "window_mean_adjoint: slot shape");
        let (oh, ow, c) = (g.oh(), g.ow(), g.c);
        let image = g.h * g.w * c;
        self.per_plane(Self::for_overwrite(&g.input_shape(), self.planes), |src, dst| {
            // One image per task: windows never reach into another image.
            let go = |(n, img): (usize, &mut [T])| {
                img.fill(T::zero());
                for oy in 0..oh {
                    for ox in 0..ow {
                        let gin = &src[((n * oh + oy) * ow + ox) * c..][..c];
                        for slot in 0..g.kh * g.kw {
                            let (y, x) = (oy * g.stride + slot / g.kw, ox * g.stride + slot % g.kw);
                            for (d, &v) in img[(y * g.w + x) * c..][..c].iter_mut().zip(gin) {
                                *d += v * scale;
                            }
                        }
                    }
                }
            };
            if dst.len() < kernels::PAR_MIN {
                dst.chunks_exact_mut(image).enumerate().for_each(go);
            } else {
                dst.par_chunks_exact_mut(image).enumerate().for_each(go);
            }
        })
    }

    /// The adjoint of [`Planes::window_slot`]: adds `self` (`[N, OH, OW, C]`) into the
    /// positions of slot `(dy, dx)` of `acc` (`[N, H, W, C]`).
    pub fn add_to_window_slot(&self, acc: &mut Self, g: &Window2d, dy: usize, dx: usize) {
        assert_eq!(self.shape, g.slot_shape(), "add_to_window_slot: slot shape");
        assert_eq!(acc.shape, g.input_shape(), "add_to_window_slot: input shape");
        let (oh, ow, c) = (g.oh(), g.ow(), g.c);
        for p in 0..self.planes {
            let src = self.plane(p);
            let dst = acc.plane_mut(p);
            for (nr, in_row) in src.chunks_exact(ow * c).enumerate() {
                let (n, oy) = (nr / oh, nr % oh);
                let y = oy * g.stride + dy;
                for ox in 0..ow {
                    let x = ox * g.stride + dx;
                    let s = ((n * g.h + y) * g.w + x) * c;
                    for (d, &v) in dst[s..s + c].iter_mut().zip(&in_row[ox * c..(ox + 1) * c]) {
                        *d += v;
                    }
                }
            }
        }
    }
}
