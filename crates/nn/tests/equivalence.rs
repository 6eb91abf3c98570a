//! Decrypted encrypted training equals plaintext training, layer kind by layer kind.

use moreml_cipher::prelude::*;
use moreml_more::{KeyParams, SecretKey};
use moreml_nn::{learner, Activation, LayerConfig, LossKind, Model, ModelConfig, TrainConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::{ChaCha20Rng, ChaCha8Rng};

/// Smooth synthetic "images" in [0, 1] with many exact zeros, and one-hot labels.
fn data(n: usize, side: usize, classes: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = vec![0.0; n * side * side];
    let mut t = vec![0.0; n * classes];
    for i in 0..n {
        let label = rng.random_range(0..classes);
        t[i * classes + label] = 1.0;
        let (cy, cx) =
            (side as f64 * (0.3 + 0.1 * label as f64 / classes as f64), side as f64 * rng.random_range(0.3..0.7));
        for y in 0..side {
            for xx in 0..side {
                let d = ((y as f64 - cy).powi(2) + (xx as f64 - cx).powi(2)).sqrt();
                let v = 1.0 - d / (side as f64 * 0.35);
                x[(i * side + y) * side + xx] = if v > 0.0 { v } else { 0.0 };
            }
        }
    }
    (x, t)
}

fn run(cfg: ModelConfig, epochs: usize) -> (f64, f64) {
    let side = cfg.input[0].min(28);
    let n = 96;
    let side_len: usize = cfg.input.iter().product();
    let (x, t) = data(n, (side_len as f64).sqrt() as usize, 4, 3);
    let key = SecretKey::generate_with_rng(KeyParams::default(), &mut ChaCha20Rng::seed_from_u64(11)).unwrap();
    let basis = key.tag().basis;
    let px = PlainTensor::from_vec(&[n, side_len], x).unwrap();
    let pt = PlainTensor::from_vec(&[n, 4], t).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let cx = CipherTensor::from_wire(&key.encrypt_with_rng(&px, &mut rng).unwrap(), &basis, "x").unwrap();
    let ct = CipherTensor::from_wire(&key.encrypt_with_rng(&pt, &mut rng).unwrap(), &basis, "t").unwrap();
    let train = TrainConfig { epochs, batch_size: 16, lr: 0.05, momentum: 0.9, seed: 9 };
    let mut plain = Model::<PlainTensor<f64>>::new(cfg.clone()).unwrap();
    let mut cipher = Model::<CipherTensor<f64>>::new(cfg).unwrap();
    for e in 0..epochs {
        learner::train_epoch(&mut plain, &px, &pt, &train, e, None).unwrap();
        learner::train_epoch(&mut cipher, &cx, &ct, &train, e, None).unwrap();
    }
    let py = plain.predict(&px, 32).unwrap();
    let cy = key.decrypt(&cipher.predict(&cx, 32).unwrap().to_wire(&basis)).unwrap().values;
    let scale = py.values().iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = py.values().iter().zip(cy.values()).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    // Largest hidden value among the weights: the shadow network must stay bounded.
    let r_max = cipher
        .named_params()
        .iter()
        .map(|(_, w)| key.hidden_values(&w.to_wire(&basis)).values().iter().fold(0.0f64, |m, v| m.max(v.abs())))
        .fold(0.0, f64::max);
    let _ = side;
    (diff / scale, r_max)
}

#[test]
fn mlp_square_softmax() {
    let (rel, r_max) = run(ModelConfig::mlp(64, 16, 4), 2);
    assert!(rel < 1e-9, "relative difference {rel:e}");
    assert!(r_max < 100.0, "hidden side of the weights grew to {r_max}");
}

#[test]
fn cnn_avgpool_mse() {
    let mut cfg = ModelConfig::cnn(12, 3, 8, 4);
    cfg.loss = LossKind::Mse;
    let (rel, _) = run(cfg, 1);
    assert!(rel < 1e-9, "relative difference {rel:e}");
}

#[test]
fn maxpool_relu_newton_sigmoid_poly() {
    let cfg = ModelConfig {
        input: vec![10, 10, 1],
        layers: vec![
            LayerConfig::Conv2d { out_channels: 2, kernel: 3, stride: 1 },
            LayerConfig::Act { f: Activation::ReluNewton },
            LayerConfig::MaxPool { size: 2 },
            LayerConfig::Flatten,
            LayerConfig::Dense { out: 6 },
            LayerConfig::Act { f: Activation::Sigmoid },
            LayerConfig::Dense { out: 6 },
            LayerConfig::Act { f: Activation::ReluPoly { range: 4.0 } },
            LayerConfig::Dense { out: 4 },
        ],
        loss: LossKind::SoftmaxCrossEntropy,
        seed: 3,
        label_smoothing: 0.0,
    };
    let (rel, _) = run(cfg, 1);
    assert!(rel < 1e-8, "relative difference {rel:e}");
}
