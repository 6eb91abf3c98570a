//! Noise injection, to test the claim that noise does not save MORE (Bauer-Fike).

use crate::error::{AttackError, Result};
use crate::mat2::{frob, parse, CtScalar};
use rand::{Rng, SeedableRng};

/// Add Gaussian noise of relative size `sigma` to each ciphertext: `C + E` with i.i.d. entries
/// `E_ik ~ N(0, (sigma * ||C||_F / 2)^2)`, so `E[||E||_F^2] = sigma^2 ||C||_F^2`. Seeded (ChaCha8).
///
/// ```
/// let c = [-0.25f64, 1.0, -0.5, 1.25];
/// let n = moreml_cryptanalysis::add_relative_noise(&c, 1e-3, 1).unwrap();
/// assert!(n.iter().zip(&c).all(|(a, b)| (a - b).abs() < 0.01));
/// ```
pub fn add_relative_noise<T: CtScalar>(cts: &[T], sigma: f64, seed: u64) -> Result<Vec<T>> {
    if !(sigma >= 0.0 && sigma.is_finite()) {
        return Err(AttackError::InvalidParameter {
            op: "add-noise",
            reason: format!("sigma must be finite and >= 0, got {sigma}"),
        });
    }
    let parsed = parse("add-noise", cts)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut gauss = move || {
        // Box-Muller
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    };
    let mut out = Vec::with_capacity(cts.len());
    for c in &parsed {
        let s = sigma * frob(c) / 2.0;
        for x in c {
            out.push(T::from_f64(x + s * gauss()));
        }
    }
    Ok(out)
}
