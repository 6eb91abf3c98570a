//! Attack D: the eigenvalues of one ciphertext are {m, r}; a prior picks m.

use crate::error::{AttackError, Result};
use crate::mat2::{eigenvalues, parse, CtScalar};
use crate::outcome::{Attack, AttackOutcome};
use crate::prior::Prior;
use rand::SeedableRng;

const OP: &str = "eigen";

/// Which of two eigenvalues is the plaintext, by the larger `p_m(l) / p_r(l)`; equivalently the
/// larger joint likelihood `p_m(l_i) p_r(l_other)`. Returns the index (0 or 1) and whether it was a
/// tie (then the one with the larger `p_m` alone, then index 0, is taken).
///
/// ```
/// use moreml_cryptanalysis::{choose_eigenvalue, UniformPrior};
/// let pm = UniformPrior::new(0.0, 1.0).unwrap();
/// let pr = UniformPrior::new(-10.0, 10.0).unwrap();
/// assert_eq!(choose_eigenvalue([5.0, 0.3], &pm, &pr), (1, false));
/// ```
pub fn choose_eigenvalue(l: [f64; 2], p_m: &dyn Prior, p_r: &dyn Prior) -> (usize, bool) {
    let (m0, m1, r0, r1) = (p_m.ln_pdf(l[0]), p_m.ln_pdf(l[1]), p_r.ln_pdf(l[0]), p_r.ln_pdf(l[1]));
    let j0 = m0 + r1;
    let j1 = m1 + r0;
    if j0 > j1 {
        (0, false)
    } else if j1 > j0 {
        (1, false)
    } else {
        (if m1 > m0 { 1 } else { 0 }, true)
    }
}

/// Attack D on every ciphertext: eigenvalues from trace and determinant (stable form, negative
/// discriminants from noise clamped), then [`choose_eigenvalue`] with the priors.
///
/// ```
/// use moreml_cryptanalysis::{eigen_attack, UniformPrior};
/// // S = [[2,1],[1,1]], Enc(0.25; r=3.0): data in [0,1], r in [2,4]
/// let out = eigen_attack(&[-2.5, 5.5, -2.75, 5.75], &UniformPrior::new(0.0, 1.0).unwrap(), &UniformPrior::new(2.0, 4.0).unwrap()).unwrap();
/// assert!((out.recovered[0] - 0.25).abs() < 1e-12);
/// ```
pub fn eigen_attack<T: CtScalar>(cts: &[T], p_m: &dyn Prior, p_r: &dyn Prior) -> Result<AttackOutcome> {
    let cts = parse(OP, cts)?;
    let (mut ties, mut clamped) = (0usize, 0usize);
    let rec = cts
        .iter()
        .map(|c| {
            let e = eigenvalues(c);
            clamped += e.clamped as usize;
            let (i, tie) = choose_eigenvalue(e.lambda, p_m, p_r);
            ties += tie as usize;
            e.lambda[i]
        })
        .collect();
    let mut out = AttackOutcome::new(Attack::Eigen, rec, 0);
    out.notes.push(format!("{ties} ties broken by p_m alone; {clamped} negative discriminants clamped"));
    Ok(out)
}

/// Predicted success rate of attack D: the fraction of `trials` Monte Carlo draws `m ~ p_m`,
/// `r ~ p_r` (seeded ChaCha8) for which [`choose_eigenvalue`] picks m (or m == r).
///
/// ```
/// use moreml_cryptanalysis::{predicted_eigen_success, UniformPrior};
/// let pm = UniformPrior::new(0.0, 1.0).unwrap();
/// let disjoint = predicted_eigen_success(&pm, &UniformPrior::new(2.0, 3.0).unwrap(), 1000, 7).unwrap();
/// assert_eq!(disjoint, 1.0);
/// ```
pub fn predicted_eigen_success(p_m: &dyn Prior, p_r: &dyn Prior, trials: usize, seed: u64) -> Result<f64> {
    if trials == 0 {
        return Err(AttackError::InvalidParameter {
            op: "predicted-eigen-success",
            reason: "trials must be > 0".into(),
        });
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut ok = 0usize;
    for _ in 0..trials {
        let m = p_m.sample(&mut rng);
        let r = p_r.sample(&mut rng);
        let l = if m >= r { [m, r] } else { [r, m] };
        let (i, _) = choose_eigenvalue(l, p_m, p_r);
        ok += (l[i] == m) as usize;
    }
    Ok(ok as f64 / trials as f64)
}
