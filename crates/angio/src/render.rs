//! X-ray image formation: line integrals of attenuation along each detector ray, Beer-Lambert,
//! quantum noise and detector blur.
//!
//! Tubes (vessels, catheter, ribs, vertebrae) are not ray-marched: each projected segment is
//! rasterised into the pixels it covers with the analytic chord length of the pixel's ray through
//! a cylinder of the local radius. Large smooth bodies (thorax, lungs, heart, diaphragm domes) are
//! analytic ray-quadric intersections evaluated once per pixel.

use crate::anatomy::{Heart, Tube};
use crate::geometry::{v3, V3};
use crate::views::Projector;
use rand::Rng;

/// Linear attenuation coefficients (per mm, display-scaled rather than physical).
pub(crate) mod mu {
    /// Soft tissue (water-like).
    pub const TISSUE: f32 = 0.0032;
    /// Aerated lung removes this much relative to tissue.
    pub const LUNG_DEFICIT: f32 = 0.0026;
    /// Myocardium and blood over mediastinal fat.
    pub const HEART_EXCESS: f32 = 0.0018;
    /// Abdomen below the diaphragm over lung-level tissue.
    pub const ABDOMEN_EXCESS: f32 = 0.0025;
    /// Vertebral bone.
    pub const BONE: f32 = 0.007;
    /// Rib bone (thin cortical shells: fainter than vertebrae).
    pub const RIB: f32 = 0.012;
    /// Undiluted iodinated contrast in a vessel lumen.
    pub const IODINE: f32 = 0.35;
}

/// A solid bounded by a quadric, for per-pixel analytic chords.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Body {
    /// Ellipsoid with centre and three (orthogonal unit axis, semi-axis) pairs.
    Ellipsoid(V3, [(V3, f32); 3]),
    /// Infinite elliptic cylinder along z with centre and semi-axes in x and y.
    CylinderZ(V3, f32, f32),
}

impl Body {
    /// Axis-aligned ellipsoid.
    pub fn aligned(c: V3, sx: f32, sy: f32, sz: f32) -> Body {
        Body::Ellipsoid(c, [(v3(1.0, 0.0, 0.0), sx), (v3(0.0, 1.0, 0.0), sy), (v3(0.0, 0.0, 1.0), sz)])
    }

    /// The heart's ellipsoid.
    pub fn heart(h: &Heart) -> Body {
        Body::Ellipsoid(h.centre, [(h.u, h.a), (h.v, h.b), (h.l, h.b)])
    }

    /// The body seen from `source`: unit-sphere coordinates of the source and the scaled axes,
    /// so that a chord costs three dot products per ray.
    fn seen_from(&self, source: V3) -> Prepared {
        let (c, axes) = match *self {
            Body::Ellipsoid(c, ax) => (c, ax.map(|(e, s)| e * (1.0 / s))),
            Body::CylinderZ(c, sx, sy) => (c, [v3(1.0 / sx, 0.0, 0.0), v3(0.0, 1.0 / sy, 0.0), V3::default()]),
        };
        let q = source - c;
        let oo = v3(q.dot(axes[0]), q.dot(axes[1]), q.dot(axes[2]));
        Prepared { axes, oo, c: oo.dot(oo) - 1.0 }
    }

    /// Length (mm) of the line `o + t d` (unit `d`) inside the body (reference for tests).
    #[cfg(test)]
    pub fn chord(&self, o: V3, d: V3) -> f32 {
        let p = self.seen_from(o);
        chord_from(v3(d.dot(p.axes[0]), d.dot(p.axes[1]), d.dot(p.axes[2])), p.oo, p.c)
    }
}

/// A body prepared for rays from one source: the line `o + t d` meets it where
/// `|oo + t dd|^2 = 1`, with `dd` the scaled axes applied to `d`.
struct Prepared {
    axes: [V3; 3],
    oo: V3,
    c: f32,
}

/// Chord in units of the ray parameter (branch-free, so loops over pixels vectorise).
#[inline(always)]
fn chord_from(dd: V3, oo: V3, c: f32) -> f32 {
    let a = dd.dot(dd).max(1e-12);
    let b = oo.dot(dd);
    2.0 * (b * b - a * c).max(0.0).sqrt() / a
}

/// Reusable per-thread buffers (no allocation per pixel or per segment).
#[derive(Default)]
pub(crate) struct Scratch {
    proj: Vec<(f32, f32, f32)>,
    tmp: Vec<f32>,
    kernel: Vec<f32>,
}

/// Adds `coeff(dist) * chord` for every pixel ray crossing the tube into `acc` (`size` x `size`).
///
/// Thin tubes are widened to an effective radius `sqrt(r^2 + h^2)` (h = half a pixel in object
/// millimetres) with the chord scaled by `r^2 / R^2`, which keeps the integral across the vessel
/// (pi r^2 per unit length) exact while avoiding aliasing of sub-pixel vessels.
pub(crate) fn splat_tube(
    acc: &mut [f32],
    size: usize,
    pr: &Projector,
    tube: &Tube,
    scratch: &mut Scratch,
    coeff: impl Fn(f32) -> f32,
) {
    scratch.proj.clear();
    scratch.proj.extend(tube.points.iter().map(|&p| pr.project(p)));
    let lim = size as f32;
    for i in 0..tube.points.len().saturating_sub(1) {
        let c = coeff(0.5 * (tube.dist[i] + tube.dist[i + 1]));
        if c <= 0.0 {
            continue;
        }
        let ((x0, y0, m0), (x1, y1, m1)) = (scratch.proj[i], scratch.proj[i + 1]);
        let mag = 0.5 * (m0 + m1);
        let obj_per_px = pr.pitch / mag;
        let r = 0.5 * (tube.radius[i] + tube.radius[i + 1]);
        let h = 0.5 * obj_per_px;
        let re2 = r * r + h * h;
        let scale = c * r * r / re2;
        let rpx = re2.sqrt() / obj_per_px;
        let (bx0, bx1) = (x0.min(x1) - rpx, x0.max(x1) + rpx);
        let (by0, by1) = (y0.min(y1) - rpx, y0.max(y1) + rpx);
        if bx1 < 0.0 || by1 < 0.0 || bx0 >= lim || by0 >= lim {
            continue;
        }
        let seg = tube.points[i + 1] - tube.points[i];
        let len3 = seg.norm();
        let ray = (tube.points[i] + seg * 0.5 - pr.source).unit();
        let sin = if len3 > 1e-6 { (seg * (1.0 / len3)).cross(ray).norm().max(0.2) } else { 1.0 };
        let cap = len3 + 2.0 * re2.sqrt();
        let (ex, ey) = (x1 - x0, y1 - y0);
        let len2 = ex * ex + ey * ey;
        let inv_len2 = if len2 > 1e-9 { 1.0 / len2 } else { 0.0 };
        let rpx2 = rpx * rpx;
        let k2 = obj_per_px * obj_per_px;
        let (cx0, cx1) = (bx0.max(0.0) as usize, (bx1.ceil().max(0.0) as usize).min(size));
        let (cy0, cy1) = (by0.max(0.0) as usize, (by1.ceil().max(0.0) as usize).min(size));
        for py in cy0..cy1 {
            let qy = py as f32 + 0.5 - y0;
            let row = &mut acc[py * size..(py + 1) * size];
            for (px, a) in row.iter_mut().enumerate().take(cx1).skip(cx0) {
                let qx = px as f32 + 0.5 - x0;
                let s = (qx * ex + qy * ey) * inv_len2;
                if !(0.0..1.0).contains(&s) {
                    continue;
                }
                let (dx, dy) = (qx - s * ex, qy - s * ey);
                let d2 = dx * dx + dy * dy;
                if d2 < rpx2 {
                    let chord = (2.0 * (re2 - d2 * k2).max(0.0).sqrt() / sin).min(cap);
                    *a += scale * chord;
                }
            }
        }
    }
}

/// Adds `coeff * chord` through each body for every pixel ray.
///
/// The ray to pixel `(col, row)` is `d = dir * sid + right * du + up * dv` (not normalised), so
/// each body's scaled-axis coordinates of `d` are affine in `du` and `dv`: one multiply-add per
/// axis per pixel, and `|d|` turns the chord parameter into millimetres.
pub(crate) fn add_bodies(acc: &mut [f32], size: usize, pr: &Projector, bodies: &[(Body, f32)]) {
    let offset = |i: usize| (i as f32 + 0.5 - pr.half) * pr.pitch;
    for (body, coeff) in bodies {
        let p = body.seen_from(pr.source);
        let along = |e: V3| (pr.dir.dot(e) * pr.sid, pr.right.dot(e), pr.up.dot(e));
        let (a0, a1, a2) = (along(p.axes[0]), along(p.axes[1]), along(p.axes[2]));
        for (row, line) in acc.chunks_exact_mut(size).enumerate() {
            let dv = -offset(row);
            let base = v3(a0.0 + a0.2 * dv, a1.0 + a1.2 * dv, a2.0 + a2.2 * dv);
            let len2 = pr.sid * pr.sid + dv * dv;
            for (col, a) in line.iter_mut().enumerate() {
                let du = offset(col);
                let dd = v3(base.x + a0.1 * du, base.y + a1.1 * du, base.z + a2.1 * du);
                *a += coeff * chord_from(dd, p.oo, p.c) * (len2 + du * du).sqrt();
            }
        }
    }
}

/// One standard normal draw (Box-Muller).
fn normal<R: Rng>(rng: &mut R) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// One Poisson draw with mean `lambda`: exact (Knuth) below 30, normal approximation above.
pub(crate) fn poisson<R: Rng>(rng: &mut R, lambda: f32) -> f32 {
    if lambda < 30.0 {
        let limit = (-lambda).exp();
        let (mut k, mut p) = (0u32, rng.random::<f32>());
        while p > limit {
            k += 1;
            p *= rng.random::<f32>();
        }
        k as f32
    } else {
        (lambda + lambda.sqrt() * normal(rng)).max(0.0)
    }
}

/// Separable Gaussian blur with standard deviation `sigma` pixels (edges clamped).
pub(crate) fn blur(img: &mut [f32], size: usize, sigma: f32, scratch: &mut Scratch) {
    let radius = (3.0 * sigma).ceil() as isize;
    scratch.kernel.clear();
    scratch.kernel.extend((-radius..=radius).map(|k| (-(k * k) as f32 / (2.0 * sigma * sigma)).exp()));
    let total: f32 = scratch.kernel.iter().sum();
    scratch.kernel.iter_mut().for_each(|w| *w /= total);
    scratch.tmp.resize(img.len(), 0.0);
    let last = size as isize - 1;
    let at = |i: isize| i.clamp(0, last) as usize;
    let (kernel, tmp) = (&scratch.kernel, &mut scratch.tmp);
    for y in 0..size {
        let row = &img[y * size..(y + 1) * size];
        for x in 0..size {
            let taps = kernel.iter().enumerate().map(|(j, w)| w * row[at(x as isize + j as isize - radius)]);
            tmp[y * size + x] = taps.sum();
        }
    }
    for y in 0..size {
        for x in 0..size {
            let taps = kernel.iter().enumerate().map(|(j, w)| w * tmp[at(y as isize + j as isize - radius) * size + x]);
            img[y * size + x] = taps.sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sphere_chord_through_centre_is_the_diameter() {
        let b = Body::aligned(V3::default(), 10.0, 10.0, 10.0);
        assert!((b.chord(v3(0.0, -100.0, 0.0), v3(0.0, 1.0, 0.0)) - 20.0).abs() < 1e-3);
        assert_eq!(b.chord(v3(11.0, -100.0, 0.0), v3(0.0, 1.0, 0.0)), 0.0);
        let cyl = Body::CylinderZ(V3::default(), 30.0, 20.0);
        assert!((cyl.chord(v3(0.0, -100.0, 5.0), v3(0.0, 1.0, 0.0)) - 40.0).abs() < 1e-3);
    }

    #[test]
    fn per_pixel_bodies_match_the_reference_chord() {
        use crate::views::{CArm, Projector};
        let arm = CArm { primary_deg: 35.0, secondary_deg: -20.0, sid_mm: 1100.0, sod_mm: 750.0 };
        let pr = Projector::new(&arm, v3(3.0, -2.0, 1.0), 220.0, 16);
        let bodies = [
            (Body::aligned(v3(10.0, 5.0, -8.0), 60.0, 45.0, 50.0), 1.0),
            (Body::CylinderZ(v3(-20.0, 40.0, 0.0), 150.0, 100.0), 0.5),
        ];
        let mut acc = vec![0.0f32; 16 * 16];
        add_bodies(&mut acc, 16, &pr, &bodies);
        for (i, got) in acc.iter().enumerate() {
            let d = pr.ray((i % 16) as f32 + 0.5, (i / 16) as f32 + 0.5);
            let want: f32 = bodies.iter().map(|(b, c)| c * b.chord(pr.source, d)).sum();
            assert!((got - want).abs() <= 1e-3 * want.max(1.0), "pixel {i}: {got} vs {want}");
        }
        assert!(acc.iter().any(|&a| a > 150.0), "the ellipsoid should be hit");
    }

    #[test]
    fn poisson_mean_and_variance_match() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for lambda in [4.0f32, 100.0] {
            let xs: Vec<f32> = (0..20000).map(|_| poisson(&mut rng, lambda)).collect();
            let m = xs.iter().sum::<f32>() / xs.len() as f32;
            let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / xs.len() as f32;
            assert!((m - lambda).abs() < 0.05 * lambda, "mean {m} for {lambda}");
            assert!((v - lambda).abs() < 0.1 * lambda, "variance {v} for {lambda}");
        }
    }

    #[test]
    fn blur_preserves_a_constant_and_the_mean() {
        let mut s = Scratch::default();
        let mut img = vec![0.5f32; 16 * 16];
        blur(&mut img, 16, 1.0, &mut s);
        assert!(img.iter().all(|v| (v - 0.5).abs() < 1e-5));
        let mut img = vec![0.0f32; 16 * 16];
        img[8 * 16 + 8] = 1.0;
        blur(&mut img, 16, 1.0, &mut s);
        assert!((img.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!(img[8 * 16 + 8] < 0.5 && img[8 * 16 + 9] > 0.0);
    }
}
