//! Patient parameters: one serde struct, its units, defaults (a healthy adult at rest) and ranges.
//!
//! Every parameter is declared once in the `params!` table below, which generates the struct,
//! its [`Default`], and [`PARAMS`] (name, unit, physiological range, accepted range, meaning).
//! Pressures are in mmHg, volumes in mL, time in s, so resistances are mmHg·s/mL and
//! compliances mL/mmHg.

use serde::{Deserialize, Serialize};

use crate::WbcError;

/// What the simulator knows about one parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamInfo {
    /// Field name in [`Params`] and in parameter files.
    pub name: &'static str,
    /// Unit of the value.
    pub unit: &'static str,
    /// Value for a healthy adult at rest.
    pub default: f64,
    /// Documented physiological range (where patients plausibly lie).
    pub physiological: (f64, f64),
    /// Values outside this range are rejected as non-physical (or outside what the model is for).
    pub accepted: (f64, f64),
    /// What the parameter means.
    pub doc: &'static str,
}

macro_rules! params {
    ($( $(#[$m:meta])* $name:ident : $unit:literal = $def:literal, phys($plo:literal, $phi:literal), ok($alo:literal, $ahi:literal), $doc:literal; )*) => {
        /// The parameters of one patient (units in [`PARAMS`]; `moreml wbc params` prints them).
        ///
        /// Missing fields in a parameter file take the default, unknown fields are an error.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Params {
            $( #[doc = $doc] #[doc = concat!(" Unit: ", $unit, ".")] pub $name: f64, )*
        }

        impl Default for Params {
            fn default() -> Self {
                Params { $( $name: $def, )* }
            }
        }

        /// Every parameter, in [`Params`] field order.
        pub const PARAMS: &[ParamInfo] = &[
            $( ParamInfo { name: stringify!($name), unit: $unit, default: $def, physiological: ($plo, $phi),
                           accepted: ($alo, $ahi), doc: $doc }, )*
        ];

        impl Params {
            /// The values in [`PARAMS`] order.
            pub fn values(&self) -> Vec<f64> {
                vec![$( self.$name, )*]
            }

            /// The value called `name`, or `None` for an unknown name.
            pub fn get(&self, name: &str) -> Option<f64> {
                match name {
                    $( stringify!($name) => Some(self.$name), )*
                    _ => None,
                }
            }

            /// Sets the value called `name`.
            ///
            /// # Errors
            /// [`WbcError::UnknownParameter`] for a name not in [`PARAMS`].
            pub fn set(&mut self, name: &str, value: f64) -> Result<(), WbcError> {
                match name {
                    $( stringify!($name) => self.$name = value, )*
                    _ => return Err(WbcError::UnknownParameter { name: name.to_string() }),
                }
                Ok(())
            }
        }
    };
}

params! {
    heart_rate: "1/min" = 75.0, phys(50.0, 120.0), ok(20.0, 250.0), "Heart rate; the beat period is 60 / heart_rate.";
    lv_emax: "mmHg/mL" = 2.8, phys(1.0, 4.0), ok(0.05, 20.0), "Left ventricle end-systolic (maximal) elastance.";
    lv_emin: "mmHg/mL" = 0.07, phys(0.03, 0.15), ok(0.005, 2.0), "Left ventricle diastolic (minimal) elastance.";
    lv_v0: "mL" = 10.0, phys(0.0, 40.0), ok(0.0, 200.0), "Left ventricle unstressed volume.";
    rv_emax: "mmHg/mL" = 0.6, phys(0.3, 1.2), ok(0.02, 10.0), "Right ventricle end-systolic elastance.";
    rv_emin: "mmHg/mL" = 0.04, phys(0.02, 0.1), ok(0.005, 2.0), "Right ventricle diastolic elastance.";
    rv_v0: "mL" = 10.0, phys(0.0, 40.0), ok(0.0, 200.0), "Right ventricle unstressed volume.";
    la_emax: "mmHg/mL" = 0.25, phys(0.15, 0.5), ok(0.01, 5.0), "Left atrium maximal elastance.";
    la_emin: "mmHg/mL" = 0.15, phys(0.08, 0.3), ok(0.005, 5.0), "Left atrium minimal elastance.";
    la_v0: "mL" = 4.0, phys(0.0, 20.0), ok(0.0, 100.0), "Left atrium unstressed volume.";
    ra_emax: "mmHg/mL" = 0.25, phys(0.15, 0.5), ok(0.01, 5.0), "Right atrium maximal elastance.";
    ra_emin: "mmHg/mL" = 0.15, phys(0.08, 0.3), ok(0.005, 5.0), "Right atrium minimal elastance.";
    ra_v0: "mL" = 4.0, phys(0.0, 20.0), ok(0.0, 100.0), "Right atrium unstressed volume.";
    t_v_contract: "s" = 0.3, phys(0.2, 0.4), ok(0.05, 0.6), "Ventricular contraction (activation rise) time at 60 /min; scales with sqrt(T).";
    t_v_relax: "s" = 0.15, phys(0.08, 0.25), ok(0.02, 0.4), "Ventricular relaxation time at 60 /min; scales with sqrt(T).";
    t_a_contract: "s" = 0.1, phys(0.05, 0.15), ok(0.01, 0.3), "Atrial contraction time at 60 /min; scales with sqrt(T).";
    t_a_relax: "s" = 0.1, phys(0.05, 0.15), ok(0.01, 0.3), "Atrial relaxation time at 60 /min; scales with sqrt(T).";
    t_av_delay: "s" = 0.16, phys(0.12, 0.2), ok(0.02, 0.4), "Atrial onset before ventricular onset (PR interval) at 60 /min; scales with sqrt(T).";
    r_mitral: "mmHg.s/mL" = 0.005, phys(0.003, 0.05), ok(0.0005, 2.0), "Mitral valve forward resistance.";
    r_aortic: "mmHg.s/mL" = 0.008, phys(0.003, 0.1), ok(0.0005, 2.0), "Aortic valve forward resistance (raised in stenosis).";
    r_tricuspid: "mmHg.s/mL" = 0.003, phys(0.002, 0.05), ok(0.0005, 2.0), "Tricuspid valve forward resistance.";
    r_pulmonary_valve: "mmHg.s/mL" = 0.003, phys(0.002, 0.05), ok(0.0005, 2.0), "Pulmonary valve forward resistance.";
    zc_sys: "mmHg.s/mL" = 0.04, phys(0.02, 0.1), ok(0.001, 1.0), "Systemic characteristic (aortic) impedance, between the aortic valve and the arterial compliance.";
    c_sys_art: "mL/mmHg" = 1.8, phys(0.8, 2.6), ok(0.05, 20.0), "Systemic arterial compliance.";
    r_sys: "mmHg.s/mL" = 1.0, phys(0.6, 1.8), ok(0.05, 10.0), "Systemic peripheral resistance.";
    c_sys_ven: "mL/mmHg" = 80.0, phys(40.0, 150.0), ok(1.0, 1000.0), "Systemic venous compliance.";
    r_sys_ven: "mmHg.s/mL" = 0.04, phys(0.01, 0.1), ok(0.001, 1.0), "Systemic venous resistance into the right atrium.";
    zc_pul: "mmHg.s/mL" = 0.02, phys(0.01, 0.05), ok(0.001, 1.0), "Pulmonary characteristic impedance.";
    c_pul_art: "mL/mmHg" = 4.0, phys(2.0, 8.0), ok(0.1, 50.0), "Pulmonary arterial compliance.";
    r_pul: "mmHg.s/mL" = 0.08, phys(0.03, 0.3), ok(0.005, 3.0), "Pulmonary vascular resistance.";
    c_pul_ven: "mL/mmHg" = 15.0, phys(8.0, 30.0), ok(0.5, 200.0), "Pulmonary venous compliance.";
    r_pul_ven: "mmHg.s/mL" = 0.01, phys(0.005, 0.03), ok(0.0005, 0.5), "Pulmonary venous resistance into the left atrium.";
    stressed_volume: "mL" = 1200.0, phys(900.0, 1700.0), ok(100.0, 4000.0), "Total stressed blood volume: the sum of (V - V0) over all compartments (vessels have V0 = 0 here).";
}

impl Params {
    /// Checks every value is finite and inside its accepted range, and the timing fits in a beat.
    ///
    /// # Errors
    /// [`WbcError::InvalidParameter`] naming the first offending parameter.
    pub fn validate(&self) -> Result<(), WbcError> {
        for (info, v) in PARAMS.iter().zip(self.values()) {
            let (lo, hi) = info.accepted;
            if !v.is_finite() || v < lo || v > hi {
                return Err(WbcError::InvalidParameter {
                    name: info.name,
                    value: v,
                    unit: info.unit,
                    lo,
                    hi,
                    why: if v.is_finite() { "outside the accepted range" } else { "not a finite number" },
                });
            }
        }
        for (name, lo, hi) in [("lv_emin", self.lv_emin, self.lv_emax), ("rv_emin", self.rv_emin, self.rv_emax)] {
            if lo >= hi {
                return Err(WbcError::InvalidParameter {
                    name,
                    value: lo,
                    unit: "mmHg/mL",
                    lo: 0.0,
                    hi,
                    why: "must be below the matching Emax",
                });
            }
        }
        for (name, lo, hi) in [("la_emin", self.la_emin, self.la_emax), ("ra_emin", self.ra_emin, self.ra_emax)] {
            if lo > hi {
                return Err(WbcError::InvalidParameter {
                    name,
                    value: lo,
                    unit: "mmHg/mL",
                    lo: 0.0,
                    hi,
                    why: "must not exceed the matching Emax",
                });
            }
        }
        let t = 60.0 / self.heart_rate;
        let s = t.sqrt();
        let ventricle = (self.t_v_contract + self.t_v_relax) * s;
        if ventricle >= 0.9 * t {
            return Err(WbcError::InvalidParameter {
                name: "t_v_contract",
                value: self.t_v_contract,
                unit: "s",
                lo: 0.0,
                hi: 0.9 * t / s - self.t_v_relax,
                why: "ventricular contraction plus relaxation leaves no diastole at this heart rate",
            });
        }
        if t - self.t_av_delay * s < ventricle {
            return Err(WbcError::InvalidParameter {
                name: "t_av_delay",
                value: self.t_av_delay,
                unit: "s",
                lo: 0.0,
                hi: (t - ventricle) / s,
                why: "atrial contraction would start before the ventricles relax at this heart rate",
            });
        }
        if (self.t_a_contract + self.t_a_relax) * s >= 0.9 * t {
            return Err(WbcError::InvalidParameter {
                name: "t_a_contract",
                value: self.t_a_contract,
                unit: "s",
                lo: 0.0,
                hi: 0.9 * t / s - self.t_a_relax,
                why: "atrial contraction plus relaxation is longer than the beat at this heart rate",
            });
        }
        Ok(())
    }

    /// Reads a parameter file: either a flat JSON object of values or the object printed by
    /// `moreml wbc params` (values under `"parameters"`). Missing values take their default.
    ///
    /// # Errors
    /// [`WbcError::ParamFile`] if the JSON is malformed or names an unknown parameter,
    /// [`WbcError::InvalidParameter`] if a value is out of range.
    pub fn from_json(text: &str) -> Result<Params, WbcError> {
        let bad = |e: serde_json::Error| WbcError::ParamFile { reason: e.to_string() };
        let value: serde_json::Value = serde_json::from_str(text).map_err(bad)?;
        let inner = match value.get("parameters") {
            Some(p) => p.clone(),
            None => value,
        };
        let p: Params = serde_json::from_value(inner).map_err(bad)?;
        p.validate()?;
        Ok(p)
    }

    /// The parameter file printed by `moreml wbc params`: values, units and ranges.
    pub fn to_documented_json(&self) -> serde_json::Value {
        let mut units = serde_json::Map::new();
        let mut ranges = serde_json::Map::new();
        let mut docs = serde_json::Map::new();
        for p in PARAMS {
            units.insert(p.name.into(), p.unit.into());
            ranges.insert(
                p.name.into(),
                serde_json::json!({"physiological": [p.physiological.0, p.physiological.1],
                                   "accepted": [p.accepted.0, p.accepted.1]}),
            );
            docs.insert(p.name.into(), p.doc.into());
        }
        serde_json::json!({
            "about": "moreml-wbc patient parameters (healthy adult at rest). `moreml wbc simulate --params FILE` \
                      reads this file or a flat object of values; missing values take these defaults.",
            "parameters": serde_json::to_value(self).expect("plain f64 fields serialise"),
            "units": units,
            "ranges": ranges,
            "docs": docs,
        })
    }
}

/// The [`ParamInfo`] of `name`, if it is a parameter.
pub fn info(name: &str) -> Option<&'static ParamInfo> {
    PARAMS.iter().find(|p| p.name == name)
}
