use moreml_cipher::prelude::*;
use moreml_more::{KeyParams, SecretKey};
use moreml_nn::{Model, ModelConfig};
fn main() {
    let d = moreml_datasets::Mnist::load(std::path::Path::new("/work/shared/data/mnist")).unwrap().subset(10000, 2000);
    let x = PlainTensor::<f64>::from_vec(&[10000, 784], d.train_images_normalized()).unwrap();
    let t = PlainTensor::<f64>::from_vec(&[10000, 10], d.train_one_hot()).unwrap();
    let args: Vec<f64> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (lr, mom) = (args[0], args[1]);
    let key = SecretKey::generate(KeyParams::default()).unwrap();
    let b = key.tag().basis;
    let cx = CipherTensor::from_wire(&key.encrypt(&x).unwrap(), &b, "x").unwrap();
    let ct = CipherTensor::from_wire(&key.encrypt_targets(&t).unwrap(), &b, "t").unwrap();
    let cfg = ModelConfig::mlp(784, 128, 10);
    let mut pm = Model::<PlainTensor<f64>>::new(cfg.clone()).unwrap();
    let mut cm = Model::<CipherTensor<f64>>::new(cfg.clone()).unwrap();
    for step in 0..156 {
        let idx: Vec<usize> = (step * 64..(step + 1) * 64).collect();
        let yp = pm.train_step(x.gather_rows(&idx), &t.gather_rows(&idx), lr, mom).unwrap();
        let yc = cm.train_step(cx.gather_rows(&idx), &ct.gather_rows(&idx), lr, mom).unwrap();
        if step % 10 == 0 || step < 5 {
            let ycd = key.decrypt_unchecked(&yc.to_wire(&b)).values;
            let ycr = key.hidden_values(&yc.to_wire(&b));
            let m = yp.values().iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let mr = ycr.values().iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let dd = yp.values().iter().zip(ycd.values()).fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
            let mut wd = 0.0f64; let mut wr = 0.0f64;
            for ((_, w1), (_, w2)) in pm.named_params().iter().zip(cm.named_params()) {
                let w2d = key.decrypt_unchecked(&w2.to_wire(&b)).values;
                let w2r = key.hidden_values(&w2.to_wire(&b));
                let s = w1.values().iter().fold(0.0f64, |m, v| m.max(v.abs()));
                wd = wd.max(w1.values().iter().zip(w2d.values()).fold(0.0f64, |m, (p, q)| m.max((p - q).abs())) / s);
                wr = wr.max(w2r.values().iter().fold(0.0f64, |m, v| m.max(v.abs())));
            }
            println!("step {step}: out max {m:.2} hidden out max {mr:.2} out rel diff {:.2e} weight rel diff {wd:.2e} hidden w max {wr:.3}", dd / m);
        }
    }
}
