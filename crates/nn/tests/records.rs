//! Batch sources: training and prediction through a mapped file give bit-identical results to
//! training and prediction on the same tensors in memory, plaintext and ciphertext.

use moreml_cipher::format::{self, CipherFile, PlainFile};
use moreml_cipher::mapped::MappedFile;
use moreml_cipher::prelude::*;
use moreml_nn::records::{self, Pair, Records, Rows};
use moreml_nn::{Learner, Model, ModelConfig, TrainConfig};

const N: usize = 37; // not a multiple of the batch: the last batch is short

fn data() -> (PlainTensor<f64>, PlainTensor<f64>) {
    let x = (0..N * 6).map(|i| ((i * 37 % 101) as f64 / 101.0 - 0.5) * 0.8).collect();
    let t = (0..N * 3).map(|i| if i % 3 == (i / 3) % 3 { 1.0 } else { 0.0 }).collect();
    (PlainTensor::from_vec(&[N, 6], x).unwrap(), PlainTensor::from_vec(&[N, 3], t).unwrap())
}

fn learner<D: Domain>() -> Learner<D> {
    let cfg = TrainConfig { epochs: 2, batch_size: 8, lr: 0.05, momentum: 0.9, seed: 3 };
    Learner::new(Model::new(ModelConfig::mlp(6, 5, 3)).unwrap(), cfg).unwrap()
}

fn params<D: Domain>(l: &Learner<D>) -> Vec<(String, D)> {
    l.model().named_params().into_iter().map(|(n, p)| (n, p.clone())).collect()
}

#[test]
fn mapped_plaintext_training_equals_in_memory_training() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.safetensors");
    let (x, t) = data();
    let file =
        PlainFile { tensors: vec![("inputs".into(), x.clone()), ("targets".into(), t.clone())], ..Default::default() };
    format::write_plain(&path, &file).unwrap();
    let map = MappedFile::open(&path).unwrap();
    let (mx, mt) = (map.plain::<f64>("inputs").unwrap(), map.plain::<f64>("targets").unwrap());

    let (mut a, mut b) = (learner::<PlainTensor<f64>>(), learner::<PlainTensor<f64>>());
    a.fit(&Pair::new(&x, &t).unwrap(), |_, _| Ok(())).unwrap();
    b.fit(&Pair::new(&mx, &mt).unwrap(), |_, _| Ok(())).unwrap();
    assert_eq!(b.history().len(), 2);
    assert_eq!(b.history()[0].steps, N.div_ceil(8));
    assert_eq!(params(&a), params(&b));
    assert_ne!(params(&a), params(&learner::<PlainTensor<f64>>()), "training changed nothing");
    let (ya, yb) = (a.predict(&x, 10).unwrap(), b.predict(&mx, 10).unwrap());
    assert_eq!(ya, yb);
    assert_eq!(ya, a.model_mut().predict(&x, 7).unwrap());
}

#[test]
fn mapped_ciphertext_training_equals_in_memory_training() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.safetensors");
    let basis = PublicBasis::new([0.6, 0.8, 0.8, -0.6]).unwrap();
    let key = KeyTag { key_id: "k".into(), basis };
    // Ciphertexts with a hidden side: (a, b) = (value, small offset).
    let enc = |p: &PlainTensor<f64>| {
        let raw = p.values().iter().enumerate().flat_map(|(i, &v)| basis.from_coords(v, (i % 5) as f64 * 0.01));
        WireCiphertext::from_vec(p.shape(), raw.collect()).unwrap()
    };
    let (x, t) = data();
    let (wx, wt) = (enc(&x), enc(&t));
    let file = CipherFile {
        key: key.clone(),
        tensors: vec![("inputs".into(), wx.clone()), ("targets".into(), wt.clone())],
        extra: Default::default(),
    };
    format::write_cipher(&path, &file).unwrap();
    let cx = CipherTensor::from_wire_tagged(&wx, &key, "inputs").unwrap();
    let ct = CipherTensor::from_wire_tagged(&wt, &key, "targets").unwrap();
    let map = MappedFile::open(&path).unwrap();
    let (mx, mt) = (map.cipher::<f64>("inputs").unwrap(), map.cipher::<f64>("targets").unwrap());

    let (mut a, mut b) = (learner::<CipherTensor<f64>>(), learner::<CipherTensor<f64>>());
    a.train_epoch(&Pair::new(&cx, &ct).unwrap()).unwrap();
    b.train_epoch(&Pair::new(&mx, &mt).unwrap()).unwrap();
    assert_eq!(params(&a), params(&b));
    assert_eq!(records::predict(a.model_mut(), &cx, 9).unwrap(), records::predict(b.model_mut(), &mx, 9).unwrap());
}

#[test]
fn mismatched_and_bad_indices_are_errors() {
    let (x, t) = data();
    let short = t.gather_rows(&[0, 1]);
    let e = Pair::<PlainTensor<f64>, PlainTensor<f64>>::new(&x, &short).err().expect("mismatch refused");
    assert!(e.to_string().contains("37 input records but 2 target records"), "{e}");
    let pair = Pair::new(&x, &t).unwrap();
    assert_eq!(Records::<PlainTensor<f64>>::len(&pair), N);
    let e = pair.gather(&[3, N]).unwrap_err();
    assert!(e.to_string().contains(&format!("record {N} does not exist")), "{e}");
    let e = Rows::gather(&x, &[N + 5]).unwrap_err();
    assert!(e.to_string().contains("the data have 37 records"), "{e}");
    let mut m = Model::<PlainTensor<f64>>::new(ModelConfig::mlp(6, 5, 3)).unwrap();
    let empty = x.gather_rows(&[]);
    assert!(records::predict(&mut m, &empty, 4).unwrap_err().to_string().contains("no records"));
}
