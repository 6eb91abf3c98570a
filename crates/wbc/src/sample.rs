//! Patient sampling (uniform or Latin hypercube) and parallel simulation into a table.
//!
//! This is what a surrogate experiment needs: [`ParamSpace::sample`] draws patients,
//! [`simulate_batch`] simulates them on every core and returns `(inputs, targets, names)` with
//! the non-settling samples dropped and counted.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{info, simulate_from, warm_start, Params, Settings, WbcError, OUTPUT_NAMES};

/// How to spread samples over the ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampler {
    /// Independent uniform draws per parameter.
    Uniform,
    /// Latin hypercube: each parameter's range is cut into `n` equal strata, each used once.
    Lhs,
}

impl Sampler {
    /// The name used on the command line and in file metadata.
    pub fn name(self) -> &'static str {
        match self {
            Sampler::Uniform => "uniform",
            Sampler::Lhs => "lhs",
        }
    }
}

/// Which parameters vary, over which ranges; the others keep the `base` patient's values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSpace {
    /// The patient every sample starts from.
    pub base: Params,
    /// `(parameter name, low, high)` per sampled parameter, in input-column order.
    pub ranges: Vec<(String, f64, f64)>,
}

/// The sampled parameters of the WBC surrogate data set and their ranges (the spec's).
pub const DEFAULT_RANGES: [(&str, f64, f64); 9] = [
    ("heart_rate", 50.0, 120.0),
    ("lv_emax", 1.0, 4.0),
    ("lv_emin", 0.03, 0.15),
    ("rv_emax", 0.3, 1.2),
    ("r_sys", 0.6, 1.8),
    ("c_sys_art", 0.8, 2.6),
    ("r_pul", 0.03, 0.30),
    ("r_aortic", 0.003, 0.10),
    ("stressed_volume", 900.0, 1700.0),
];

impl Default for ParamSpace {
    fn default() -> Self {
        ParamSpace {
            base: Params::default(),
            ranges: DEFAULT_RANGES.iter().map(|&(n, lo, hi)| (n.to_string(), lo, hi)).collect(),
        }
    }
}

impl ParamSpace {
    /// The sampled parameter names (input columns).
    pub fn names(&self) -> Vec<String> {
        self.ranges.iter().map(|r| r.0.clone()).collect()
    }

    /// Checks every name is a parameter and every range is finite, non-empty and accepted.
    ///
    /// # Errors
    /// [`WbcError::UnknownParameter`] or [`WbcError::Sampling`].
    pub fn validate(&self) -> Result<(), WbcError> {
        if self.ranges.is_empty() {
            return Err(WbcError::Sampling { reason: "no parameter to sample; give at least one range".into() });
        }
        for (name, lo, hi) in &self.ranges {
            let i = info(name).ok_or_else(|| WbcError::UnknownParameter { name: name.clone() })?;
            if !(lo.is_finite() && hi.is_finite() && lo <= hi && *lo >= i.accepted.0 && *hi <= i.accepted.1) {
                return Err(WbcError::Sampling {
                    reason: format!(
                        "range of `{name}` [{lo}, {hi}] must be finite, ordered and inside [{}, {}]",
                        i.accepted.0, i.accepted.1
                    ),
                });
            }
        }
        Ok(())
    }

    /// `n` patients drawn with `sampler` from `seed` (same arguments, same patients).
    ///
    /// ```
    /// use moreml_wbc::{ParamSpace, Sampler};
    /// let space = ParamSpace::default();
    /// let a = space.sample(8, 7, Sampler::Lhs)?;
    /// assert_eq!(a, space.sample(8, 7, Sampler::Lhs)?);
    /// assert!(a.iter().all(|p| (50.0..=120.0).contains(&p.heart_rate)));
    /// # Ok::<(), moreml_wbc::WbcError>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParamSpace::validate`].
    pub fn sample(&self, n: usize, seed: u64, sampler: Sampler) -> Result<Vec<Params>, WbcError> {
        self.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = self.ranges.len();
        // unit[i][j]: sample i, dimension j, in [0, 1).
        let mut unit = vec![vec![0.0; d]; n];
        match sampler {
            Sampler::Uniform => {
                for row in unit.iter_mut() {
                    for u in row.iter_mut() {
                        *u = rng.random::<f64>();
                    }
                }
            }
            Sampler::Lhs => {
                let mut strata: Vec<usize> = (0..n).collect();
                for j in 0..d {
                    strata.shuffle(&mut rng);
                    for (row, &s) in unit.iter_mut().zip(&strata) {
                        row[j] = (s as f64 + rng.random::<f64>()) / n as f64;
                    }
                }
            }
        }
        unit.iter()
            .map(|row| {
                let mut p = self.base.clone();
                for ((name, lo, hi), u) in self.ranges.iter().zip(row) {
                    p.set(name, lo + (hi - lo) * u)?;
                }
                Ok(p)
            })
            .collect()
    }
}

/// Simulated patients as a table: row-major inputs and targets plus column names.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// `[rows, input_names.len()]`, row-major: the sampled parameters of settled patients.
    pub inputs: Vec<f64>,
    /// `[rows, target_names.len()]`, row-major: their [`crate::Outputs`].
    pub targets: Vec<f64>,
    /// Input column names.
    pub input_names: Vec<String>,
    /// Target column names ([`OUTPUT_NAMES`]).
    pub target_names: Vec<String>,
    /// Samples that failed, by index into the sampled list, with why.
    pub failures: Vec<(usize, WbcError)>,
    /// Total beats simulated over the settled patients (for throughput accounting).
    pub beats: u64,
}

impl Batch {
    /// Number of settled patients (rows).
    pub fn rows(&self) -> usize {
        self.targets.len() / self.target_names.len()
    }
}

/// Simulates `patients` in parallel (rayon) and keeps the settled ones.
///
/// `progress` is called with a count of finished patients from worker threads (for a progress
/// bar). Each worker starts a patient from the previous patient's steady state it simulated,
/// rescaled to the new stressed volume, falling back to the default warm start on failure.
///
/// # Errors
/// [`WbcError::UnknownParameter`] if `input_names` names no parameter; a failing patient is not an
/// error: it lands in [`Batch::failures`].
pub fn simulate_batch(
    patients: &[Params],
    input_names: &[String],
    settings: &Settings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Batch, WbcError> {
    if let Some(bad) = input_names.iter().find(|n| info(n).is_none()) {
        return Err(WbcError::UnknownParameter { name: bad.clone() });
    }
    const CHUNK: usize = 64;
    let results: Vec<Result<(crate::Outputs, usize), WbcError>> = patients
        .par_chunks(CHUNK)
        .flat_map_iter(|chunk| {
            let mut results = Vec::with_capacity(chunk.len());
            let mut prev = None;
            for p in chunk {
                let start = prev.unwrap_or_else(|| warm_start(p));
                let r = p.validate().and_then(|_| simulate_from(p, settings, &start, false));
                prev = r.as_ref().ok().map(|s| s.end_state);
                results.push(r.map(|s| (s.outputs, s.beats)));
            }
            progress(chunk.len() as u64);
            results
        })
        .collect();
    let mut batch = Batch {
        inputs: Vec::with_capacity(patients.len() * input_names.len()),
        targets: Vec::with_capacity(patients.len() * OUTPUT_NAMES.len()),
        input_names: input_names.to_vec(),
        target_names: OUTPUT_NAMES.iter().map(|s| s.to_string()).collect(),
        failures: Vec::new(),
        beats: 0,
    };
    for (i, (p, r)) in patients.iter().zip(results).enumerate() {
        match r {
            Ok((o, beats)) => {
                batch.inputs.extend(input_names.iter().map(|n| p.get(n).expect("names checked above")));
                batch.targets.extend(o.to_array());
                batch.beats += beats as u64;
            }
            Err(e) => batch.failures.push((i, e)),
        }
    }
    Ok(batch)
}
