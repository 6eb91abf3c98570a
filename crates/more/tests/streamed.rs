//! Streamed encryption of mapped files (data sets larger than memory): whatever the chunk
//! size, the file decrypts to the plaintext, the hidden values follow the key's distributions
//! over the whole data set (not per chunk), and bad input fails without leaving a file.

mod common;

use moreml_cipher::format::{self, PlainFile, Role, Roles};
use moreml_cipher::mapped::MappedFile;
use moreml_cipher::prelude::*;
use moreml_more::RDistribution;
use std::collections::BTreeMap;
use std::path::Path;

const N: usize = 1000;
const FEATURES: usize = 7;

/// `inputs` [N, 7] (feature f in [10 f, 10 f + 1]), one-hot `labels` [N, 3] declared as
/// targets, and a 0-d `scale`.
fn write_data(path: &Path, poison: Option<usize>) -> BTreeMap<String, String> {
    let mut x: Vec<f64> =
        (0..N * FEATURES).map(|i| 10.0 * (i % FEATURES) as f64 + ((i * 7919) % 1000) as f64 / 1000.0).collect();
    if let Some(at) = poison {
        x[at] = f64::NAN;
    }
    let labels: Vec<f64> = (0..N * 3).map(|i| f64::from(u8::from(i % 3 == (i / 3) % 3))).collect();
    let mut extra = BTreeMap::new();
    let mut roles = Roles::default();
    roles.set("inputs", Role::Input);
    roles.set("labels", Role::Target);
    roles.insert_into(&mut extra);
    let file = PlainFile {
        tensors: vec![
            ("inputs".into(), PlainTensor::from_vec(&[N, FEATURES], x).unwrap()),
            ("labels".into(), PlainTensor::from_vec(&[N, 3], labels).unwrap()),
            ("scale".into(), PlainTensor::from_vec(&[], vec![2.5]).unwrap()),
        ],
        extra: extra.clone(),
    };
    format::write_plain(path, &file).unwrap();
    extra
}

#[test]
fn any_chunk_size_decrypts_to_the_plaintext_with_whole_data_set_hidden_values() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("plain.safetensors");
    let extra = write_data(&input, None);
    let plain = format::read_plain::<f64>(&input).unwrap();
    let key = common::key(3, 10.0, RDistribution::default());
    for chunk in [1, 7, 256, 333, N, 10 * N] {
        let output = dir.path().join(format!("enc{chunk}.safetensors"));
        let map = MappedFile::open(&input).unwrap();
        let mut last = 0;
        key.encrypt_mapped::<f64>(&map, &extra, &output, chunk, |done| last = done).unwrap();
        assert_eq!(last, N * FEATURES + N * 3 + 1, "progress ends at every value");
        let cipher = format::read_cipher::<f64>(&output).unwrap();
        assert_eq!(cipher.extra, extra);
        let (back, _) = key.decrypt_file(&cipher).unwrap();
        for ((name, got), (_, want)) in back.tensors.iter().zip(&plain.tensors) {
            for (g, w) in got.values().iter().zip(want.values()) {
                assert!(common::within(*g, *w, 1e-12 * w.abs().max(1.0)), "chunk {chunk}, {name}: {g} vs {w}");
            }
        }
        // Inputs: r from the histogram of the whole column (feature f in [10 f, 10 f + 1]),
        // whatever the chunk: a per-chunk histogram of 1-record chunks would be a point.
        let wire = |name: &str| cipher.get(name, &output).unwrap();
        let r = key.hidden_values(wire("inputs"));
        let mut spread = [(f64::INFINITY, f64::NEG_INFINITY); FEATURES];
        for (i, v) in r.values().iter().enumerate() {
            let f = i % FEATURES;
            assert!((10.0 * f as f64 - 0.02..10.0 * f as f64 + 1.02).contains(v), "chunk {chunk}: r {v} feature {f}");
            spread[f] = (spread[f].0.min(*v), spread[f].1.max(*v));
        }
        assert!(spread.iter().all(|(lo, hi)| hi - lo > 0.5), "chunk {chunk}: {spread:?}");
        // ... and independent of the record's own value (a histogram of the chunk alone would
        // give r within the jitter of m for 1-record chunks).
        let x = plain.tensors.iter().find(|(n, _)| n == "inputs").unwrap().1.values();
        let close = r.values().iter().zip(x).filter(|(r, m)| (*r - *m).abs() < 0.02).count();
        assert!(close < N * FEATURES / 5, "chunk {chunk}: {close} hidden values next to their plaintext");
        // Targets: record-level r, so every hidden row sums to 1 like a one-hot label.
        let r = key.hidden_values(wire("labels"));
        for row in r.values().chunks_exact(3) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9, "chunk {chunk}: {row:?}");
        }
    }
}

#[test]
fn non_finite_values_fail_naming_the_tensor_and_index_and_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("plain.safetensors");
    let extra = write_data(&input, Some(999 * FEATURES + 4));
    let key = common::key(4, 10.0, RDistribution::default());
    let output = dir.path().join("enc.safetensors");
    let map = MappedFile::open(&input).unwrap();
    let err = key.encrypt_mapped::<f64>(&map, &extra, &output, 64, |_| {}).unwrap_err().to_string();
    assert!(err.contains("inputs") && err.contains(&(999 * FEATURES + 4).to_string()), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only the input remains");
}

#[test]
fn record_level_draws_do_not_depend_on_the_chunking() {
    use rand::SeedableRng;
    let labels: Vec<f64> = (0..N * 3).map(|i| f64::from(u8::from(i % 3 == (i / 7) % 3))).collect();
    let x = PlainTensor::from_vec(&[N, 3], labels).unwrap();
    let key = common::key(5, 10.0, RDistribution::default());
    let dist = RDistribution::Record { jitter: 0.01 };
    let encrypt = |chunk: usize| {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let mut wire = Vec::new();
        key.encrypt_records(&x, dist, &mut rng, chunk, |c| {
            wire.extend_from_slice(c);
            Ok(())
        })
        .unwrap();
        wire
    };
    let whole = encrypt(N);
    for chunk in [1, 7, 256, 333] {
        assert!(encrypt(chunk) == whole, "chunks of {chunk} records give other ciphertexts");
    }
}
