//! The planning API (pool, scorer, noise estimate, priors, known pairs, `run_attack`) on a
//! file-like pool: an image tensor and a non-image tensor under one key, f32 like moreml files.

mod common;
use common::*;
use moreml_cryptanalysis::*;

const H: usize = 28;
const W: usize = 28;

/// A pool of `imgs` images [n, 28, 28] and 40 values in [0, 1] (tensor `w`), encrypted under one
/// key with empirical r, stored as f32. Returns the pool and the plaintexts in pool order.
fn file_pool(seed: u64, n: usize, quantize: bool) -> (CipherPool, Vec<f64>, Key) {
    let mut g = rng(seed);
    let key = keygen(&mut g, 10.0);
    let imgs = digits(&mut g, n, H, W, quantize);
    let w: Vec<f64> = (0..40).map(|i| if quantize { (i * 6) as f64 / 255.0 } else { i as f64 / 41.0 }).collect();
    let r_img = empirical_r(&mut g, &imgs, H * W, 0.01);
    let r_w = empirical_r(&mut g, &w, 40, 0.01);
    let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32 as f64).collect::<Vec<_>>();
    let model = DataModel::default();
    let mut pool = CipherPool::new();
    let shape = [n, H, W];
    pool.push("images", &shape, f32s(key.encrypt(&imgs, &r_img)), model.image_of(&shape)).unwrap();
    pool.push("w", &[40], f32s(key.encrypt(&w, &r_w)), model.image_of(&[40])).unwrap();
    let truth = imgs.into_iter().chain(w).collect();
    (pool, truth, key)
}

#[test]
fn pool_segments_and_scorer() {
    let (pool, truth, _) = file_pool(21, 3, true);
    assert_eq!(pool.len(), 3 * 784 + 40);
    let seg = pool.segments();
    assert_eq!((seg[0].range.clone(), seg[0].image), (0..3 * 784, Some((28, 28))));
    assert_eq!((seg[1].range.clone(), seg[1].image), (3 * 784..3 * 784 + 40, None));
    assert_eq!(pool.names(), "images, w");
    assert_eq!(pool.ciphertexts(seg[1].range.clone()).map(<[f64]>::len), Some(160));
    assert_eq!(pool.ciphertexts(0..pool.len() + 1), None);
    let scorer = PoolScorer::new(&pool, (0.0, 1.0));
    assert_eq!(scorer.describe(), "image smoothness + range (1 image tensor(s)), range only (1 other)");
    // the truth scores above a shuffled copy (rough images) and above values out of range
    let mut shuffled = truth.clone();
    shuffled[..3 * 784].reverse();
    for chunk in shuffled[..3 * 784].chunks_mut(7) {
        chunk.rotate_left(3);
    }
    let shifted: Vec<f64> = truth.iter().map(|x| x + 2.0).collect();
    let (t, s, o) = (scorer.score(&truth), scorer.score(&shuffled), scorer.score(&shifted));
    assert!(t > s && t > o, "truth {t}, shuffled {s}, shifted {o}");
    // duplicate names and wrong value counts are errors, and leave the pool unchanged
    let mut p2 = pool.clone();
    assert!(matches!(p2.push("w", &[1], [0.0; 4], None), Err(AttackError::InvalidParameter { .. })));
    assert!(matches!(p2.push("v", &[2], [0.0; 4], None), Err(AttackError::InvalidParameter { .. })));
    assert_eq!(p2, pool);
}

#[test]
fn every_attack_recovers_the_pool_through_run_attack() {
    let (pool, truth, _) = file_pool(22, 4, true);
    let model = DataModel::default();
    let scorer = PoolScorer::new(&pool, model.data_range);
    let priors = EigenPriors::build(pool.cts(), &model, None).unwrap();
    assert_eq!(priors.grid, Some(PIXEL_GRID), "{priors:?}");
    // the attacker knows the first image: a prefix of tensor `images`, NaN where unknown
    let mut known: Vec<f64> = truth[..784].to_vec();
    known[5] = f64::NAN;
    let mut pairs = KnownPairs::new();
    let added = pairs.add_known(&known, pool.ciphertexts(0..784).unwrap()).unwrap();
    assert_eq!((added, pairs.len()), (783, 783));
    for attack in Attack::ALL {
        for with_pairs in [false, true] {
            let p = (with_pairs && !attack.ignores_known_pairs()).then_some(&pairs);
            let inputs = AttackInputs { pairs: p, scorer: &scorer, priors: Some(&priors) };
            let res = run_attack(attack, pool.cts(), &inputs);
            if attack.needs_known_pairs() && p.is_none() {
                assert!(matches!(res, Err(AttackError::MissingInput { .. })), "{attack:?}: {res:?}");
                continue;
            }
            let out = res.unwrap();
            assert_eq!(out.attack, attack);
            assert_eq!(
                out.known_pairs_used,
                if p.is_some() {
                    if attack == Attack::KnownPlaintext {
                        783
                    } else {
                        1
                    }
                } else {
                    0
                }
            );
            let grid = fraction_exact_on_grid(&out.recovered, &truth, PIXEL_GRID);
            // f32 storage: every value back on its 1/255 grid point (D: the rare coin flip allowed)
            let need = if attack == Attack::Eigen { 0.999 } else { 1.0 };
            assert!(grid >= need, "{attack:?} with pairs {with_pairs}: {grid} exact on the grid");
        }
    }
    // D's priors description lands in the notes
    let inputs = AttackInputs { pairs: None, scorer: &scorer, priors: Some(&priors) };
    let d = run_attack(Attack::Eigen, pool.cts(), &inputs).unwrap();
    assert_eq!(d.notes.last(), Some(&priors.description));
    let no_priors = AttackInputs { priors: None, ..inputs };
    assert!(matches!(run_attack(Attack::Eigen, pool.cts(), &no_priors), Err(AttackError::MissingInput { .. })));
    let empty = KnownPairs::new();
    let inputs = AttackInputs { pairs: Some(&empty), ..no_priors };
    for a in [Attack::Linear, Attack::KnownPair] {
        assert!(matches!(run_attack(a, pool.cts(), &inputs), Err(AttackError::MissingInput { .. })), "{a:?}");
    }
}

#[test]
fn noise_estimate_tracks_the_ciphertexts_noise() {
    let (pool, truth, key) = file_pool(23, 2, false);
    // f32 storage: eigenvalue noise ~ f32 rounding, far below the pixel grid
    let tol = estimate_eigen_noise(pool.cts());
    let honest = max_abs(&key.decrypt(pool.cts()), &truth);
    assert!(tol > 0.0 && tol < 1e-5, "tol {tol}");
    assert!(tol >= honest, "tol {tol} below the honest decryption error {honest}");
    // exact f64 ciphertexts: only the floor
    let mut g = rng(24);
    let m = uniform_r(&mut g, 200, 0.0, 1.0);
    let exact = key.encrypt(&m, &uniform_r(&mut g, 200, 0.0, 1.0));
    assert!(estimate_eigen_noise(&exact) < 1e-12);
    for sigma in [1e-6, 1e-3] {
        let noisy = add_relative_noise(&exact, sigma, 5).unwrap();
        let est = estimate_eigen_noise(&noisy);
        let err = max_abs(&key.decrypt(&noisy), &m);
        // an upper bound of the eigenvalue error, not wildly above it
        assert!(est >= err && est <= 100.0 * err, "sigma {sigma}: estimate {est}, decryption error {err}");
    }
}

#[test]
fn eigen_priors_grid_and_guesses() {
    // not on the grid: auto finds none
    let (pool, _, _) = file_pool(25, 2, false);
    let model = DataModel::default();
    assert_eq!(EigenPriors::build(pool.cts(), &model, None).unwrap().grid, None);
    // on the grid: auto finds 1/255; a given step is used as is; `Off` turns it off
    let (pool, _, _) = file_pool(26, 2, true);
    let build = |grid: Grid| EigenPriors::build(pool.cts(), &DataModel { grid, ..DataModel::default() }, None);
    assert_eq!(build(Grid::Auto).unwrap().grid, Some(PIXEL_GRID));
    assert_eq!(build(Grid::Off).unwrap().grid, None);
    assert_eq!(build(Grid::Step(0.5)).unwrap().grid, Some(0.5));
    assert!(matches!(build(Grid::Step(1e-9)), Err(AttackError::NoiseAboveGrid { step, .. }) if step == 1e-9));
    assert!(matches!(build(Grid::Step(-1.0)), Err(AttackError::InvalidParameter { .. })));
    // the description names what was used
    let public = digits(&mut rng(27), 20, H, W, true);
    let uni = DataModel { r_guess: RGuess::Uniform, r_range: (0.5, 1.5), ..DataModel::default() };
    let p = EigenPriors::build(pool.cts(), &uni, Some(&public)).unwrap();
    assert!(
        p.description.contains("histogram of 15680 public samples") && p.description.contains("uniform on [0.5, 1.5]")
    );
    assert!(p.p_r.ln_pdf(0.2) == f64::NEG_INFINITY && p.p_r.ln_pdf(1.0).is_finite());
    let emp = EigenPriors::build(pool.cts(), &model, Some(&public)).unwrap();
    assert!(emp.description.contains("empirical: 64-bin histogram"), "{}", emp.description);
    // bad guesses are errors
    let bad = |m: DataModel| EigenPriors::build(pool.cts(), &m, None).unwrap_err();
    assert!(matches!(bad(DataModel { r_jitter: -0.1, ..model.clone() }), AttackError::InvalidParameter { .. }));
    assert!(matches!(bad(DataModel { r_jitter: f64::NAN, ..model.clone() }), AttackError::InvalidParameter { .. }));
    assert!(matches!(bad(DataModel { data_range: (1.0, 0.0), ..model.clone() }), AttackError::InvalidParameter { .. }));
    let nan_public = EigenPriors::build(pool.cts(), &model, Some(&[0.5, f64::NAN]));
    assert!(matches!(nan_public, Err(AttackError::NonFinite { .. })), "{nan_public:?}");
    assert!(EigenPriors::build(pool.cts(), &model, Some(&[])).is_err());
}

#[test]
fn known_pairs_pick_the_best_conditioned_pair() {
    let mut g = rng(28);
    let key = keygen(&mut g, 10.0);
    // pair 1 has m far from r, pairs 0 and 2 nearly m == r (close to a multiple of I)
    let m = [0.5, 0.2, 0.7];
    let r = [0.5001, 0.9, 0.7002];
    let cts = key.encrypt(&m, &r);
    let mut pairs = KnownPairs::new();
    assert_eq!(pairs.best(), None);
    assert_eq!(pairs.add_known(&m, &cts).unwrap(), 3);
    let (bm, bc) = pairs.best().unwrap();
    assert_eq!((bm, bc.to_vec()), (0.2, cts[4..8].to_vec()));
    let one = pairs.best_only().unwrap();
    assert_eq!((one.plaintexts(), one.ciphertexts()), (&[0.2][..], &cts[4..8]));
    // bad input
    assert!(matches!(pairs.add_known(&m, &cts[..8]), Err(AttackError::PairCountMismatch { .. })));
    assert!(matches!(pairs.push(0.1, &cts[..3]), Err(AttackError::BadLength { len: 3, .. })));
    assert!(matches!(pairs.push(f64::INFINITY, &cts[..4]), Err(AttackError::NonFinite { .. })));
    let nan_ct = [f64::NAN, 0.0, 0.0, 1.0];
    assert!(matches!(pairs.add_known(&[0.3], &nan_ct), Err(AttackError::NonFinite { .. })));
    assert_eq!(pairs.len(), 3, "failed additions add nothing");
    // an unknown value's ciphertext is not checked: it is not used
    assert_eq!(pairs.add_known(&[f64::NAN], &nan_ct).unwrap(), 0);
}

#[test]
fn grid_and_attack_names_round_trip() {
    for g in [Grid::Auto, Grid::Off, Grid::Step(0.25)] {
        assert_eq!(g.to_string().parse::<Grid>().unwrap(), g);
    }
    for bad in ["", "zero", "0", "-0.1", "inf", "NaN"] {
        assert!(bad.parse::<Grid>().is_err(), "{bad:?}");
    }
    let names: Vec<&str> = Attack::ALL.iter().map(|a| a.name()).collect();
    assert_eq!(names, ["linear", "known-pair", "known-plaintext", "eigen", "shared-eigen"]);
    assert!(Attack::SharedEigen.uses_scorer(true) && Attack::Linear.uses_scorer(false));
    assert!(!Attack::Linear.uses_scorer(true) && !Attack::Eigen.uses_scorer(false));
}
