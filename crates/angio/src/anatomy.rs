//! 3D anatomy in patient coordinates (mm): an ellipsoidal heart carrying the coronary trees in
//! its grooves, plus the thorax structures that make the background (spine, ribs, catheter).
//!
//! The heart frame: `u` is the long axis from base to apex (anterior, inferior, left); `v` and
//! `l` span the short-axis plane, with `v` the anterior and `l` the left direction. A surface
//! point is addressed by `t` in [-1, 1] (base to apex) and the angle `psi` around the long axis
//! (0 anterior, 90 degrees left lateral, 180 posterior-inferior, -90 right).

use crate::geometry::{v3, V3};
use rand::Rng;
use std::f32::consts::PI;

/// A tube: centre-line points, local radius and distance from the ostium along the tree (mm).
#[derive(Clone, Debug, Default)]
pub struct Tube {
    /// Centre line.
    pub points: Vec<V3>,
    /// Lumen radius at each point.
    pub radius: Vec<f32>,
    /// Path distance from the ostium at each point (for the contrast front).
    pub dist: Vec<f32>,
}

/// The ellipsoidal heart.
#[derive(Clone, Copy, Debug)]
pub struct Heart {
    /// Centre.
    pub centre: V3,
    /// Long axis, base to apex (unit).
    pub u: V3,
    /// Anterior short-axis direction (unit).
    pub v: V3,
    /// Left short-axis direction (unit).
    pub l: V3,
    /// Long semi-axis.
    pub a: f32,
    /// Short semi-axis.
    pub b: f32,
}

/// Atrioventricular groove position along the long axis.
const T_AV: f32 = -0.55;

fn deg(d: f32) -> f32 {
    d * PI / 180.0
}

/// `x` plus uniform noise in `[-w, w]`.
fn jit<R: Rng>(rng: &mut R, x: f32, w: f32) -> f32 {
    x + rng.random_range(-w..=w)
}

impl Heart {
    /// A randomly sized and oriented heart around `centre` (orientation varies by up to ~12 degrees).
    pub fn random<R: Rng>(rng: &mut R, centre: V3) -> Heart {
        let nominal = v3(0.61, -0.61, -0.50).unit();
        let axis = v3(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)).unit();
        let u = nominal.rotated(axis, deg(rng.random_range(2.0..12.0)));
        let v = v3(0.0, -1.0, 0.0).orthogonal_to(u).rotated(u, deg(jit(rng, 0.0, 8.0)));
        let mut l = u.cross(v);
        if l.x < 0.0 {
            l = -l;
        }
        Heart { centre, u, v, l, a: rng.random_range(54.0..64.0), b: rng.random_range(38.0..46.0) }
    }

    /// Surface point at `(t, psi)` lifted `lift` mm outwards (vessels lie on the epicardium).
    pub fn surface(&self, t: f32, psi: f32, lift: f32) -> V3 {
        let s = (1.0 - t * t).max(0.0).sqrt();
        let radial = self.v * psi.cos() + self.l * psi.sin();
        self.centre + self.u * (self.a * t) + radial * (self.b * s + lift)
    }
}

/// Builds a tube along the surface through the `(t, psi_degrees)` knots, with tortuosity.
struct Path<'h> {
    heart: &'h Heart,
    pts: Vec<V3>,
    tp: Vec<(f32, f32)>,
}

const STEP_MM: f32 = 2.5;

impl<'h> Path<'h> {
    fn on_surface<R: Rng>(heart: &'h Heart, knots: &[(f32, f32)], rng: &mut R) -> Path<'h> {
        let (amp, freq, phase) =
            (deg(rng.random_range(1.0..3.5)), rng.random_range(0.04..0.09), rng.random_range(0.0..6.3));
        let mut path = Path { heart, pts: Vec::new(), tp: Vec::new() };
        let mut s = 0.0f32;
        for w in knots.windows(2) {
            let ((t0, p0), (t1, p1)) = (w[0], (w[1].0, w[1].1));
            let (p0, p1) = (deg(p0), deg(p1));
            let approx = (heart.surface(t0, p0, 0.0) - heart.surface(t1, p1, 0.0)).norm();
            let n = ((approx / STEP_MM).ceil() as usize).max(1);
            for k in 0..n {
                let f = k as f32 / n as f32;
                let (t, psi) = (t0 + (t1 - t0) * f, p0 + (p1 - p0) * f);
                let psi = psi + amp * (freq * s + phase).sin();
                path.push(t, psi);
                s += approx / n as f32;
            }
        }
        let &(t, p) = knots.last().expect("knots");
        path.push(t, deg(p));
        path
    }

    fn push(&mut self, t: f32, psi: f32) {
        self.tp.push((t, psi));
        self.pts.push(self.heart.surface(t, psi, 1.5));
    }

    /// Knot `(t, psi_degrees)` of point `i`.
    fn knot(&self, i: usize) -> (f32, f32) {
        let (t, p) = self.tp[i];
        (t, p * 180.0 / PI)
    }

    /// The finished tube: radius tapering from `r0` to `r1`, distances starting at `d0`.
    fn tube(self, r0: f32, r1: f32, d0: f32) -> Tube {
        tube_from_points(self.pts, r0, r1, d0)
    }
}

fn tube_from_points(points: Vec<V3>, r0: f32, r1: f32, d0: f32) -> Tube {
    let mut dist = Vec::with_capacity(points.len());
    let mut d = d0;
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            d += (*p - points[i - 1]).norm();
        }
        dist.push(d);
    }
    let total = (d - d0).max(1e-3);
    let radius = dist.iter().map(|&x| r0 + (r1 - r0) * ((x - d0) / total).powf(0.8)).collect();
    Tube { points, radius, dist }
}

/// Index of the point at fraction `f` of a path.
fn at(n: usize, f: f32) -> usize {
    ((n as f32 - 1.0) * f).round() as usize
}

/// Side branches leaving `parent` at the given fractions; `shape` maps the start knot to the
/// rest of the branch's knots.
fn branches<R: Rng>(
    heart: &Heart,
    parent: &Path,
    parent_tube: &Tube,
    fractions: &[f32],
    rng: &mut R,
    mut shape: impl FnMut(&mut R, (f32, f32)) -> Vec<(f32, f32)>,
    (r_rel, r_end): (f32, f32),
) -> Vec<Tube> {
    let mut out = Vec::new();
    for &f in fractions {
        let i = at(parent.pts.len(), f);
        let start = parent.knot(i);
        let mut knots = vec![start];
        knots.extend(shape(rng, start));
        let r0 = (parent_tube.radius[i] * r_rel * rng.random_range(0.85..1.1)).max(r_end + 0.2);
        out.push(Path::on_surface(heart, &knots, rng).tube(
            r0,
            r_end * rng.random_range(0.8..1.2),
            parent_tube.dist[i],
        ));
    }
    out
}

/// Sorted random fractions, `n` of them, in `[lo, hi]`, at least a little apart.
fn fractions<R: Rng>(rng: &mut R, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let w = (hi - lo) / n as f32;
    (0..n).map(|k| lo + w * (k as f32 + rng.random_range(0.15..0.85))).collect()
}

/// A coronary tree with its ostium (where the catheter engages).
#[derive(Clone, Debug)]
pub struct Tree {
    /// All vessels.
    pub tubes: Vec<Tube>,
    /// Ostium position.
    pub ostium: V3,
    /// Aortic root centre (the catheter comes from there).
    pub root: V3,
}

/// Aortic root: above the base, slightly anterior and right.
fn aortic_root(h: &Heart) -> V3 {
    h.centre + h.u * (-1.02 * h.a) + (h.v * deg(-15.0).cos() + h.l * deg(-15.0).sin()) * (0.3 * h.b)
}

/// The left coronary artery: left main, LAD with 2-3 diagonals, circumflex with 1-3 marginals.
pub fn left_tree<R: Rng>(rng: &mut R, h: &Heart) -> Tree {
    let root = aortic_root(h);
    let psi_b = jit(rng, 45.0, 8.0);
    let bif = h.surface(T_AV, deg(psi_b), 1.5);
    let ostium = bif + (root - bif).unit() * rng.random_range(8.0..13.0);
    let r_lm = rng.random_range(1.8..2.2);
    let lm = tube_from_points(vec![ostium, (ostium + bif) * 0.5, bif], r_lm, r_lm * 0.95, 0.0);
    let d_bif = lm.dist[2];

    let psi_ant = jit(rng, 28.0, 6.0);
    let t_end = rng.random_range(0.86..0.99);
    let lad_knots = [(T_AV, psi_b), (T_AV + 0.15, psi_ant), (0.3, jit(rng, psi_ant, 4.0)), (t_end, psi_ant + 10.0)];
    let lad = Path::on_surface(h, &lad_knots, rng);
    let lad_t = lad.clone_tube(rng.random_range(1.5..1.9), rng.random_range(0.3..0.45), d_bif);
    let n_diag = rng.random_range(2..=3);
    let diags = branches(
        h,
        &lad,
        &lad_t,
        &fractions(rng, n_diag, 0.12, 0.6),
        rng,
        |rng, (t, p)| {
            let dp = rng.random_range(40.0..65.0);
            vec![(t + 0.12, p + dp * 0.45), (t + rng.random_range(0.3..0.5), p + dp)]
        },
        (0.65, 0.35),
    );

    let psi_cx = rng.random_range(125.0..185.0);
    let lcx_knots = [(T_AV, psi_b), (T_AV - 0.03, psi_b + 25.0), (T_AV + 0.02, psi_cx)];
    let lcx = Path::on_surface(h, &lcx_knots, rng);
    let lcx_t = lcx.clone_tube(rng.random_range(1.4..1.8), rng.random_range(0.4..0.6), d_bif);
    let n_om = rng.random_range(1..=3);
    let oms = branches(
        h,
        &lcx,
        &lcx_t,
        &fractions(rng, n_om, 0.3, 0.9),
        rng,
        |rng, (t, p)| {
            vec![(t + 0.2, p + jit(rng, 6.0, 5.0)), (t + rng.random_range(0.55..0.85), p + jit(rng, 6.0, 10.0))]
        },
        (0.75, 0.35),
    );

    let mut tubes = vec![lm, lad_t, lcx_t];
    tubes.extend(diags);
    tubes.extend(oms);
    Tree { tubes, ostium, root }
}

/// The right coronary artery: right AV groove, 1-3 acute marginals, the PDA and a posterolateral branch.
pub fn right_tree<R: Rng>(rng: &mut R, h: &Heart) -> Tree {
    let root = aortic_root(h);
    let first = h.surface(T_AV - 0.05, deg(jit(rng, -25.0, 6.0)), 1.5);
    let ostium = first + (root - first).unit() * rng.random_range(6.0..10.0);
    let crux = jit(rng, -158.0, 8.0);
    let knots = [(T_AV - 0.05, jit(rng, -25.0, 5.0)), (T_AV, -90.0), (T_AV + 0.03, crux)];
    let rca = Path::on_surface(h, &knots, rng);
    let mut pts = vec![ostium];
    pts.extend_from_slice(&rca.pts);
    let r0 = rng.random_range(1.8..2.2);
    let rca_t = tube_from_points(pts, r0, r0 * rng.random_range(0.55..0.7), 0.0);
    // Branch indices refer to `rca.pts`, which is `rca_t` shifted by one (the ostium).
    let shifted =
        Tube { points: rca_t.points[1..].to_vec(), radius: rca_t.radius[1..].to_vec(), dist: rca_t.dist[1..].to_vec() };
    let n_am = rng.random_range(1..=3);
    let mut tubes = branches(
        h,
        &rca,
        &shifted,
        &fractions(rng, n_am, 0.3, 0.65),
        rng,
        |rng, (t, p)| {
            vec![(t + 0.2, p + jit(rng, 4.0, 4.0)), (t + rng.random_range(0.45..0.75), p + jit(rng, 8.0, 8.0))]
        },
        (0.55, 0.3),
    );
    let pda = branches(
        h,
        &rca,
        &shifted,
        &[1.0],
        rng,
        |rng, (t, p)| vec![(t + 0.15, p - 5.0), (rng.random_range(0.45..0.8), p + jit(rng, -3.0, 5.0))],
        (0.85, 0.35),
    );
    let pl = branches(
        h,
        &rca,
        &shifted,
        &[1.0],
        rng,
        |rng, (t, p)| vec![(t - 0.02, p - 15.0), (t + rng.random_range(0.15..0.35), p - rng.random_range(25.0..45.0))],
        (0.7, 0.35),
    );
    tubes.insert(0, rca_t);
    tubes.extend(pda);
    tubes.extend(pl);
    Tree { tubes, ostium, root }
}

impl Path<'_> {
    /// A tube from a copy of the points (the path stays available for branching).
    fn clone_tube(&self, r0: f32, r1: f32, d0: f32) -> Tube {
        tube_from_points(self.pts.clone(), r0, r1, d0)
    }
}

/// The guiding catheter: from the ostium back to the aortic root, up the ascending aorta, over
/// the arch and down the descending aorta beside the spine. Radius ~1 mm (6 French).
pub fn catheter<R: Rng>(rng: &mut R, tree: &Tree, spine: V3) -> Tube {
    let up = v3(0.0, 0.0, 1.0);
    let asc = tree.root + up * 45.0 + v3(jit(rng, -8.0, 6.0), jit(rng, 5.0, 6.0), 0.0);
    let arch = asc + up * 45.0 + v3(jit(rng, 20.0, 8.0), 35.0, 0.0);
    let desc_top = v3(spine.x + 25.0, spine.y - 25.0, arch.z - 10.0);
    let desc_bottom = desc_top - up * 320.0;
    let ctrl = [tree.ostium, tree.root, asc, arch, desc_top, desc_bottom];
    let mut pts = Vec::new();
    for w in ctrl.windows(2) {
        let n = (((w[1] - w[0]).norm() / 6.0).ceil() as usize).max(1);
        for k in 0..n {
            pts.push(w[0] + (w[1] - w[0]) * (k as f32 / n as f32));
        }
    }
    pts.push(desc_bottom);
    let pts = smooth(&pts, 3);
    let r = rng.random_range(0.9..1.1);
    tube_from_points(pts, r, r, 0.0)
}

/// Moving-average smoothing that keeps the end points.
fn smooth(p: &[V3], passes: usize) -> Vec<V3> {
    let mut cur = p.to_vec();
    for _ in 0..passes {
        let mut next = cur.clone();
        for i in 1..cur.len().saturating_sub(1) {
            next[i] = (cur[i - 1] + cur[i] * 2.0 + cur[i + 1]) * 0.25;
        }
        cur = next;
    }
    cur
}

/// Vertebral bodies: short thick cylinders along the spine axis, with disc gaps.
pub fn vertebrae<R: Rng>(rng: &mut R, spine: V3) -> Vec<Tube> {
    let r = rng.random_range(16.0..20.0);
    let (h, gap) = (rng.random_range(21.0..25.0), rng.random_range(3.5..5.5));
    let z0 = spine.z - 260.0 + rng.random_range(0.0..h + gap);
    let bodies = (0..18).map(|k| {
        let a = v3(spine.x, spine.y, z0 + k as f32 * (h + gap));
        tube_from_points(vec![a, a + v3(0.0, 0.0, h)], r, r, 0.0)
    });
    // Posterior elements (pedicles, laminae) as one continuous, thinner column behind the bodies.
    let post = v3(spine.x, spine.y + r + 12.0, spine.z);
    let column = |c: V3, r: f32| tube_from_points(vec![c - v3(0.0, 0.0, 300.0), c + v3(0.0, 0.0, 300.0)], r, r, 0.0);
    // Discs and end plates are not empty: a continuous column keeps the gaps from glaring.
    bodies.chain([column(post, 0.7 * r), column(spine, r)]).collect()
}

/// Rib-like arcs around the thorax (elliptic cross-section `half_w` x `half_d` centred on
/// `centre`), sloping down anteriorly, both sides.
pub fn ribs<R: Rng>(rng: &mut R, centre: V3, half_w: f32, half_d: f32) -> Vec<Tube> {
    let spacing = rng.random_range(26.0..32.0);
    let top = centre.z + rng.random_range(110.0..150.0);
    let mut out = Vec::new();
    for k in 0..10 {
        for side in [-1.0f32, 1.0] {
            let z0 = top - k as f32 * spacing + jit(rng, 0.0, 3.0);
            let drop = rng.random_range(70.0..100.0);
            let pts: Vec<V3> = (0..=24)
                .map(|i| {
                    let phi = deg(12.0 + 138.0 * i as f32 / 24.0);
                    let p = v3(centre.x + side * half_w * phi.sin(), centre.y + half_d * phi.cos(), 0.0);
                    v3(p.x, p.y, z0 - drop * (1.0 - phi.cos()) * 0.5)
                })
                .collect();
            let r = rng.random_range(3.5..5.0);
            out.push(tube_from_points(pts, r, r * 0.8, 0.0));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn heart_apex_points_anterior_inferior_left() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..50 {
            let h = Heart::random(&mut rng, V3::default());
            assert!(h.u.x > 0.2 && h.u.y < -0.2 && h.u.z < -0.1, "{:?}", h.u);
            assert!(h.l.x > 0.0 && h.u.dot(h.v).abs() < 1e-5 && h.u.dot(h.l).abs() < 1e-5);
        }
    }

    #[test]
    fn trees_taper_and_have_the_textbook_branch_counts() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..30 {
            let h = Heart::random(&mut rng, V3::default());
            let lca = left_tree(&mut rng, &h);
            // LM + LAD + LCx + 2-3 diagonals + 1-3 marginals.
            assert!((6..=9).contains(&lca.tubes.len()), "{}", lca.tubes.len());
            let lm_len = lca.tubes[0].dist[2];
            assert!((8.0..13.5).contains(&lm_len), "left main {lm_len} mm");
            for t in lca.tubes.iter() {
                let (r0, r1) = (t.radius[0], *t.radius.last().unwrap());
                assert!(r0 >= r1 && r0 <= 2.2 && r1 < 0.75 + 1e-3 || t.points.len() == 3, "{r0} -> {r1}");
            }
            let rca = right_tree(&mut rng, &h);
            assert!((4..=6).contains(&rca.tubes.len()));
            assert!(rca.tubes.iter().all(|t| t.radius.windows(2).all(|w| w[1] <= w[0] + 1e-6)));
        }
    }
}
