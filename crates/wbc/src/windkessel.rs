//! A three-element (RCR) windkessel driven by a prescribed periodic inflow: the open-loop
//! circuit used to cross-check the integrator against svZeroDSolver (`scripts/svzerod/`).
//!
//! Equations (the same as svZeroDSolver's `RCR` boundary condition):
//! `C dPc/dt = Q(t) - (Pc - Pd) / Rd`, inlet pressure `P = Pc + Rp Q(t)`. The inflow is linearly
//! interpolated between its samples and repeats with the period of its last time point.

use serde::{Deserialize, Serialize};

use crate::WbcError;

/// The RCR circuit (mmHg, mL, s).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rcr {
    /// Proximal resistance (mmHg·s/mL).
    pub rp: f64,
    /// Compliance (mL/mmHg).
    pub c: f64,
    /// Distal resistance (mmHg·s/mL).
    pub rd: f64,
    /// Distal pressure (mmHg).
    pub pd: f64,
}

impl Default for Rcr {
    /// An aorta-like load: Zc 0.04, C 1.8, R 1.0, Pd 0.
    fn default() -> Self {
        Rcr { rp: 0.04, c: 1.8, rd: 1.0, pd: 0.0 }
    }
}

/// A periodic inflow waveform given by samples; `t[0] = 0`, the period is the last time.
#[derive(Clone, Debug, PartialEq)]
pub struct Inflow {
    t: Vec<f64>,
    q: Vec<f64>,
}

impl Inflow {
    /// Checks the samples: at least two, same length, finite, strictly increasing from 0.
    ///
    /// # Errors
    /// [`WbcError::InvalidSetting`] naming what is wrong.
    pub fn new(t: Vec<f64>, q: Vec<f64>) -> Result<Self, WbcError> {
        let bad = |why| Err(WbcError::InvalidSetting { name: "inflow", value: t.len() as f64, why });
        if t.len() < 2 || t.len() != q.len() {
            return bad("give at least two (t, q) samples with as many times as flows");
        }
        if t.iter().chain(&q).any(|x| !x.is_finite()) || t[0] != 0.0 || t.windows(2).any(|w| w[1] <= w[0]) {
            return bad("times must start at 0 and increase strictly; all values must be finite");
        }
        Ok(Inflow { t, q })
    }

    /// A half-sine ejection: `q_max sin(pi t / t_eject)` for `t < t_eject`, zero until `period`.
    pub fn half_sine(period: f64, t_eject: f64, q_max: f64, samples: usize) -> Self {
        let n = samples.max(2);
        let t: Vec<f64> = (0..n).map(|i| period * i as f64 / (n - 1) as f64).collect();
        let q = t
            .iter()
            .map(|&t| if t < t_eject { q_max * (std::f64::consts::PI * t / t_eject).sin() } else { 0.0 })
            .collect();
        Inflow { t, q }
    }

    /// The period (last sample time).
    pub fn period(&self) -> f64 {
        *self.t.last().expect("at least two samples")
    }

    /// The sample times.
    pub fn times(&self) -> &[f64] {
        &self.t
    }

    /// The sample flows.
    pub fn flows(&self) -> &[f64] {
        &self.q
    }

    /// Linearly interpolated flow at time `t` (wrapped into the period).
    pub fn at(&self, t: f64) -> f64 {
        let tau = t.rem_euclid(self.period());
        let i = self.t.partition_point(|&x| x <= tau).clamp(1, self.t.len() - 1);
        let (t0, t1, q0, q1) = (self.t[i - 1], self.t[i], self.q[i - 1], self.q[i]);
        q0 + (q1 - q0) * (tau - t0) / (t1 - t0)
    }
}

/// The last cycle of an RCR run, sampled at every step (and at the period).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RcrWaveform {
    /// Time within the cycle (s).
    pub time_s: Vec<f64>,
    /// Inflow (mL/s).
    pub flow: Vec<f64>,
    /// Inlet pressure `Pc + Rp Q` (mmHg).
    pub pressure: Vec<f64>,
}

/// Runs `cycles` cycles of RK4 with `steps` steps per cycle, starting from the mean pressure,
/// and returns the last cycle.
///
/// ```
/// use moreml_wbc::windkessel::{simulate_rcr, Inflow, Rcr};
/// let inflow = Inflow::half_sine(0.8, 0.3, 400.0, 801);
/// let w = simulate_rcr(&Rcr::default(), &inflow, 800, 20)?;
/// let max = w.pressure.iter().cloned().fold(f64::NAN, f64::max);
/// assert!(max > 80.0 && max < 200.0);
/// # Ok::<(), moreml_wbc::WbcError>(())
/// ```
///
/// # Errors
/// [`WbcError::InvalidSetting`] for non-positive or non-finite circuit values, zero steps or cycles.
pub fn simulate_rcr(rcr: &Rcr, inflow: &Inflow, steps: usize, cycles: usize) -> Result<RcrWaveform, WbcError> {
    for (name, v) in [("rp", rcr.rp), ("c", rcr.c), ("rd", rcr.rd)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(WbcError::InvalidSetting { name, value: v, why: "must be a positive finite number" });
        }
    }
    if !rcr.pd.is_finite() {
        return Err(WbcError::InvalidSetting { name: "pd", value: rcr.pd, why: "must be finite" });
    }
    if steps == 0 || cycles == 0 {
        return Err(WbcError::InvalidSetting {
            name: "steps/cycles",
            value: 0.0,
            why: "need at least one step and one cycle",
        });
    }
    let period = inflow.period();
    let h = period / steps as f64;
    let mean_q = (0..steps).map(|k| inflow.at(k as f64 * h)).sum::<f64>() / steps as f64;
    let mut pc = rcr.pd + mean_q * rcr.rd;
    let f = |t: f64, pc: f64| (inflow.at(t) - (pc - rcr.pd) / rcr.rd) / rcr.c;
    let mut out = RcrWaveform::default();
    for cycle in 0..cycles {
        let last = cycle + 1 == cycles;
        for k in 0..steps {
            let t = k as f64 * h;
            if last {
                out.time_s.push(t);
                out.flow.push(inflow.at(t));
                out.pressure.push(pc + rcr.rp * inflow.at(t));
            }
            let k1 = f(t, pc);
            let k2 = f(t + 0.5 * h, pc + 0.5 * h * k1);
            let k3 = f(t + 0.5 * h, pc + 0.5 * h * k2);
            let k4 = f(t + h, pc + h * k3);
            pc += h / 6.0 * (k1 + 2.0 * (k2 + k3) + k4);
        }
    }
    out.time_s.push(period);
    out.flow.push(inflow.at(period));
    out.pressure.push(pc + rcr.rp * inflow.at(period));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Constant inflow: the steady pressure is Pd + Q (Rp + Rd) exactly.
    #[test]
    fn steady_flow_gives_ohms_law() {
        let inflow = Inflow::new(vec![0.0, 1.0], vec![2.2, 2.2]).unwrap();
        let rcr = Rcr { rp: 1000.0, c: 1e-4, rd: 1000.0, pd: 0.0 };
        let w = simulate_rcr(&rcr, &inflow, 100, 3).unwrap();
        for p in &w.pressure {
            assert!((p - 4400.0).abs() < 1e-9, "{p}");
        }
    }

    /// Sine inflow `a + b sin(wt)`: compare with the analytic periodic solution of the linear ODE.
    #[test]
    fn sine_inflow_matches_analytic_solution() {
        use std::f64::consts::PI;
        let (a, b, w) = (2.2, 2.5, 2.0 * PI);
        let n = 2001;
        let t: Vec<f64> = (0..n).map(|i| i as f64 / (n - 1) as f64).collect();
        let q = t.iter().map(|&t| a + b * (w * t).sin()).collect();
        let rcr = Rcr { rp: 0.05, c: 1.5, rd: 1.0, pd: 5.0 };
        let wf = simulate_rcr(&rcr, &Inflow::new(t, q).unwrap(), 2000, 30).unwrap();
        // Pc = pd + a rd + b rd (sin wt - wτ cos wt) / (1 + (wτ)^2), τ = rd c.
        let tau = rcr.rd * rcr.c;
        for (i, (&t, &p)) in wf.time_s.iter().zip(&wf.pressure).enumerate().step_by(97) {
            let pc = rcr.pd
                + a * rcr.rd
                + b * rcr.rd * ((w * t).sin() - w * tau * (w * t).cos()) / (1.0 + (w * tau).powi(2));
            let exact = pc + rcr.rp * (a + b * (w * t).sin());
            assert!((p - exact).abs() < 2e-3, "sample {i}: {p} vs {exact}");
        }
    }

    #[test]
    fn bad_inflow_is_an_error() {
        assert!(Inflow::new(vec![0.0], vec![1.0]).is_err());
        assert!(Inflow::new(vec![0.0, 0.0], vec![1.0, 1.0]).is_err());
        assert!(Inflow::new(vec![0.0, 1.0], vec![1.0, f64::NAN]).is_err());
        let inflow = Inflow::half_sine(1.0, 0.3, 1.0, 10);
        assert!(simulate_rcr(&Rcr { c: -1.0, ..Rcr::default() }, &inflow, 10, 1).is_err());
    }
}
