//! A and B are exact (to rounding) over random keys and values.
mod common;
use common::*;
use moreml_cryptanalysis::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn a_and_b_exact(seed in any::<u64>(), ms in prop::collection::vec(-10.0f64..10.0, 2..40), r0 in -10.0f64..10.0) {
        let mut g = rng(seed);
        let key = keygen(&mut g, 10.0);
        let rs: Vec<f64> = uniform_r(&mut g, ms.len(), -10.0, 10.0);
        // the known pair must have m != r (else it is a multiple of I)
        prop_assume!((ms[0] - r0).abs() > 0.1);
        let mut rs = rs; rs[0] = r0;
        let cts = key.encrypt(&ms, &rs);
        let honest = max_abs(&key.decrypt(&cts), &ms);
        let a = linear_known_pair(ms[0], &cts[..4], &cts).unwrap();
        let b = known_pair(ms[0], &cts[..4], &cts).unwrap();
        let scale = ms.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        // error bound: a few hundred ulps of the data scale times cond(S)^2 (and the reference's m-r gap)
        let tol = 1e-12 * scale * 10.0 / (ms[0] - r0).abs().min(1.0);
        prop_assert!(max_abs(&a.recovered, &ms) <= tol.max(100.0 * honest), "A err {} honest {}", max_abs(&a.recovered, &ms), honest);
        prop_assert!(max_abs(&b.recovered, &ms) <= tol.max(100.0 * honest), "B err {} honest {}", max_abs(&b.recovered, &ms), honest);
    }
}
