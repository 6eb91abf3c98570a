//! The one error type of the simulator.

/// Everything that can go wrong when configuring or running a simulation.
///
/// Messages name the parameter or the quantity involved and say what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WbcError {
    /// A parameter value is NaN, infinite, or outside what the model accepts.
    #[error("parameter `{name}` = {value} {unit} is invalid: {why} [{lo}, {hi}]; give a value inside that range")]
    InvalidParameter {
        /// The parameter's name (as in [`crate::PARAMS`]).
        name: &'static str,
        /// The value given.
        value: f64,
        /// Its unit.
        unit: &'static str,
        /// Lowest accepted value.
        lo: f64,
        /// Highest accepted value.
        hi: f64,
        /// What is wrong with it.
        why: &'static str,
    },

    /// A name that is not a parameter.
    #[error("`{name}` is not a WBC parameter; `moreml wbc params` lists them")]
    UnknownParameter {
        /// The name given.
        name: String,
    },

    /// A parameter file that is not valid JSON for [`crate::Params`].
    #[error("bad parameter file: {reason}; `moreml wbc params` prints a valid one")]
    ParamFile {
        /// What serde reported.
        reason: String,
    },

    /// A simulation setting (step size, beat cap, tolerance) is unusable.
    #[error("simulation setting `{name}` = {value} is invalid: {why}")]
    InvalidSetting {
        /// The setting's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What is wrong with it.
        why: &'static str,
    },

    /// The beats did not reach a periodic steady state within the cap.
    #[error(
        "no periodic steady state after {beats} beats (last beat-to-beat volume change {last_change_ml:.3e} mL, \
         tolerance {tol_ml:.0e} mL); the parameters are probably far outside the physiological ranges"
    )]
    NotSettled {
        /// Beats simulated.
        beats: usize,
        /// Largest compartment volume change over the last beat (mL).
        last_change_ml: f64,
        /// The tolerance (mL).
        tol_ml: f64,
    },

    /// A volume became negative or non-finite: the integration broke down.
    #[error("compartment `{compartment}` volume became {volume} mL at t = {time_s:.4} s; the parameters make the model non-physical (or the step is too large)")]
    NonPhysical {
        /// Which compartment.
        compartment: &'static str,
        /// Its volume.
        volume: f64,
        /// When.
        time_s: f64,
    },

    /// Total blood volume drifted: a bug in the equations or the integrator.
    #[error("total blood volume drifted by a relative {drift:.3e} (bar {bar:.0e}); this is a simulator bug, please report it")]
    VolumeDrift {
        /// |V_end - V_start| / V_start.
        drift: f64,
        /// The bar it should stay under.
        bar: f64,
    },

    /// A sampling request that cannot be met.
    #[error("bad sampling request: {reason}")]
    Sampling {
        /// What is wrong.
        reason: String,
    },
}
