//! The secret key, encryption and decryption.

use crate::sampler::{layout, PlainRecords, RSampler};
use crate::{KeyParams, RDistribution};
use moreml_cipher::format::{self, CipherFile, PlainFile, Role, Roles};
use moreml_cipher::mapped::MappedFile;
use moreml_cipher::{Domain, Float, KeyTag, PlainTensor, PublicBasis, WireCiphertext};
use rand::{CryptoRng, Rng, RngCore, SeedableRng};
use rand_chacha::{ChaCha12Rng, ChaCha20Rng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

use crate::{Error, Result};

/// Values per independent random stream when encrypting in parallel.
const STREAM_CHUNK: usize = 1 << 14;
/// `format` entry of key files.
const KEY_FORMAT: &str = format::SECRET_KEY_FORMAT;
/// Relative error bound above which a decrypted value counts as imprecise in [`Precision`].
pub const PRECISION_THRESHOLD: f64 = 1e-3;

/// A MORE secret key: an invertible real 2x2 matrix `S` (and what follows from it).
///
/// It stays with the data owner. Servers only ever see the [`KeyTag`] (key id and public
/// basis), which contains nothing secret. `Debug` output is redacted; the key is written only
/// by [`SecretKey::save`] (JSON, mode 0600).
///
/// ```
/// use moreml_more::{SecretKey, KeyParams};
/// use moreml_cipher::prelude::*;
/// let sk = SecretKey::generate(KeyParams::default()).unwrap();
/// let x = PlainTensor::<f64>::from_vec(&[3], vec![1.0, -2.0, 0.5]).unwrap();
/// let wire = sk.encrypt(&x).unwrap();                   // owner
/// let c = CipherTensor::from_wire(&wire, &sk.tag().basis, "x").unwrap();
/// let y = c.mul(&c).add_scalar(1.0).to_wire(&sk.tag().basis);   // server: x^2 + 1
/// let out = sk.decrypt(&y).unwrap();                    // owner
/// for (v, e) in out.values.values().iter().zip([2.0, 5.0, 1.25]) {
///     assert!((v - e).abs() < 1e-12);
/// }
/// assert!(format!("{sk:?}").contains("redacted"));
/// ```
#[derive(Clone)]
pub struct SecretKey {
    s: [f64; 4],
    s_inv: [f64; 4],
    /// Projector onto the message slot: P = S e0 e0^T S^-1.
    p: [f64; 4],
    /// Q = I - P.
    q: [f64; 4],
    /// Which of +-(2P - I) is published as the basis element.
    basis_sign: f64,
    params: KeyParams,
    tag: KeyTag,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey {{ key_id: {}, <redacted> }}", self.tag.key_id)
    }
}

/// A decrypted tensor and its integrity figure.
#[derive(Clone, Debug)]
pub struct Decrypted<T: Float> {
    /// The plaintext values.
    pub values: PlainTensor<T>,
    /// Largest relative off-diagonal residual of `S^-1 C S` (0 for exact ciphertexts).
    pub max_residual: f64,
}

/// How precise decrypted values are, from the hidden values r only the key holder knows.
///
/// Rounding errors of MORE scale with the ciphertext entries, i.e. with `|m| + |r|`, not with
/// `|m|`: a value much smaller than its r (f32 values 1e-6 with r ~ 1e3) decrypts with a
/// relative error far above its dtype's precision. The bound used per value is
/// `4 eps cond(S)^2 (|m| + |r|) / max(|m|, 1e-3 rms(m))` (measured errors stay below
/// `1.4 eps cond(S)^2 (|m| + |r|)`, see `tests/homomorphism.rs`); values far below the tensor's
/// typical size are judged against that size, so zeros in data of size ~1 are not flagged.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Precision {
    /// Values examined.
    pub values: usize,
    /// Values whose relative error bound exceeds [`PRECISION_THRESHOLD`].
    pub imprecise: usize,
    /// Largest relative error bound seen (NaN-free: inputs are finite).
    pub worst_bound: f64,
}

impl Precision {
    /// Combines the figures of two tensors.
    pub fn merge(self, other: Precision) -> Precision {
        Precision {
            values: self.values + other.values,
            imprecise: self.imprecise + other.imprecise,
            worst_bound: self.worst_bound.max(other.worst_bound),
        }
    }
}

/// A decrypted file, its worst integrity residual and its precision figures.
#[derive(Clone, Debug)]
pub struct FileDecryption<T: Float> {
    /// The plaintext tensors and header entries (roles carried over).
    pub plain: PlainFile<T>,
    /// Largest integrity residual seen.
    pub max_residual: f64,
    /// Precision over all tensors.
    pub precision: Precision,
    /// Precision per tensor, in file order.
    pub per_tensor: Vec<(String, Precision)>,
}

/// JSON layout of key files.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: String,
    version: u32,
    scheme: String,
    key_id: String,
    /// S, row-major.
    s: [f64; 4],
    basis_sign: f64,
    params: KeyParams,
}

fn det(m: &[f64; 4]) -> f64 {
    m[0] * m[3] - m[1] * m[2]
}

/// 2-norm condition number of a 2x2 matrix.
pub(crate) fn condition(m: &[f64; 4]) -> f64 {
    let f: f64 = m.iter().map(|v| v * v).sum();
    let d = det(m).abs();
    if d == 0.0 {
        return f64::INFINITY;
    }
    let s1sq = 0.5 * (f + (f * f - 4.0 * d * d).max(0.0).sqrt());
    s1sq / d
}

impl SecretKey {
    /// Draws a new key from the operating system's cryptographic RNG.
    pub fn generate(params: KeyParams) -> Result<Self> {
        Self::generate_with_rng(params, &mut ChaCha20Rng::from_os_rng())
    }

    /// Draws a new key from `rng` (use a seeded RNG only for tests and reproducible demos).
    pub fn generate_with_rng<R: CryptoRng + RngCore>(params: KeyParams, rng: &mut R) -> Result<Self> {
        params.validate().map_err(Error::BadParams)?;
        for _ in 0..10_000 {
            let s: [f64; 4] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
            if condition(&s) <= params.max_condition {
                let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
                return Self::from_parts(s, sign, params);
            }
        }
        Err(Error::BadParams("could not draw a key within the condition bound".into()))
    }

    fn from_parts(s: [f64; 4], basis_sign: f64, params: KeyParams) -> Result<Self> {
        let d = det(&s);
        let s_inv = [s[3] / d, -s[1] / d, -s[2] / d, s[0] / d];
        // P = (S e0)(e0^T S^-1): column 0 of S times row 0 of S^-1.
        let p = [s[0] * s_inv[0], s[0] * s_inv[1], s[2] * s_inv[0], s[2] * s_inv[1]];
        let q = [1.0 - p[0], -p[1], -p[2], 1.0 - p[3]];
        let r = [
            basis_sign * (2.0 * p[0] - 1.0),
            basis_sign * 2.0 * p[1],
            basis_sign * 2.0 * p[2],
            basis_sign * (2.0 * p[3] - 1.0),
        ];
        let basis = PublicBasis::new(r)?;
        let key_id = Self::fingerprint(&s, basis_sign);
        Ok(Self { s, s_inv, p, q, basis_sign, params, tag: KeyTag { key_id, basis } })
    }

    fn fingerprint(s: &[f64; 4], sign: f64) -> String {
        let mut h = Sha256::new();
        h.update(b"moreml-key-v1");
        for v in s.iter().chain([&sign]) {
            h.update(v.to_le_bytes());
        }
        h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The public part: key id and basis, as carried by every ciphertext file.
    pub fn tag(&self) -> &KeyTag {
        &self.tag
    }

    /// The key id (hex fingerprint).
    pub fn key_id(&self) -> &str {
        &self.tag.key_id
    }

    /// Parameters chosen at generation.
    pub fn params(&self) -> &KeyParams {
        &self.params
    }

    /// cond(S) in the 2-norm.
    pub fn condition(&self) -> f64 {
        condition(&self.s)
    }

    /// Encrypts every value with fresh randomness from the OS RNG.
    pub fn encrypt<T: Float>(&self, x: &PlainTensor<T>) -> Result<WireCiphertext<T>> {
        self.encrypt_with_rng(x, &mut ChaCha20Rng::from_os_rng())
    }

    /// Encrypts every value; `rng` seeds the per-chunk random streams (deterministic for a
    /// seeded `rng`, whatever the number of threads).
    ///
    /// Errors on NaN or infinite plaintexts: they would poison every computation silently.
    pub fn encrypt_with_rng<T: Float>(&self, x: &PlainTensor<T>, rng: &mut impl RngCore) -> Result<WireCiphertext<T>> {
        self.encrypt_as(x, self.params.r, rng)
    }

    /// Encrypts training targets (one-hot labels, probabilities) with the key's
    /// `r_targets` distribution, so the hidden side is a valid distribution too.
    pub fn encrypt_targets<T: Float>(&self, x: &PlainTensor<T>) -> Result<WireCiphertext<T>> {
        self.encrypt_as(x, self.params.r_targets, &mut ChaCha20Rng::from_os_rng())
    }

    /// Encrypts with an explicit r distribution (seeded by `rng`).
    pub fn encrypt_as<T: Float>(
        &self,
        x: &PlainTensor<T>,
        dist: RDistribution,
        rng: &mut impl RngCore,
    ) -> Result<WireCiphertext<T>> {
        let mut wire = Vec::new();
        // One chunk: the whole tensor is in memory already.
        let records = layout(Domain::shape(x)).0.max(1);
        self.encrypt_records(x, dist, rng, records, |chunk| {
            wire = std::mem::take(chunk);
            Ok(())
        })?;
        Ok(WireCiphertext::from_vec(Domain::shape(x), wire)?)
    }

    /// Encrypts `src` in chunks of `chunk_records` records, handing each chunk's ciphertexts
    /// (wire layout, 4 scalars per value) to `sink`; memory stays bounded by one chunk, so a
    /// mapped data set larger than memory can be encrypted into a streamed file.
    ///
    /// Errors on NaN or infinite plaintexts: they would poison every computation silently.
    pub fn encrypt_records<T: Float>(
        &self,
        src: &impl PlainRecords<T>,
        dist: RDistribution,
        rng: &mut impl RngCore,
        chunk_records: usize,
        mut sink: impl FnMut(&mut Vec<T>) -> Result<()>,
    ) -> Result<()> {
        dist.validate().map_err(Error::BadParams)?;
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let chunk_records = chunk_records.max(1);
        let sampler = RSampler::fit(dist, src, chunk_records, seed)?;
        let (records, row) = layout(src.shape());
        let (p, q) = (self.p, self.q);
        let mut out = Vec::new();
        for first in (0..records).step_by(chunk_records) {
            let count = chunk_records.min(records - first);
            let values = src.records(first, count)?;
            let start = first * row;
            if let Some(at) = values.iter().position(|v| !v.is_finite()) {
                return Err(moreml_cipher::Error::NonFinite {
                    what: "plaintext".into(),
                    index: start + at,
                    value: values[at].f64(),
                    hint: "remove or replace non-finite values in the input data",
                }
                .into());
            }
            let draws = sampler.chunk(src, first, count)?;
            out.resize(4 * values.len(), T::zero());
            out.par_chunks_mut(4 * STREAM_CHUNK).enumerate().for_each(|(k, dst)| {
                let mut rng = ChaCha12Rng::from_seed(seed);
                // Stream id = flat index of the task's first value: unique whatever the chunking
                // (record-level draws use ids from 2^48 on).
                rng.set_stream((start + k * STREAM_CHUNK) as u64);
                let offset = k * STREAM_CHUNK;
                let mut r = vec![0.0; dst.len() / 4];
                draws.fill(offset, &mut r, &mut rng);
                for ((c, &m), &r) in dst.chunks_exact_mut(4).zip(&values[offset..]).zip(&r) {
                    let m = m.f64();
                    for t in 0..4 {
                        c[t] = T::of(m * p[t] + r * q[t]);
                    }
                }
            });
            sink(&mut out)?;
        }
        Ok(())
    }

    /// `S^-1 C S` for one ciphertext (callers scale `c`, see `unmask_scaled`).
    fn unmask(&self, c: [f64; 4]) -> [f64; 4] {
        let (s, si) = (&self.s, &self.s_inv);
        // T = S^-1 C, then T S.
        let t = [
            si[0] * c[0] + si[1] * c[2],
            si[0] * c[1] + si[1] * c[3],
            si[2] * c[0] + si[3] * c[2],
            si[2] * c[1] + si[3] * c[3],
        ];
        [t[0] * s[0] + t[1] * s[2], t[0] * s[1] + t[1] * s[3], t[2] * s[0] + t[3] * s[2], t[2] * s[1] + t[3] * s[3]]
    }

    /// Largest relative residual accepted by [`SecretKey::decrypt`] for scalar `T`.
    pub fn tolerance<T: Float>(&self) -> f64 {
        1e4 * T::epsilon().f64() * self.condition()
    }

    /// Decrypts, returning the values and the largest integrity residual, without judging it
    /// (NaN if any ciphertext is non-finite; values too large for `T` become infinite).
    pub fn decrypt_unchecked<T: Float>(&self, c: &WireCiphertext<T>) -> Decrypted<T> {
        let (values, slots): (Vec<T>, Vec<f64>) = c
            .raw()
            .par_chunks_exact(4)
            .map(|e| {
                let u = self.unmask_scaled(e);
                (T::of(u.slot(0)), u.residual)
            })
            .unzip();
        let max_residual = nan_max(&slots);
        Decrypted { values: PlainTensor::from_vec(c.shape(), values).expect("one value per ciphertext"), max_residual }
    }

    /// Decrypts, checking integrity: NaN/inf ciphertexts, residuals above
    /// [`SecretKey::tolerance`] (corruption, or a ciphertext of another key) and values that do
    /// not fit in `T` are errors.
    pub fn decrypt<T: Float>(&self, c: &WireCiphertext<T>) -> Result<Decrypted<T>> {
        if let Some(index) = c.raw().iter().position(|v| !v.is_finite()) {
            return Err(Error::Cipher(moreml_cipher::Error::NonFinite {
                what: "ciphertext".into(),
                index: index / 4,
                value: c.raw()[index].f64(),
                hint: "the ciphertext file is damaged; re-create or re-copy it",
            }));
        }
        let out = self.decrypt_unchecked(c);
        let tol = self.tolerance::<T>();
        if out.max_residual.is_nan() || out.max_residual > tol {
            return Err(Error::Integrity { residual: out.max_residual, tolerance: tol });
        }
        if let Some(index) = out.values.values().iter().position(|v| !v.is_finite()) {
            return Err(Error::Overflow { index, dtype: T::NAME });
        }
        Ok(out)
    }

    /// The hidden values `r` (slot 1) of ciphertexts: only the key holder can read them.
    /// Used to monitor the shadow computation of encrypted training.
    pub fn hidden_values<T: Float>(&self, c: &WireCiphertext<T>) -> PlainTensor<T> {
        let values = c.raw().par_chunks_exact(4).map(|e| T::of(self.unmask_scaled(e).slot(1))).collect();
        PlainTensor::from_vec(c.shape(), values).expect("one value per ciphertext")
    }

    /// `S^-1 C S` of one ciphertext computed on `C` scaled by a power of two (exact), so no
    /// intermediate overflows even for entries near `f64::MAX`.
    fn unmask_scaled<T: Float>(&self, e: &[T]) -> Unmasked {
        let c = [e[0].f64(), e[1].f64(), e[2].f64(), e[3].f64()];
        let big = c.iter().fold(0.0f64, |a, v| if v.abs() > a { v.abs() } else { a });
        let exp = if big > 0.0 && big.is_finite() { (big.log2().floor() as i32).clamp(-1000, 1000) } else { 0 };
        let d = self.unmask(c.map(|v| v * 2f64.powi(-exp)));
        let scale = (d[0].abs() + d[3].abs()).max(f64::MIN_POSITIVE);
        let off = d[1].abs().max(d[2].abs());
        // A NaN entry makes `off` or `scale` NaN, and the residual NaN: never accepted.
        let residual = if d.iter().all(|v| v.is_finite()) { off / scale } else { f64::NAN };
        Unmasked { d, exp, residual }
    }

    /// Precision figures of decrypted `values` given their ciphertexts `c` (see [`Precision`]).
    pub fn precision<T: Float>(&self, c: &WireCiphertext<T>, values: &PlainTensor<T>) -> Precision {
        let n = values.values().len();
        if n == 0 {
            return Precision::default();
        }
        let rms = (values.values().iter().map(|v| v.f64() * v.f64()).sum::<f64>() / n as f64).sqrt();
        let floor = (PRECISION_THRESHOLD * rms).max(f64::MIN_POSITIVE);
        let k = 4.0 * T::epsilon().f64() * self.condition().powi(2);
        let (imprecise, worst_bound) = c
            .raw()
            .par_chunks_exact(4)
            .map(|e| {
                let u = self.unmask_scaled(e);
                let (m, r) = (u.slot(0), u.slot(1));
                let bound = k * (m.abs() + r.abs()) / m.abs().max(floor);
                (usize::from(bound.is_nan() || bound > PRECISION_THRESHOLD), bound)
            })
            .reduce(|| (0, 0.0), |a, b| (a.0 + b.0, if b.1 > a.1 || b.1.is_nan() { b.1 } else { a.1 }));
        Precision { values: n, imprecise, worst_bound }
    }

    /// Encrypts every tensor of a plaintext file, keeping names and free-form metadata.
    ///
    /// Tensors the `moreml.roles` entry ([`Roles`]) declares as targets are encrypted with the
    /// key's `r_targets` distribution (record-level r, see [`SecretKey::encrypt_targets`]),
    /// all others with `r`.
    pub fn encrypt_file<T: Float>(&self, plain: &PlainFile<T>) -> Result<CipherFile<T>> {
        let roles = Roles::from_extra(&plain.extra)?.unwrap_or_default();
        let mut rng = ChaCha20Rng::from_os_rng();
        let tensors = plain
            .tensors
            .iter()
            .map(|(name, t)| {
                self.encrypt_as(t, self.dist_for(&roles, name), &mut rng)
                    .map(|c| (name.clone(), c))
                    .map_err(|e| e.context(name))
            })
            .collect::<Result<_>>()?;
        Ok(CipherFile { key: self.tag.clone(), tensors, extra: plain.extra.clone() })
    }

    /// [`SecretKey::encrypt_file`] for a file of any size: reads `input` (memory-mapped)
    /// `chunk_records` records at a time and streams the ciphertexts into `output` (written
    /// atomically), so memory stays bounded by one chunk. `extra` is the output's free-form
    /// header (the input's, possibly with roles added); `progress` gets the number of values
    /// encrypted so far.
    pub fn encrypt_mapped<T: Float>(
        &self,
        input: &MappedFile,
        extra: &BTreeMap<String, String>,
        output: &Path,
        chunk_records: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<()> {
        let roles = Roles::from_extra(extra)?.unwrap_or_default();
        let tensors: Vec<(String, Vec<usize>)> = input.info().entries.into_iter().map(|e| (e.name, e.shape)).collect();
        let mut rng = ChaCha20Rng::from_os_rng();
        let mut done = 0;
        format::write_cipher_streamed::<T, Error>(output, &self.tag, extra, &tensors, |sink| {
            for (name, shape) in &tensors {
                let dist = self.dist_for(&roles, name);
                let mut sink_chunk = |wire: &mut Vec<T>| {
                    sink.push(wire)?;
                    done += wire.len() / 4;
                    progress(done);
                    Ok(())
                };
                let encrypted = if shape.is_empty() {
                    let x = input.plain_whole::<T>(name)?;
                    self.encrypt_records(&x, dist, &mut rng, chunk_records, &mut sink_chunk)
                } else {
                    let x = input.plain::<T>(name)?;
                    self.encrypt_records(&x, dist, &mut rng, chunk_records, &mut sink_chunk)
                };
                encrypted.map_err(|e| e.context(name))?;
            }
            Ok(())
        })
    }

    /// The r distribution for tensor `name`: `r_targets` for declared targets, `r` otherwise.
    fn dist_for(&self, roles: &Roles, name: &str) -> RDistribution {
        if roles.role(name) == Some(Role::Target) {
            self.params.r_targets
        } else {
            self.params.r
        }
    }

    /// Decrypts every tensor of a ciphertext file made under this key; returns the plaintext
    /// file and the largest integrity residual seen.
    pub fn decrypt_file<T: Float>(&self, file: &CipherFile<T>) -> Result<(PlainFile<T>, f64)> {
        let d = self.decrypt_file_report(file)?;
        Ok((d.plain, d.max_residual))
    }

    /// Like [`SecretKey::decrypt_file`], also measuring the precision of every tensor.
    pub fn decrypt_file_report<T: Float>(&self, file: &CipherFile<T>) -> Result<FileDecryption<T>> {
        self.check_tag(&file.key)?;
        let mut worst = 0.0f64;
        let mut tensors = Vec::with_capacity(file.tensors.len());
        let mut per_tensor = Vec::with_capacity(file.tensors.len());
        let mut precision = Precision::default();
        for (name, c) in &file.tensors {
            let d = self.decrypt(c).map_err(|e| e.context(name))?;
            worst = worst.max(d.max_residual);
            let p = self.precision(c, &d.values);
            precision = precision.merge(p);
            per_tensor.push((name.clone(), p));
            tensors.push((name.clone(), d.values));
        }
        Ok(FileDecryption {
            plain: PlainFile { tensors, extra: file.extra.clone() },
            max_residual: worst,
            precision,
            per_tensor,
        })
    }

    /// Errors with [`Error::WrongKey`] unless `tag` names this key, and with
    /// [`Error::BasisMismatch`] if it names this key but carries another public basis (an
    /// edited or damaged header).
    pub fn check_tag(&self, tag: &KeyTag) -> Result<()> {
        if tag.key_id != self.tag.key_id {
            return Err(Error::WrongKey { expected: self.tag.key_id.clone(), found: tag.key_id.clone() });
        }
        let (a, b) = (tag.basis.matrix(), self.tag.basis.matrix());
        if a.iter().zip(&b).any(|(x, y)| (x - y).is_nan() || (x - y).abs() > 1e-12 * (1.0 + y.abs())) {
            return Err(Error::BasisMismatch { key_id: self.tag.key_id.clone() });
        }
        Ok(())
    }

    /// Writes the key as JSON with permissions 0600, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let file = KeyFile {
            format: KEY_FORMAT.into(),
            version: 1,
            scheme: format::SCHEME.into(),
            key_id: self.tag.key_id.clone(),
            s: self.s,
            basis_sign: self.basis_sign,
            params: self.params,
        };
        let json = serde_json::to_vec_pretty(&file).expect("key serialises");
        format::write_atomic(path, &json, Some(0o600))?;
        Ok(())
    }

    /// Reads a key file, checking its permissions (unreadable by group and others, like ssh
    /// keys), format, version, parameters and that the key id matches the matrix.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = format::read_file(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|source| Error::Cipher(moreml_cipher::Error::Io { path: path.to_path_buf(), source }))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(Error::KeyPermissions { path: path.to_path_buf(), mode: mode & 0o777 });
            }
        }
        Self::from_json_bytes(&bytes, path)
    }

    /// Parses and checks the bytes of a key file (`path` appears in messages); no permission
    /// check (see [`SecretKey::load`]).
    pub fn from_json_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |detail: String| Error::BadKeyFile { path: path.to_path_buf(), detail };
        let f: KeyFile = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if f.format != KEY_FORMAT || f.version != 1 || f.scheme != format::SCHEME {
            return Err(bad(format!(
                "format {} v{} scheme {} is not {KEY_FORMAT} v1 {}",
                f.format,
                f.version,
                f.scheme,
                format::SCHEME
            )));
        }
        f.params.validate().map_err(bad)?;
        let (_, max_cond) = crate::CONDITION_RANGE;
        if !f.s.iter().all(|v| v.is_finite())
            || condition(&f.s).is_nan()
            || condition(&f.s) > max_cond
            || f.basis_sign.abs() != 1.0
        {
            return Err(bad("the key matrix is not finite and well conditioned".into()));
        }
        let key = Self::from_parts(f.s, f.basis_sign, f.params).map_err(|e| bad(e.to_string()))?;
        if key.tag.key_id != f.key_id {
            return Err(bad(format!(
                "key_id {} does not match the key matrix (expected {}); the file was edited or damaged",
                f.key_id, key.tag.key_id
            )));
        }
        Ok(key)
    }
}

/// `S^-1 (2^-exp C) S` of one ciphertext and its relative off-diagonal residual.
struct Unmasked {
    d: [f64; 4],
    exp: i32,
    residual: f64,
}

impl Unmasked {
    /// Diagonal entry `slot` (0: the message m, 1: the hidden r), scaled back.
    fn slot(&self, slot: usize) -> f64 {
        let v = if slot == 0 { self.d[0] } else { self.d[3] };
        // Two steps: 2^exp alone may overflow where the product does not.
        v * 2f64.powi(self.exp / 2) * 2f64.powi(self.exp - self.exp / 2)
    }
}

/// Largest value, NaN if any value is NaN (a NaN residual must never pass a check).
fn nan_max(xs: &[f64]) -> f64 {
    xs.iter().fold(0.0f64, |a, &b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) })
}
