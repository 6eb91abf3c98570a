//! Normalised chamber activation `e(t)` in [0, 1] over one beat, and the elastance table.
//!
//! Ventricles: a raised-cosine rise over the contraction time, then a raised-cosine fall over the
//! relaxation time, then rest (`e = 0`) for the rest of the beat. Atria: the same shape, starting
//! `t_av_delay` before the next ventricular onset (late diastole) and wrapping around the beat end.
//! All four durations scale with `sqrt(T / 1 s)` (Bazett-like), so systole does not stretch at
//! slow heart rates. Time `t = 0` is ventricular onset.

use crate::Params;

/// Activation timing of one patient at its heart rate (all times in s).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Activation {
    /// Beat period `T = 60 / heart_rate`.
    pub period: f64,
    /// Ventricular contraction time at this rate.
    pub v_contract: f64,
    /// Ventricular relaxation time at this rate.
    pub v_relax: f64,
    /// Atrial contraction time at this rate.
    pub a_contract: f64,
    /// Atrial relaxation time at this rate.
    pub a_relax: f64,
    /// Atrial onset time within the beat.
    pub a_onset: f64,
}

/// The raised-cosine twitch: rises over `up`, falls over `down`, zero elsewhere (`t >= 0`).
#[inline]
fn twitch(t: f64, up: f64, down: f64) -> f64 {
    use std::f64::consts::PI;
    if t < up {
        0.5 * (1.0 - (PI * t / up).cos())
    } else if t < up + down {
        0.5 * (1.0 + (PI * (t - up) / down).cos())
    } else {
        0.0
    }
}

impl Activation {
    /// The timing for `params` at beat period `period` (s).
    pub fn new(params: &Params, period: f64) -> Self {
        let s = period.sqrt();
        Activation {
            period,
            v_contract: params.t_v_contract * s,
            v_relax: params.t_v_relax * s,
            a_contract: params.t_a_contract * s,
            a_relax: params.t_a_relax * s,
            a_onset: period - params.t_av_delay * s,
        }
    }

    /// Ventricular activation at time `t` in [0, T].
    pub fn ventricle(&self, t: f64) -> f64 {
        twitch(t, self.v_contract, self.v_relax)
    }

    /// Atrial activation at time `t` in [0, T] (wraps around the beat end).
    pub fn atrium(&self, t: f64) -> f64 {
        let tau = (t - self.a_onset).rem_euclid(self.period);
        twitch(tau, self.a_contract, self.a_relax)
    }

    /// Elastances `[la, lv, ra, rv]` (mmHg/mL) at the `2n + 1` times `k T / (2n)`: the times an
    /// RK4 step of `T / n` evaluates. Computed once per patient, reused by every beat.
    pub fn elastance_table(&self, p: &Params, n: usize) -> Vec<[f64; 4]> {
        let dt = self.period / (2 * n) as f64;
        (0..=2 * n)
            .map(|k| {
                let t = k as f64 * dt;
                let (a, v) = (self.atrium(t), self.ventricle(t));
                [
                    p.la_emin + (p.la_emax - p.la_emin) * a,
                    p.lv_emin + (p.lv_emax - p.lv_emin) * v,
                    p.ra_emin + (p.ra_emax - p.ra_emin) * a,
                    p.rv_emin + (p.rv_emax - p.rv_emin) * v,
                ]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twitch_shape() {
        assert_eq!(twitch(0.0, 0.3, 0.15), 0.0);
        assert!((twitch(0.3, 0.3, 0.15) - 1.0).abs() < 1e-15);
        assert!((twitch(0.15, 0.3, 0.15) - 0.5).abs() < 1e-15);
        assert_eq!(twitch(0.5, 0.3, 0.15), 0.0);
    }

    #[test]
    fn atria_contract_late_in_diastole_and_timing_scales_with_sqrt_t() {
        let p = Params::default();
        let a = Activation::new(&p, 0.8);
        assert!((a.v_contract - 0.3 * 0.8f64.sqrt()).abs() < 1e-15);
        assert!(a.a_onset > a.v_contract + a.v_relax, "atria must start after ventricular relaxation");
        assert_eq!(a.atrium(a.a_onset - 0.01), 0.0);
        assert!(a.atrium(a.a_onset + a.a_contract) > 0.999);
        let table = a.elastance_table(&p, 400);
        assert_eq!(table.len(), 801);
        assert_eq!(table[0], table[800], "the table is periodic");
    }
}
