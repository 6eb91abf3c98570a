//! Whole-body circulation (WBC) simulator: the data source of moreml's surrogate experiment.
//!
//! A closed-loop lumped-parameter (0D) model of the cardiovascular system: four time-varying
//! elastance chambers (LA, LV, RA, RV), four diode valves with a small forward resistance, and
//! systemic and pulmonary circulations (characteristic impedance, arterial compliance,
//! peripheral resistance, venous compliance, venous resistance). It runs beats with fixed-step
//! RK4 until periodic steady state and reports the clinical outputs of the last beat
//! ([`Outputs`]). Nothing here knows about encryption.
//!
//! ```
//! use moreml_wbc::{simulate, Params, Settings};
//!
//! let mut p = Params::default();
//! let base = simulate(&p, &Settings::default(), false)?.outputs;
//! p.r_sys *= 1.3; // vasoconstriction
//! let up = simulate(&p, &Settings::default(), false)?.outputs;
//! assert!(up.aortic_mean_mmhg > base.aortic_mean_mmhg);
//! # Ok::<(), moreml_wbc::WbcError>(())
//! ```
#![deny(missing_docs)]

mod activation;
mod anderson;
mod error;
mod model;
mod params;
mod sample;
pub mod windkessel;

pub use activation::Activation;
pub use error::WbcError;
pub use model::{
    simulate, simulate_from, warm_start, Outputs, Settings, Simulation, State, Waveforms, COMPARTMENTS, NSTATE,
    OUTPUT_NAMES,
};
pub use params::{info, ParamInfo, Params, PARAMS};
pub use sample::{simulate_batch, Batch, ParamSpace, Sampler, DEFAULT_RANGES};
