//! The closed-loop circulation: equations, fixed-step RK4 integration, steady-state detection.
//!
//! # Equations
//! State = the blood volumes of 8 compartments ([`COMPARTMENTS`]). Chambers follow
//! `P = E(t) (V - V0)`, `E(t) = Emin + (Emax - Emin) e(t)`; vessels `P = V / C` (their volume is
//! all stressed). Valves are diodes, `Q = max(ΔP, 0) / R`. The aortic valve flow passes the
//! characteristic impedance Zc before the arterial compliance, so with the compliance pressure
//! `Psa`, `Q_av = max(P_lv - Psa, 0) / (R_av + Zc)` and the proximal aortic pressure is
//! `P_ao = Psa + Zc Q_av` (the same for the pulmonary side). Every flow leaves one compartment and
//! enters the next, so the derivatives sum to zero and total volume is conserved by the
//! equations; [`simulate`] checks the drift.
//!
//! # Integration
//! Classic fixed-step RK4. Each beat of period `T` is cut into `N = ceil(T / max_step)` equal
//! steps, so every beat starts on a step. The chamber elastances are tabulated once per
//! patient at the `2N + 1` half-step times RK4 evaluates, so the activation curve costs nothing
//! inside the loop. Why not an ODE crate: `ode_solvers` (maintained, RK4/Dopri5) takes the
//! right-hand side as a function of continuous time and stores every step, which rules out
//! the per-beat table and the allocation-free loop that make thousands of patients per second
//! possible; the step halving test (`tests/validation.rs`) documents the accuracy instead.
//! The valves make the right-hand side non-smooth, so the global order drops below 4 near valve
//! events, but at `max_step = 2 ms` halving the step changes the outputs by well under 0.1%.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::{Params, WbcError};

/// Compartment names in state order.
pub const COMPARTMENTS: [&str; 8] = ["la", "lv", "sys_art", "sys_ven", "ra", "rv", "pul_art", "pul_ven"];
/// Number of state variables.
pub const NSTATE: usize = 8;
/// A state: the volume (mL) of every compartment, in [`COMPARTMENTS`] order.
pub type State = [f64; NSTATE];

const LA: usize = 0;
const LV: usize = 1;
const SA: usize = 2;
const SV: usize = 3;
const RA: usize = 4;
const RV: usize = 5;
const PA: usize = 6;
const PV: usize = 7;

/// How to integrate: step cap, beat cap and tolerances.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Largest RK4 step (s); the actual step divides the beat evenly. Default 2 ms.
    pub max_step_s: f64,
    /// Give up after this many beats. Default 200.
    pub max_beats: usize,
    /// Steady state: every compartment volume changes by less than this over a beat (mL).
    pub tol_ml: f64,
    /// Largest accepted relative drift of the total volume over a run.
    pub drift_bar: f64,
    /// Anderson-accelerate the beat-to-beat map (fewer beats; same steady-state criterion).
    pub accelerate: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { max_step_s: 0.002, max_beats: 200, tol_ml: 1e-3, drift_bar: 1e-9, accelerate: true }
    }
}

impl Settings {
    fn validate(&self) -> Result<(), WbcError> {
        let bad = |name, value, why| Err(WbcError::InvalidSetting { name, value, why });
        if !(self.max_step_s > 0.0 && self.max_step_s <= 0.01) {
            return bad("max_step_s", self.max_step_s, "use a step in (0, 0.01] s; 0.002 is the default");
        }
        if self.max_beats < 2 {
            return bad("max_beats", self.max_beats as f64, "at least 2 beats are needed to compare two beats");
        }
        if !(self.tol_ml > 0.0 && self.tol_ml.is_finite()) {
            return bad("tol_ml", self.tol_ml, "use a positive tolerance such as 1e-3 mL");
        }
        if self.drift_bar.is_nan() || self.drift_bar <= 0.0 {
            return bad("drift_bar", self.drift_bar, "use a positive bar such as 1e-9");
        }
        Ok(())
    }
}

/// The clinical outputs of one simulation, over the last (steady-state) beat.
///
/// Field names are the JSON keys and the dataset's target column names ([`OUTPUT_NAMES`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outputs {
    /// Peak proximal aortic pressure (mmHg).
    pub aortic_systolic_mmhg: f64,
    /// Lowest proximal aortic pressure (mmHg).
    pub aortic_diastolic_mmhg: f64,
    /// Time-averaged proximal aortic pressure (mmHg).
    pub aortic_mean_mmhg: f64,
    /// LV end-diastolic minus end-systolic volume (mL).
    pub stroke_volume_ml: f64,
    /// Stroke volume times heart rate (L/min).
    pub cardiac_output_l_min: f64,
    /// Stroke volume / end-diastolic volume, a fraction in [0, 1].
    pub ejection_fraction: f64,
    /// Largest LV volume over the beat (mL).
    pub lv_edv_ml: f64,
    /// Smallest LV volume over the beat (mL).
    pub lv_esv_ml: f64,
    /// Time-averaged proximal pulmonary artery pressure (mmHg).
    pub pa_mean_mmhg: f64,
    /// Time-averaged left atrial pressure (mmHg).
    pub la_mean_mmhg: f64,
    /// Time-averaged right atrial pressure (mmHg).
    pub ra_mean_mmhg: f64,
}

/// Output names, in [`Outputs::to_array`] order.
pub const OUTPUT_NAMES: [&str; 11] = [
    "aortic_systolic_mmhg",
    "aortic_diastolic_mmhg",
    "aortic_mean_mmhg",
    "stroke_volume_ml",
    "cardiac_output_l_min",
    "ejection_fraction",
    "lv_edv_ml",
    "lv_esv_ml",
    "pa_mean_mmhg",
    "la_mean_mmhg",
    "ra_mean_mmhg",
];

impl Outputs {
    /// The values in [`OUTPUT_NAMES`] order.
    pub fn to_array(&self) -> [f64; 11] {
        [
            self.aortic_systolic_mmhg,
            self.aortic_diastolic_mmhg,
            self.aortic_mean_mmhg,
            self.stroke_volume_ml,
            self.cardiac_output_l_min,
            self.ejection_fraction,
            self.lv_edv_ml,
            self.lv_esv_ml,
            self.pa_mean_mmhg,
            self.la_mean_mmhg,
            self.ra_mean_mmhg,
        ]
    }
}

/// Waveforms of the last beat, sampled at every step, plus a closing point at `t = T`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Waveforms {
    /// Time since ventricular onset (s).
    pub time_s: Vec<f64>,
    /// LV pressure (mmHg).
    pub lv_pressure: Vec<f64>,
    /// LV volume (mL).
    pub lv_volume: Vec<f64>,
    /// RV pressure (mmHg).
    pub rv_pressure: Vec<f64>,
    /// RV volume (mL).
    pub rv_volume: Vec<f64>,
    /// Proximal aortic pressure (mmHg).
    pub aortic_pressure: Vec<f64>,
    /// Proximal pulmonary artery pressure (mmHg).
    pub pa_pressure: Vec<f64>,
    /// Left atrial pressure (mmHg).
    pub la_pressure: Vec<f64>,
    /// Right atrial pressure (mmHg).
    pub ra_pressure: Vec<f64>,
    /// Aortic valve flow (mL/s).
    pub aortic_flow: Vec<f64>,
}

impl Waveforms {
    /// The outputs computed from every `stride`-th sample of the beat (the closing point at `T`
    /// excluded). With `stride = 1` they equal [`Simulation::outputs`]; a run with half the step
    /// and `stride = 2` is compared on the same time grid as the coarse run.
    /// `stride = 0` is treated as 1.
    pub fn outputs(&self, stride: usize, heart_rate: f64) -> Outputs {
        let n = self.time_s.len().saturating_sub(1);
        let mut stats = BeatStats::new();
        let mut count = 0;
        for i in (0..n).step_by(stride.max(1)) {
            stats.add_values(
                self.lv_volume[i],
                self.lv_pressure[i],
                self.aortic_pressure[i],
                self.pa_pressure[i],
                self.la_pressure[i],
                self.ra_pressure[i],
            );
            count += 1;
        }
        stats.outputs(count, heart_rate)
    }

    fn clear(&mut self) {
        for v in self.columns_mut() {
            v.clear();
        }
    }

    fn columns_mut(&mut self) -> [&mut Vec<f64>; 10] {
        [
            &mut self.time_s,
            &mut self.lv_pressure,
            &mut self.lv_volume,
            &mut self.rv_pressure,
            &mut self.rv_volume,
            &mut self.aortic_pressure,
            &mut self.pa_pressure,
            &mut self.la_pressure,
            &mut self.ra_pressure,
            &mut self.aortic_flow,
        ]
    }

    fn push(&mut self, t: f64, v: &State, a: &Aux) {
        let row = [t, a.p[LV], v[LV], a.p[RV], v[RV], a.p_ao, a.p_pa, a.p[LA], a.p[RA], a.q_av];
        for (col, x) in self.columns_mut().into_iter().zip(row) {
            col.push(x);
        }
    }
}

/// One simulated patient at periodic steady state.
#[derive(Clone, Debug, PartialEq)]
pub struct Simulation {
    /// The clinical outputs over the last beat.
    pub outputs: Outputs,
    /// Largest LV minus proximal aortic pressure over the last beat (mmHg): the stenosis gradient.
    pub peak_lv_aortic_gradient_mmhg: f64,
    /// Beats simulated, the last (steady) one included.
    pub beats: usize,
    /// Relative change of the total blood volume over the whole run.
    pub volume_drift: f64,
    /// The state at the start of the last beat (a warm start for nearby patients).
    pub end_state: State,
    /// The last beat's waveforms, if they were asked for.
    pub waveforms: Option<Waveforms>,
}

/// The circuit's constants, precomputed from [`Params`] (inverse resistances and compliances).
#[derive(Clone, Copy, Debug)]
struct Circuit {
    v0: [f64; 4], // la, lv, ra, rv unstressed volumes
    g_mv: f64,
    g_av: f64,
    zc_sys: f64,
    g_sys: f64,
    g_sv: f64,
    g_tv: f64,
    g_pv: f64,
    zc_pul: f64,
    g_pul: f64,
    g_pvn: f64,
    ek_sa: f64,
    ek_sv: f64,
    ek_pa: f64,
    ek_pv: f64,
}

impl Circuit {
    fn new(p: &Params) -> Self {
        Circuit {
            v0: [p.la_v0, p.lv_v0, p.ra_v0, p.rv_v0],
            g_mv: 1.0 / p.r_mitral,
            g_av: 1.0 / (p.r_aortic + p.zc_sys),
            zc_sys: p.zc_sys,
            g_sys: 1.0 / p.r_sys,
            g_sv: 1.0 / p.r_sys_ven,
            g_tv: 1.0 / p.r_tricuspid,
            g_pv: 1.0 / (p.r_pulmonary_valve + p.zc_pul),
            zc_pul: p.zc_pul,
            g_pul: 1.0 / p.r_pul,
            g_pvn: 1.0 / p.r_pul_ven,
            ek_sa: 1.0 / p.c_sys_art,
            ek_sv: 1.0 / p.c_sys_ven,
            ek_pa: 1.0 / p.c_pul_art,
            ek_pv: 1.0 / p.c_pul_ven,
        }
    }

    /// Compartment pressures and the flows needed for outputs, at elastances `e` = [la, lv, ra, rv].
    #[inline(always)]
    fn eval(&self, e: &[f64; 4], v: &State) -> (State, Aux) {
        let mut p = [0.0; NSTATE];
        p[LA] = e[0] * (v[LA] - self.v0[0]);
        p[LV] = e[1] * (v[LV] - self.v0[1]);
        p[RA] = e[2] * (v[RA] - self.v0[2]);
        p[RV] = e[3] * (v[RV] - self.v0[3]);
        p[SA] = v[SA] * self.ek_sa;
        p[SV] = v[SV] * self.ek_sv;
        p[PA] = v[PA] * self.ek_pa;
        p[PV] = v[PV] * self.ek_pv;
        let q_mv = (p[LA] - p[LV]).max(0.0) * self.g_mv;
        let q_av = (p[LV] - p[SA]).max(0.0) * self.g_av;
        let q_sys = (p[SA] - p[SV]) * self.g_sys;
        let q_sv = (p[SV] - p[RA]) * self.g_sv;
        let q_tv = (p[RA] - p[RV]).max(0.0) * self.g_tv;
        let q_pv = (p[RV] - p[PA]).max(0.0) * self.g_pv;
        let q_pul = (p[PA] - p[PV]) * self.g_pul;
        let q_pvn = (p[PV] - p[LA]) * self.g_pvn;
        let dv = [
            q_pvn - q_mv,
            q_mv - q_av,
            q_av - q_sys,
            q_sys - q_sv,
            q_sv - q_tv,
            q_tv - q_pv,
            q_pv - q_pul,
            q_pul - q_pvn,
        ];
        let aux = Aux { p, q_av, p_ao: p[SA] + self.zc_sys * q_av, p_pa: p[PA] + self.zc_pul * q_pv };
        (dv, aux)
    }
}

/// Pressures and flows at one instant (for outputs and waveforms).
#[derive(Clone, Copy, Debug)]
struct Aux {
    p: State,
    q_av: f64,
    p_ao: f64,
    p_pa: f64,
}

/// Running statistics of one beat, updated at every step start.
#[derive(Clone, Copy, Debug)]
struct BeatStats {
    ao_max: f64,
    ao_min: f64,
    ao_sum: f64,
    lv_max: f64,
    lv_min: f64,
    pa_sum: f64,
    la_sum: f64,
    ra_sum: f64,
    grad_max: f64,
}

impl BeatStats {
    fn new() -> Self {
        BeatStats {
            ao_max: f64::NEG_INFINITY,
            ao_min: f64::INFINITY,
            ao_sum: 0.0,
            lv_max: f64::NEG_INFINITY,
            lv_min: f64::INFINITY,
            pa_sum: 0.0,
            la_sum: 0.0,
            ra_sum: 0.0,
            grad_max: f64::NEG_INFINITY,
        }
    }

    #[inline(always)]
    fn add(&mut self, v: &State, a: &Aux) {
        self.add_values(v[LV], a.p[LV], a.p_ao, a.p_pa, a.p[LA], a.p[RA]);
    }

    /// One sample. (A NaN inside a beat reaches the end-of-beat state, which is checked.)
    #[inline(always)]
    fn add_values(&mut self, v_lv: f64, p_lv: f64, p_ao: f64, p_pa: f64, p_la: f64, p_ra: f64) {
        self.ao_max = self.ao_max.max(p_ao);
        self.ao_min = self.ao_min.min(p_ao);
        self.ao_sum += p_ao;
        self.lv_max = self.lv_max.max(v_lv);
        self.lv_min = self.lv_min.min(v_lv);
        self.pa_sum += p_pa;
        self.la_sum += p_la;
        self.ra_sum += p_ra;
        self.grad_max = self.grad_max.max(p_lv - p_ao);
    }

    fn outputs(&self, n: usize, heart_rate: f64) -> Outputs {
        let n = n as f64;
        let sv = self.lv_max - self.lv_min;
        Outputs {
            aortic_systolic_mmhg: self.ao_max,
            aortic_diastolic_mmhg: self.ao_min,
            aortic_mean_mmhg: self.ao_sum / n,
            stroke_volume_ml: sv,
            cardiac_output_l_min: sv * heart_rate / 1000.0,
            ejection_fraction: sv / self.lv_max,
            lv_edv_ml: self.lv_max,
            lv_esv_ml: self.lv_min,
            pa_mean_mmhg: self.pa_sum / n,
            la_mean_mmhg: self.la_sum / n,
            ra_mean_mmhg: self.ra_sum / n,
        }
    }
}

/// Simulates one patient from the default warm start until periodic steady state.
///
/// `record` keeps the last beat's waveforms (PV loops, pressures) in [`Simulation::waveforms`].
///
/// ```
/// let sim = moreml_wbc::simulate(&moreml_wbc::Params::default(), &Default::default(), false)?;
/// let o = sim.outputs;
/// assert!(o.aortic_systolic_mmhg > o.aortic_diastolic_mmhg);
/// assert!(sim.volume_drift < 1e-9);
/// # Ok::<(), moreml_wbc::WbcError>(())
/// ```
///
/// # Errors
/// [`WbcError::InvalidParameter`] / [`WbcError::InvalidSetting`] for bad inputs,
/// [`WbcError::NotSettled`] if no steady state is reached within `settings.max_beats`,
/// [`WbcError::NonPhysical`] if a volume turns negative or non-finite,
/// [`WbcError::VolumeDrift`] if total volume is not conserved.
pub fn simulate(params: &Params, settings: &Settings, record: bool) -> Result<Simulation, WbcError> {
    params.validate()?;
    simulate_from(params, settings, &warm_start(params), record)
}

/// Like [`simulate`], starting from the state `start` (e.g. a nearby patient's
/// [`Simulation::end_state`]), rescaled to this patient's stressed volume.
///
/// # Errors
/// As [`simulate`].
pub fn simulate_from(
    params: &Params,
    settings: &Settings,
    start: &State,
    record: bool,
) -> Result<Simulation, WbcError> {
    params.validate()?;
    settings.validate()?;
    let circuit = Circuit::new(params);
    let period = 60.0 / params.heart_rate;
    let n = (period / settings.max_step_s).ceil() as usize;
    let h = period / n as f64;
    let table = Activation::new(params, period).elastance_table(params, n);

    let mut v = rescale(params, start);
    let total0: f64 = v.iter().sum();
    let mut waves = record.then(Waveforms::default);
    let mut anderson = crate::anderson::Anderson::default();
    for beat in 1..=settings.max_beats {
        let begin = v;
        let mut stats = BeatStats::new();
        if let Some(w) = waves.as_mut() {
            w.clear();
        }
        for k in 0..n {
            let e0 = &table[2 * k];
            let e1 = &table[2 * k + 1];
            let e2 = &table[2 * k + 2];
            let (k1, aux) = circuit.eval(e0, &v);
            stats.add(&v, &aux);
            if let Some(w) = waves.as_mut() {
                w.push(k as f64 * h, &v, &aux);
            }
            let k2 = circuit.eval(e1, &axpy(&v, 0.5 * h, &k1)).0;
            let k3 = circuit.eval(e1, &axpy(&v, 0.5 * h, &k2)).0;
            let k4 = circuit.eval(e2, &axpy(&v, h, &k3)).0;
            for i in 0..NSTATE {
                v[i] += h / 6.0 * (k1[i] + 2.0 * (k2[i] + k3[i]) + k4[i]);
            }
        }
        if let Some((i, &bad)) = v.iter().enumerate().find(|(_, x)| !(x.is_finite() && **x >= 0.0)) {
            return Err(WbcError::NonPhysical {
                compartment: COMPARTMENTS[i],
                volume: bad,
                time_s: beat as f64 * period,
            });
        }
        // NaN-propagating max (volumes are already known finite here).
        let change =
            v.iter()
                .zip(&begin)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, |m: f64, d| if d > m || d.is_nan() { d } else { m });
        if change < settings.tol_ml {
            if let Some(w) = waves.as_mut() {
                let (_, aux) = circuit.eval(&table[2 * n], &v);
                w.push(period, &v, &aux);
            }
            let total: f64 = v.iter().sum();
            let volume_drift = (total - total0).abs() / total0;
            if volume_drift.is_nan() || volume_drift >= settings.drift_bar {
                return Err(WbcError::VolumeDrift { drift: volume_drift, bar: settings.drift_bar });
            }
            return Ok(Simulation {
                outputs: stats.outputs(n, params.heart_rate),
                peak_lv_aortic_gradient_mmhg: stats.grad_max,
                beats: beat,
                volume_drift,
                end_state: begin,
                waveforms: waves,
            });
        }
        if settings.accelerate {
            v = anderson.next(begin, v);
        }
        if beat == settings.max_beats {
            return Err(WbcError::NotSettled { beats: beat, last_change_ml: change, tol_ml: settings.tol_ml });
        }
    }
    unreachable!("the loop returns on its last beat")
}

#[inline(always)]
fn axpy(v: &State, a: f64, k: &State) -> State {
    let mut out = *v;
    for i in 0..NSTATE {
        out[i] += a * k[i];
    }
    out
}

/// Unstressed volumes in state order (vessels have none).
fn unstressed(p: &Params) -> State {
    [p.la_v0, p.lv_v0, 0.0, 0.0, p.ra_v0, p.rv_v0, 0.0, 0.0]
}

/// `start` with its stressed volumes scaled so they sum to `params.stressed_volume`.
fn rescale(params: &Params, start: &State) -> State {
    let v0 = unstressed(params);
    let stressed: State = std::array::from_fn(|i| (start[i] - v0[i]).max(0.0));
    let total: f64 = stressed.iter().sum();
    let scale = if total > 0.0 { params.stressed_volume / total } else { 0.0 };
    std::array::from_fn(|i| {
        if total > 0.0 {
            v0[i] + stressed[i] * scale
        } else {
            v0[i] + params.stressed_volume / NSTATE as f64
        }
    })
}

/// The default patient's steady state at the start of a beat (computed once), used as the warm
/// start for every patient after rescaling to its stressed volume.
pub fn warm_start(params: &Params) -> State {
    static DEFAULT_STATE: OnceLock<State> = OnceLock::new();
    let s = *DEFAULT_STATE.get_or_init(|| {
        let d = Params::default();
        let v0 = unstressed(&d);
        // A cold start (volume mostly venous) that settles; only run once per process.
        let frac = [0.04, 0.08, 0.12, 0.5, 0.04, 0.08, 0.04, 0.1];
        let cold: State = std::array::from_fn(|i| v0[i] + frac[i] * d.stressed_volume);
        simulate_from(&d, &Settings::default(), &cold, false).map(|s| s.end_state).unwrap_or(cold)
    });
    rescale(params, &s)
}
