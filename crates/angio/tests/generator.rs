//! Properties of the synthetic angiograms: determinism, balance, angles, image statistics and
//! that the six views are distinguishable.

use moreml_angio::{
    generate, render_sample, render_sample_with, Generator, RenderOptions, Task, View, ANGLE_JITTER_DEG,
};
use proptest::prelude::*;

#[test]
fn same_seed_same_pixels_whatever_the_thread_count() {
    let g = Generator::new(2, 32, 11, Task::View).unwrap();
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| g.generate());
    let many = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap().install(|| g.generate());
    assert_eq!(one.images, many.images);
    assert_eq!(one.labels, many.labels);
    let other = Generator::new(2, 32, 12, Task::View).unwrap().generate();
    let same = one.images.iter().zip(&other.images).filter(|(a, b)| a == b).count();
    assert!(same < one.images.len() / 10, "different seeds should give different images ({same} equal values)");
}

#[test]
fn images_differ_within_a_class() {
    let d = generate(3, 32, 1, Task::View).unwrap();
    let per = 32 * 32;
    let (a, b) = (&d.images[0..per], &d.images[6 * per..7 * per]); // class 0, images 0 and 1
    assert_eq!((d.labels[0], d.labels[6]), (0, 0));
    assert_ne!(a, b);
}

#[test]
fn classes_are_exactly_balanced_for_both_tasks() {
    for (task, classes) in [(Task::View, 6), (Task::Artery, 2)] {
        let d = generate(7, 16, 3, task).unwrap();
        assert_eq!(d.class_names.len(), classes);
        for c in 0..classes {
            assert_eq!(d.labels.iter().filter(|&&l| l == c).count(), 7, "{task:?} class {c}");
        }
        for (l, m) in d.labels.iter().zip(&d.meta) {
            let expected = match task {
                Task::View => d.class_names[*l].clone(),
                Task::Artery => m.view.artery().name().to_string(),
            };
            let got = if task == Task::View { m.view.name() } else { &d.class_names[*l] };
            assert_eq!(got, expected);
        }
    }
}

#[test]
fn artery_task_covers_every_view_of_each_artery() {
    let d = generate(8, 16, 5, Task::Artery).unwrap();
    for v in View::ALL {
        assert!(d.meta.iter().any(|m| m.view == v), "{v:?} missing");
    }
}

#[test]
fn angles_and_distances_stay_in_the_textbook_ranges_plus_jitter() {
    let j = ANGLE_JITTER_DEG;
    for (k, view) in View::ALL.iter().enumerate() {
        let ((p0, p1), (s0, s1)) = view.angle_ranges();
        for i in 0..200u64 {
            let (_, m) = render_sample(*view, 16, i * 7 + k as u64);
            let a = m.arm;
            assert!(a.primary_deg >= p0 - j && a.primary_deg <= p1 + j, "{view:?} primary {}", a.primary_deg);
            assert!(a.secondary_deg >= s0 - j && a.secondary_deg <= s1 + j, "{view:?} secondary {}", a.secondary_deg);
            assert!((1000.0..=1200.0).contains(&a.sid_mm) && (700.0..=800.0).contains(&a.sod_mm));
        }
    }
    // The LAO views are LAO and the RAO views RAO even after jitter.
    assert!(View::LcaLaoCaudal.angle_ranges().0 .0 - j > 0.0 && View::RcaRao.angle_ranges().0 .1 + j < 0.0);
}

/// Pixel statistics of one noise-free image with and without contrast (same geometry).
fn with_without(view: View, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let on = render_sample_with(view, 64, seed, RenderOptions { contrast: true, noise: false }).0;
    let off = render_sample_with(view, 64, seed, RenderOptions { contrast: false, noise: false }).0;
    (on, off)
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

#[test]
fn vessels_are_darker_than_the_background() {
    for (k, view) in View::ALL.iter().enumerate() {
        let (on, off) = with_without(*view, 100 + k as u64);
        assert!(on.iter().zip(&off).all(|(a, b)| a <= &(b + 1e-6)), "contrast can only darken");
        let vessel: Vec<f32> = on.iter().zip(&off).filter(|(a, b)| *b - *a > 0.08).map(|(a, _)| *a).collect();
        assert!(vessel.len() > 20 && vessel.len() < on.len() / 4, "{view:?}: {} vessel pixels", vessel.len());
        let (v, bg) = (median(vessel), median(off.clone()));
        assert!(v < bg - 0.1, "{view:?}: vessel median {v} vs background median {bg}");
    }
}

#[test]
fn images_are_in_range_textured_and_not_constant() {
    let d = generate(4, 64, 9, Task::View).unwrap();
    for img in d.images.chunks(64 * 64) {
        assert!(img.iter().all(|v| (0.0..=1.0).contains(v)), "value outside [0, 1] or NaN");
        let mean = img.iter().sum::<f32>() / img.len() as f32;
        let sd = (img.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / img.len() as f32).sqrt();
        assert!((0.15..0.85).contains(&mean), "mean {mean}");
        assert!(sd > 0.04, "standard deviation {sd}: too flat");
    }
}

/// Nearest-class-mean on held-out images: the views must be separable well above chance.
#[test]
fn views_are_separable_by_their_mean_images() {
    let (size, per) = (32, 32 * 32);
    let train = generate(40, size, 21, Task::View).unwrap();
    let test = generate(15, size, 22, Task::View).unwrap();
    let mut means = vec![0.0f32; 6 * per];
    for (img, &l) in train.images.chunks(per).zip(&train.labels) {
        means[l * per..(l + 1) * per].iter_mut().zip(img).for_each(|(m, v)| *m += v / 40.0);
    }
    let mut correct = 0;
    for (img, &l) in test.images.chunks(per).zip(&test.labels) {
        let dist =
            |c: usize| means[c * per..(c + 1) * per].iter().zip(img).map(|(m, v)| (m - v) * (m - v)).sum::<f32>();
        let best = (0..6).min_by(|&a, &b| dist(a).total_cmp(&dist(b))).unwrap();
        correct += usize::from(best == l);
    }
    let acc = correct as f32 / test.labels.len() as f32;
    assert!(acc > 0.4, "nearest-mean accuracy {acc} (chance 0.17)");
}

#[test]
fn bad_requests_are_errors() {
    assert!(Generator::new(0, 64, 0, Task::View).is_err());
    assert!(Generator::new(1, 8, 0, Task::View).is_err());
    assert!(Generator::new(1, 4096, 0, Task::View).is_err());
    assert!(Generator::new(usize::MAX / 2, 64, 0, Task::View).is_err());
    let msg = Generator::new(1, 8, 0, Task::View).unwrap_err().to_string();
    assert!(msg.contains("size 8") && msg.contains("between 16 and 2048"), "{msg}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn any_seed_and_view_gives_finite_values_in_range(seed in any::<u64>(), v in 0usize..6, size in 16usize..40) {
        let (img, m) = render_sample(View::ALL[v], size, seed);
        prop_assert_eq!(img.len(), size * size);
        prop_assert!(img.iter().all(|x| (0.0..=1.0).contains(x)));
        prop_assert!(m.fill > 0.0 && m.fill <= 1.0);
    }
}
