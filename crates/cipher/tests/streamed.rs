//! Streamed writes (data larger than memory): any split of the values into pieces gives a
//! file the readers load exactly as the one-shot writers' file; a stream that does not match
//! its table of contents fails and leaves nothing behind.

use moreml_cipher::format;
use moreml_cipher::prelude::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn key() -> KeyTag {
    KeyTag { key_id: "test-key".into(), basis: PublicBasis::new([0.6, 0.8, 0.8, -0.6]).unwrap() }
}

fn values(n: usize, seed: u64) -> Vec<f64> {
    (0..n).map(|i| ((i as u64 * 7919 + seed) % 1000) as f64 / 37.0 - 13.0).collect()
}

/// Pushes `all` in pieces of the given sizes (cycled), then the rest.
fn push_in_pieces(sink: &mut format::TensorSink<'_, f64>, all: &[f64], pieces: &[usize]) -> moreml_cipher::Result<()> {
    let mut at = 0;
    for &p in pieces.iter().cycle().take(all.len()) {
        let end = (at + p).min(all.len());
        sink.push(&all[at..end])?;
        at = end;
        if at == all.len() {
            break;
        }
    }
    sink.push(&all[at..])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn streamed_files_read_as_one_shot_files(
        shapes in prop::collection::vec(prop::collection::vec(0usize..5, 0..3), 1..4),
        pieces in prop::collection::vec(0usize..9, 1..5),
        seed in 0u64..100,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let tensors: Vec<(String, Vec<usize>)> =
            shapes.iter().enumerate().map(|(i, s)| (format!("t{i}"), s.clone())).collect();
        let mut extra = BTreeMap::new();
        extra.insert("moreml.note".to_string(), "streamed".to_string());

        // Plaintext.
        let plain: Vec<(String, PlainTensor<f64>)> = tensors
            .iter()
            .map(|(n, s)| (n.clone(), PlainTensor::from_vec(s, values(s.iter().product(), seed)).unwrap()))
            .collect();
        let all: Vec<f64> = plain.iter().flat_map(|(_, t)| t.values().to_vec()).collect();
        let path = dir.path().join("p.safetensors");
        format::write_plain_streamed(&path, &extra, &tensors, |sink| push_in_pieces(sink, &all, &pieces)).unwrap();
        let read = format::read_plain::<f64>(&path).unwrap();
        prop_assert_eq!(&read.tensors, &plain);
        prop_assert_eq!(&read.extra, &extra);

        // Ciphertext (wire layout, 4 scalars per value).
        let b = key().basis;
        let cipher: Vec<(String, WireCiphertext<f64>)> = tensors
            .iter()
            .map(|(n, s)| {
                let raw = values(s.iter().product(), seed).iter().flat_map(|&m| b.from_coords(m, m / 3.0 + 1.0)).collect();
                (n.clone(), WireCiphertext::from_vec(s, raw).unwrap())
            })
            .collect();
        let all: Vec<f64> = cipher.iter().flat_map(|(_, t)| t.raw().to_vec()).collect();
        let path = dir.path().join("c.safetensors");
        format::write_cipher_streamed(&path, &key(), &extra, &tensors, |sink| push_in_pieces(sink, &all, &pieces))
            .unwrap();
        let read = format::read_cipher::<f64>(&path).unwrap();
        prop_assert_eq!(&read.tensors, &cipher);
        prop_assert_eq!(&read.key, &key());
        prop_assert_eq!(&read.extra, &extra);
    }
}

#[test]
fn short_long_or_failed_streams_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.safetensors");
    let tensors = vec![("a".to_string(), vec![2, 3]), ("b".to_string(), vec![4])];
    let extra = BTreeMap::new();
    let short =
        format::write_plain_streamed::<f64, moreml_cipher::Error>(&path, &extra, &tensors, |s| s.push(&[1.0; 9]));
    assert!(short.unwrap_err().to_string().contains("tensor 'b' is 1 value(s) short"));
    let long =
        format::write_plain_streamed::<f64, moreml_cipher::Error>(&path, &extra, &tensors, |s| s.push(&[1.0; 11]));
    assert!(long.unwrap_err().to_string().contains("1 value(s) past the last tensor"));
    let failed = format::write_plain_streamed::<f64, moreml_cipher::Error>(&path, &extra, &tensors, |s| {
        s.push(&[1.0; 3])?;
        Err(moreml_cipher::Error::Io { path: "x".into(), source: std::io::Error::other("producer failed") })
    });
    assert!(failed.is_err());
    let twice = vec![("a".to_string(), vec![1]), ("a".to_string(), vec![1])];
    assert!(format::write_plain_streamed::<f64, moreml_cipher::Error>(&path, &extra, &twice, |s| s.push(&[1.0; 2]))
        .is_err());
    // Nothing was written: neither the file nor a temporary next to it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
