use moreml_cipher::prelude::*;
use moreml_nn::{learner, Model, ModelConfig, TrainConfig};
fn main() {
    let d = moreml_datasets::Mnist::load(std::path::Path::new("/work/shared/data/mnist")).unwrap().subset(10000, 2000);
    let x = PlainTensor::<f64>::from_vec(&[10000, 784], d.train_images_normalized()).unwrap();
    let t = PlainTensor::<f64>::from_vec(&[10000, 10], d.train_one_hot()).unwrap();
    let xt = PlainTensor::<f64>::from_vec(&[2000, 784], d.test_images_normalized()).unwrap();
    let args: Vec<f64> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (lr, mom) = (args[0], args[1]);
    let cfg = ModelConfig::mlp(784, 128, 10);
    let tc = TrainConfig { epochs: 1, batch_size: 64, lr, momentum: mom, seed: 1 };
    let mut a = Model::<PlainTensor<f64>>::new(cfg.clone()).unwrap();
    let mut b = Model::<PlainTensor<f64>>::new(cfg.clone()).unwrap();
    // perturb b's input by 1 ulp-ish: scale inputs by (1+1e-15)
    let xb = x.scale(1.0 + 1e-15);
    for e in 0..1 {
        learner::train_epoch(&mut a, &x, &t, &tc, e, None).unwrap();
        learner::train_epoch(&mut b, &xb, &t, &tc, e, None).unwrap();
    }
    let ya = a.predict(&xt, 500).unwrap();
    let yb = b.predict(&xt, 500).unwrap();
    let m = ya.values().iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let d = ya.values().iter().zip(yb.values()).fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
    println!("lr {lr} mom {mom}: rel diff from 1e-15 input perturbation: {:.3e}", d / m);
}
