//! One angiogram: sample the anatomy and the C-arm, then form the image.

use crate::anatomy::{catheter, left_tree, ribs, right_tree, vertebrae, Heart};
use crate::geometry::v3;
use crate::render::{add_bodies, blur, mu, poisson, splat_tube, Body, Scratch};
use crate::views::{Artery, CArm, Projector, View, ANGLE_JITTER_DEG};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;

/// What one image shows (written to `labels.csv`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleMeta {
    /// The projection class.
    pub view: View,
    /// C-arm angles and distances actually used (after jitter).
    pub arm: CArm,
    /// Fraction of the tree reached by the contrast front (1 = fully opacified).
    pub fill: f32,
    /// Contrast concentration relative to nominal.
    pub contrast: f32,
    /// Number of rendered vessel segments (left main, main branches and side branches).
    pub vessels: usize,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Uniform in `[lo, hi]` (a point when `lo == hi`).
fn uniform(rng: &mut ChaCha8Rng, (lo, hi): (f32, f32)) -> f32 {
    if hi > lo {
        rng.random_range(lo..=hi)
    } else {
        lo
    }
}

/// Which parts of the image formation to run (all on by default); switching parts off keeps the
/// geometry of a seed, so two renders differ only in the switched part (e.g. vessel masks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// Contrast in the coronary tree and the catheter.
    pub contrast: bool,
    /// Quantum noise.
    pub noise: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { contrast: true, noise: true }
    }
}

/// Renders one `size` x `size` angiogram of `view` from `seed`: values in [0, 1], row-major.
pub fn render_sample(view: View, size: usize, seed: u64) -> (Vec<f32>, SampleMeta) {
    render_sample_with(view, size, seed, RenderOptions::default())
}

/// [`render_sample`] with parts of the image formation switched off.
pub fn render_sample_with(view: View, size: usize, seed: u64, opts: RenderOptions) -> (Vec<f32>, SampleMeta) {
    let rng = &mut ChaCha8Rng::seed_from_u64(seed);
    let (pr_range, sec_range) = view.angle_ranges();
    let j = (-ANGLE_JITTER_DEG, ANGLE_JITTER_DEG);
    let arm = CArm {
        primary_deg: uniform(rng, pr_range) + uniform(rng, j),
        secondary_deg: uniform(rng, sec_range) + uniform(rng, j),
        sid_mm: rng.random_range(1000.0..=1200.0),
        sod_mm: rng.random_range(700.0..=800.0),
    };

    // Anatomy, relative to the heart centre near the origin.
    let hc = v3(rng.random_range(-8.0..8.0), rng.random_range(-8.0..8.0), rng.random_range(-8.0..8.0));
    let heart = Heart::random(rng, hc);
    let tree = match view.artery() {
        Artery::Lca => left_tree(rng, &heart),
        Artery::Rca => right_tree(rng, &heart),
    };
    let spine = v3(hc.x - rng.random_range(30.0..45.0), hc.y + rng.random_range(75.0..95.0), 0.0);
    let cath = catheter(rng, &tree, spine);
    let thorax = v3(spine.x, spine.y - rng.random_range(55.0..70.0), 0.0);
    let (half_w, half_d) = (rng.random_range(145.0..170.0), rng.random_range(95.0..115.0));
    let spine_parts = vertebrae(rng, spine);
    let rib_arcs = ribs(rng, thorax, half_w - 12.0, half_d - 10.0);
    let lung = |side: f32, rng: &mut ChaCha8Rng| {
        let c = v3(spine.x + side * rng.random_range(80.0..95.0), spine.y - 45.0, hc.z + rng.random_range(50.0..70.0));
        Body::aligned(c, rng.random_range(55.0..65.0), 75.0, 140.0)
    };
    let dome = |side: f32, top: f32, rng: &mut ChaCha8Rng| {
        let r = rng.random_range(130.0..160.0);
        Body::aligned(v3(spine.x + side * 65.0, spine.y - 55.0, hc.z + top - r), r, r, r)
    };
    let bodies = [
        (Body::CylinderZ(thorax, half_w, half_d), mu::TISSUE),
        (lung(1.0, rng), -mu::LUNG_DEFICIT),
        (lung(-1.0, rng), -mu::LUNG_DEFICIT),
        (Body::heart(&heart), mu::HEART_EXCESS),
        (dome(-1.0, -rng.random_range(20.0..40.0), rng), mu::ABDOMEN_EXCESS),
        (dome(1.0, -rng.random_range(45.0..65.0), rng), mu::ABDOMEN_EXCESS),
    ];

    // Contrast: concentration and (in some frames) a partial filling front.
    let contrast = rng.random_range(0.75..1.15);
    let max_dist = tree.tubes.iter().flat_map(|t| t.dist.last()).fold(0.0f32, |a, &b| a.max(b));
    let fill = if rng.random::<f32>() < 0.3 { rng.random_range(0.35..0.85) } else { 1.0 };
    let front = fill * max_dist + if fill < 1.0 { 0.0 } else { 1e6 };
    let iodine = move |d: f32| mu::IODINE * contrast * ((front - d) / 10.0).clamp(0.0, 1.0);

    // The operator pans the table to centre the injected tree.
    let (sum, count) =
        tree.tubes.iter().flat_map(|t| &t.points).fold((v3(0.0, 0.0, 0.0), 0.0), |(s, n), &p| (s + p, n + 1.0));
    let centroid = sum * (1.0 / count);
    let jitter = v3(rng.random_range(-10.0..10.0), rng.random_range(-10.0..10.0), rng.random_range(-10.0..10.0));
    let iso = (hc + centroid) * 0.5 + jitter;
    let pr = Projector::new(&arm, iso, rng.random_range(165.0..195.0), size);
    let n0 = rng.random_range(250.0..900.0f32);
    let target = rng.random_range(0.45..0.6f32);
    let (gx, gy) = (rng.random_range(-0.15..0.15f32), rng.random_range(-0.15..0.15f32));
    let sigma = (rng.random_range(0.6..1.2f32) / pr.pitch).max(0.5);

    let mut img = vec![0.0f32; size * size];
    SCRATCH.with_borrow_mut(|scratch| {
        add_bodies(&mut img, size, &pr, &bodies);
        for b in &spine_parts {
            splat_tube(&mut img, size, &pr, b, scratch, |_| mu::BONE);
        }
        for b in &rib_arcs {
            splat_tube(&mut img, size, &pr, b, scratch, |_| mu::RIB);
        }
        // Automatic brightness control: the tube output follows the patient's attenuation so the
        // mean detector signal (before contrast arrives) sits at `target`.
        let sampled: Vec<f32> = img.iter().step_by(7).map(|a| (-a).exp()).collect();
        let abc = target / (sampled.iter().sum::<f32>() / sampled.len() as f32).max(1e-6);
        if opts.contrast {
            splat_tube(&mut img, size, &pr, &cath, scratch, |_| mu::IODINE * contrast * 0.7);
            for t in &tree.tubes {
                splat_tube(&mut img, size, &pr, t, scratch, iodine);
            }
        }
        let inv = 1.0 / size as f32;
        for (i, a) in img.iter_mut().enumerate() {
            let (x, y) = ((i % size) as f32 * inv - 0.5, (i / size) as f32 * inv - 0.5);
            let expected = n0 * abc * (1.0 + gx * x + gy * y) * (-*a).exp();
            *a = if opts.noise { poisson(rng, expected) / n0 } else { expected / n0 };
        }
        blur(&mut img, size, sigma, scratch);
    });
    img.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
    let meta = SampleMeta { view, arm, fill, contrast, vessels: tree.tubes.len() };
    (img, meta)
}
