//! The secret key, encryption and decryption.

use crate::sampler::RSampler;
use crate::{KeyParams, RDistribution};
use moreml_cipher::format::{self, CipherFile, PlainFile};
use moreml_cipher::{Domain, Float, KeyTag, PlainTensor, PublicBasis, WireCiphertext};
use rand::{CryptoRng, Rng, RngCore, SeedableRng};
use rand_chacha::{ChaCha12Rng, ChaCha20Rng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

use crate::{Error, Result};

/// Values per independent random stream when encrypting in parallel.
const STREAM_CHUNK: usize = 1 << 14;
/// `format` entry of key files.
const KEY_FORMAT: &str = "moreml-secret-key";

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
        params.r.validate().map_err(Error::BadParams)?;
        params.r_targets.validate().map_err(Error::BadParams)?;
        if !(params.max_condition >= 1.5) || !params.max_condition.is_finite() {
            return Err(Error::BadParams(format!(
                "max_condition must be a finite number >= 1.5, got {}",
                params.max_condition
            )));
        }
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
        x.check_finite("plaintext")?;
        let values = x.values();
        let n = values.len();
        dist.validate().map_err(Error::BadParams)?;
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let sampler = RSampler::new(dist, x, seed);
        let (p, q) = (self.p, self.q);
        let mut out = vec![T::zero(); 4 * n];
        out.par_chunks_mut(4 * STREAM_CHUNK).enumerate().for_each(|(chunk, dst)| {
            let mut rng = ChaCha12Rng::from_seed(seed);
            rng.set_stream(chunk as u64);
            let start = chunk * STREAM_CHUNK;
            let mut r = vec![0.0; dst.len() / 4];
            sampler.fill(start, &mut r, &mut rng);
            for ((c, &m), &r) in dst.chunks_exact_mut(4).zip(&values[start..]).zip(&r) {
                let m = m.f64();
                for t in 0..4 {
                    c[t] = T::of(m * p[t] + r * q[t]);
                }
            }
        });
        Ok(WireCiphertext::from_vec(x.shape(), out)?)
    }

    /// `S^-1 C S` for one ciphertext.
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

    /// Decrypts, returning the values and the largest integrity residual, without judging it.
    pub fn decrypt_unchecked<T: Float>(&self, c: &WireCiphertext<T>) -> Decrypted<T> {
        let (values, slots) = self.unmask_all(c, 0);
        let max_residual = slots.into_iter().fold(0.0, f64::max);
        Decrypted { values: PlainTensor::from_vec(c.shape(), values).expect("one value per ciphertext"), max_residual }
    }

    /// Decrypts, checking integrity: NaN/inf ciphertexts and residuals above
    /// [`SecretKey::tolerance`] (corruption, or a ciphertext of another key) are errors.
    pub fn decrypt<T: Float>(&self, c: &WireCiphertext<T>) -> Result<Decrypted<T>> {
        if let Some(index) = c.raw().iter().position(|v| !v.is_finite()) {
            return Err(Error::Cipher(moreml_cipher::Error::NonFinite {
                what: "ciphertext".into(),
                index: index / 4,
                value: c.raw()[index].f64(),
            }));
        }
        let out = self.decrypt_unchecked(c);
        let tol = self.tolerance::<T>();
        if !(out.max_residual <= tol) {
            return Err(Error::Integrity { residual: out.max_residual, tolerance: tol });
        }
        Ok(out)
    }

    /// The hidden values `r` (slot 1) of ciphertexts: only the key holder can read them.
    /// Used to monitor the shadow computation of encrypted training.
    pub fn hidden_values<T: Float>(&self, c: &WireCiphertext<T>) -> PlainTensor<T> {
        let (values, _) = self.unmask_all(c, 1);
        PlainTensor::from_vec(c.shape(), values).expect("one value per ciphertext")
    }

    /// Diagonal slot `slot` of `S^-1 C S` per ciphertext, and the relative residuals.
    fn unmask_all<T: Float>(&self, c: &WireCiphertext<T>, slot: usize) -> (Vec<T>, Vec<f64>) {
        c.raw()
            .par_chunks_exact(4)
            .map(|e| {
                let d = self.unmask([e[0].f64(), e[1].f64(), e[2].f64(), e[3].f64()]);
                let scale = (d[0].abs() + d[3].abs()).max(f64::MIN_POSITIVE);
                let off = d[1].abs().max(d[2].abs());
                (T::of(if slot == 0 { d[0] } else { d[3] }), off / scale)
            })
            .unzip()
    }

    /// Encrypts every tensor of a plaintext file, keeping names and free-form metadata.
    pub fn encrypt_file<T: Float>(&self, plain: &PlainFile<T>) -> Result<CipherFile<T>> {
        let tensors = plain
            .tensors
            .iter()
            .map(|(name, t)| self.encrypt(t).map(|c| (name.clone(), c)).map_err(|e| e.context(name)))
            .collect::<Result<_>>()?;
        Ok(CipherFile { key: self.tag.clone(), tensors, extra: plain.extra.clone() })
    }

    /// Decrypts every tensor of a ciphertext file made under this key; returns the plaintext
    /// file and the largest integrity residual seen.
    pub fn decrypt_file<T: Float>(&self, file: &CipherFile<T>) -> Result<(PlainFile<T>, f64)> {
        self.check_tag(&file.key)?;
        let mut worst = 0.0f64;
        let mut tensors = Vec::with_capacity(file.tensors.len());
        for (name, c) in &file.tensors {
            let d = self.decrypt(c).map_err(|e| e.context(name))?;
            worst = worst.max(d.max_residual);
            tensors.push((name.clone(), d.values));
        }
        Ok((PlainFile { tensors, extra: file.extra.clone() }, worst))
    }

    /// Errors with [`Error::WrongKey`] unless `tag` names this key.
    pub fn check_tag(&self, tag: &KeyTag) -> Result<()> {
        if tag.key_id != self.tag.key_id {
            return Err(Error::WrongKey { expected: self.tag.key_id.clone(), found: tag.key_id.clone() });
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

    /// Reads a key file, checking format, version and that the key id matches the matrix.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|source| Error::Cipher(moreml_cipher::Error::Io { path: path.to_path_buf(), source }))?;
        let bad = |detail: String| Error::BadKeyFile { path: path.to_path_buf(), detail };
        let f: KeyFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if f.format != KEY_FORMAT || f.version != 1 || f.scheme != format::SCHEME {
            return Err(bad(format!(
                "format {} v{} scheme {} is not {KEY_FORMAT} v1 {}",
                f.format,
                f.version,
                f.scheme,
                format::SCHEME
            )));
        }
        f.params.r.validate().map_err(bad)?;
        if !f.s.iter().all(|v| v.is_finite()) || condition(&f.s) > 1e6 || f.basis_sign.abs() != 1.0 {
            return Err(bad("the key matrix is not finite and well conditioned".into()));
        }
        let key = Self::from_parts(f.s, f.basis_sign, f.params)?;
        if key.tag.key_id != f.key_id {
            return Err(bad(format!(
                "key_id {} does not match the key matrix (expected {}); the file was edited or damaged",
                f.key_id, key.tag.key_id
            )));
        }
        Ok(key)
    }
}
