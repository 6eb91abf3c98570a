//! The six standard coronary projections, the two classification tasks and the C-arm geometry.
//!
//! Angle conventions: `primary` > 0 is LAO (detector towards the patient's left), < 0 is RAO;
//! `secondary` > 0 is CRA (detector towards the head), < 0 is CAU. Degrees throughout.

use crate::geometry::{v3, V3};

/// Which coronary tree is filled with contrast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Artery {
    /// Left coronary artery (left main, LAD, circumflex).
    Lca,
    /// Right coronary artery (with acute marginals and the PDA).
    Rca,
}

impl Artery {
    /// Short lower-case name used in file names and CSVs.
    pub fn name(self) -> &'static str {
        match self {
            Artery::Lca => "lca",
            Artery::Rca => "rca",
        }
    }
}

/// One of the six standard diagnostic projections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    /// LCA, RAO 20-30 / CAU 20-30.
    LcaRaoCaudal,
    /// LCA, RAO 10-30 / CRA 25-40.
    LcaRaoCranial,
    /// LCA, LAO 30-50 / CRA 20-30.
    LcaLaoCranial,
    /// LCA, LAO 40-60 / CAU 20-30 (the "spider" view).
    LcaLaoCaudal,
    /// RCA, LAO 30-60 / 0-10 CRA.
    RcaLao,
    /// RCA, RAO 20-45 / 0.
    RcaRao,
}

/// Jitter (degrees, uniform +-) added to both angles on top of the textbook range, so that
/// neighbouring views overlap at their edges as they do in practice.
pub const ANGLE_JITTER_DEG: f32 = 5.0;

impl View {
    /// All six views in label order.
    pub const ALL: [View; 6] =
        [View::LcaRaoCaudal, View::LcaRaoCranial, View::LcaLaoCranial, View::LcaLaoCaudal, View::RcaLao, View::RcaRao];

    /// Class name used in labels, file names and CSVs.
    pub fn name(self) -> &'static str {
        match self {
            View::LcaRaoCaudal => "lca_rao_caudal",
            View::LcaRaoCranial => "lca_rao_cranial",
            View::LcaLaoCranial => "lca_lao_cranial",
            View::LcaLaoCaudal => "lca_lao_caudal",
            View::RcaLao => "rca_lao",
            View::RcaRao => "rca_rao",
        }
    }

    /// The injected artery.
    pub fn artery(self) -> Artery {
        match self {
            View::RcaLao | View::RcaRao => Artery::Rca,
            _ => Artery::Lca,
        }
    }

    /// Textbook ranges `(primary, secondary)` in signed degrees (LAO/CRA positive), before jitter.
    pub fn angle_ranges(self) -> ((f32, f32), (f32, f32)) {
        match self {
            View::LcaRaoCaudal => ((-30.0, -20.0), (-30.0, -20.0)),
            View::LcaRaoCranial => ((-30.0, -10.0), (25.0, 40.0)),
            View::LcaLaoCranial => ((30.0, 50.0), (20.0, 30.0)),
            View::LcaLaoCaudal => ((40.0, 60.0), (-30.0, -20.0)),
            View::RcaLao => ((30.0, 60.0), (0.0, 10.0)),
            View::RcaRao => ((-45.0, -20.0), (0.0, 0.0)),
        }
    }
}

/// What the labels mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Task {
    /// Six classes, one per [`View`].
    View,
    /// Two classes: LCA versus RCA (views drawn round-robin within each artery).
    Artery,
}

impl Task {
    /// Class names in label order.
    pub fn class_names(self) -> Vec<String> {
        match self {
            Task::View => View::ALL.iter().map(|v| v.name().to_string()).collect(),
            Task::Artery => vec!["lca".into(), "rca".into()],
        }
    }

    /// The view of the `i`-th image of class `class` (views alternate within an artery class).
    pub fn view_for(self, class: usize, i: usize) -> View {
        match self {
            Task::View => View::ALL[class],
            Task::Artery if class == 0 => View::ALL[i % 4],
            Task::Artery => View::ALL[4 + i % 2],
        }
    }
}

/// One C-arm position: angles and distances.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CArm {
    /// LAO (+) / RAO (-) in degrees.
    pub primary_deg: f32,
    /// CRA (+) / CAU (-) in degrees.
    pub secondary_deg: f32,
    /// Source-to-image distance (mm).
    pub sid_mm: f32,
    /// Source-to-object (isocentre) distance (mm).
    pub sod_mm: f32,
}

/// A perspective projector for one C-arm position onto a square detector of `size` pixels.
#[derive(Clone, Copy, Debug)]
pub struct Projector {
    /// Source position.
    pub source: V3,
    /// Unit vector from the source through the isocentre towards the detector.
    pub dir: V3,
    pub(crate) right: V3,
    pub(crate) up: V3,
    pub(crate) sid: f32,
    /// Detector millimetres per pixel.
    pub pitch: f32,
    pub(crate) half: f32,
}

impl Projector {
    /// Projector for `arm` around `isocentre`, detector side `fov_mm` split into `size` pixels.
    /// Image columns grow towards the patient's left in an AP view, rows towards the feet.
    pub fn new(arm: &CArm, isocentre: V3, fov_mm: f32, size: usize) -> Projector {
        let (a, b) = (arm.primary_deg.to_radians(), arm.secondary_deg.to_radians());
        // Detector direction from the isocentre: AP (0/0) puts the detector anterior (-y).
        let dir = v3(a.sin() * b.cos(), -a.cos() * b.cos(), b.sin());
        let up = v3(0.0, 0.0, 1.0).orthogonal_to(dir);
        let right = up.cross(dir);
        Projector {
            source: isocentre - dir * arm.sod_mm,
            dir,
            right,
            up,
            sid: arm.sid_mm,
            pitch: fov_mm / size as f32,
            half: size as f32 * 0.5,
        }
    }

    /// Pixel coordinates `(column, row)` (continuous, pixel centres at +0.5) and the
    /// magnification (detector mm per object mm) of a point.
    pub fn project(&self, p: V3) -> (f32, f32, f32) {
        let q = p - self.source;
        let depth = q.dot(self.dir).max(1.0);
        let mag = self.sid / depth;
        (self.half + q.dot(self.right) * mag / self.pitch, self.half - q.dot(self.up) * mag / self.pitch, mag)
    }

    /// Unit direction of the ray from the source through pixel position `(column, row)`.
    pub fn ray(&self, col: f32, row: f32) -> V3 {
        let du = (col - self.half) * self.pitch;
        let dv = (self.half - row) * self.pitch;
        (self.dir * self.sid + self.right * du + self.up * dv).unit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(p: f32, s: f32) -> CArm {
        CArm { primary_deg: p, secondary_deg: s, sid_mm: 1100.0, sod_mm: 750.0 }
    }

    #[test]
    fn ap_view_puts_patient_left_right_and_head_up() {
        let pr = Projector::new(&arm(0.0, 0.0), V3::default(), 200.0, 64);
        let (c0, r0, m) = pr.project(V3::default());
        assert!((c0 - 32.0).abs() < 1e-4 && (r0 - 32.0).abs() < 1e-4);
        assert!((m - 1100.0 / 750.0).abs() < 1e-5);
        let (cl, _, _) = pr.project(v3(10.0, 0.0, 0.0));
        let (_, rh, _) = pr.project(v3(0.0, 0.0, 10.0));
        assert!(cl > c0 && rh < r0);
    }

    #[test]
    fn lao_moves_the_detector_to_the_left_and_cranial_to_the_head() {
        let pr = Projector::new(&arm(90.0, 0.0), V3::default(), 200.0, 64);
        assert!((pr.dir - v3(1.0, 0.0, 0.0)).norm() < 1e-6);
        let pr = Projector::new(&arm(0.0, 90.0), V3::default(), 200.0, 64);
        assert!((pr.dir - v3(0.0, 0.0, 1.0)).norm() < 1e-6);
    }

    #[test]
    fn ray_through_a_projected_point_hits_it() {
        let pr = Projector::new(&arm(-25.0, 30.0), v3(5.0, -3.0, 2.0), 210.0, 64);
        let p = v3(20.0, -30.0, 15.0);
        let (c, r, _) = pr.project(p);
        let d = pr.ray(c, r);
        let off = (p - pr.source) - d * (p - pr.source).dot(d);
        assert!(off.norm() < 1e-2, "{off:?}");
    }

    #[test]
    fn artery_task_cycles_views_within_each_artery() {
        let v: Vec<View> = (0..4).map(|i| Task::Artery.view_for(0, i)).collect();
        assert!(v.iter().all(|v| v.artery() == Artery::Lca));
        assert_eq!(v.len(), 4);
        assert_eq!(Task::Artery.view_for(1, 3), View::RcaRao);
    }
}
