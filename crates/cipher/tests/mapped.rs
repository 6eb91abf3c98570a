//! Mapped tensor files: values equal the in-memory readers', and every damaged or truncated
//! file fails with exactly the error the in-memory readers give.

use moreml_cipher::format::{self, CipherFile, Kind, PlainFile};
use moreml_cipher::mapped::MappedFile;
use moreml_cipher::prelude::*;
use moreml_cipher::Error;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn basis() -> PublicBasis {
    PublicBasis::new([0.6, 0.8, 0.8, -0.6]).unwrap()
}

fn key() -> KeyTag {
    KeyTag { key_id: "test-key".into(), basis: basis() }
}

/// A plaintext file with `inputs` [n, ..row] and `targets` [n, 2].
fn write_plain<T: Float>(dir: &Path, n: usize, row: &[usize], seed: u64) -> PathBuf {
    let mut shape = vec![n];
    shape.extend(row);
    let numel: usize = shape.iter().product();
    let v = |k: usize, s: u64| (0..k).map(|i| T::of(((i as u64 * 7919 + s) % 1000) as f64 / 37.0 - 13.0)).collect();
    let x = PlainTensor::from_vec(&shape, v(numel, seed)).unwrap();
    let t = PlainTensor::from_vec(&[n, 2], v(2 * n, seed + 1)).unwrap();
    let path = dir.join(format!("p{}_{seed}.safetensors", T::NAME));
    let file = PlainFile { tensors: vec![("inputs".into(), x), ("targets".into(), t)], extra: Default::default() };
    format::write_plain(&path, &file).unwrap();
    path
}

/// A ciphertext file (valid ciphertexts of `key()`) with `inputs` [n, ..row].
fn write_cipher<T: Float>(dir: &Path, n: usize, row: &[usize], seed: u64) -> PathBuf {
    let mut shape = vec![n];
    shape.extend(row);
    let numel: usize = shape.iter().product();
    let b = basis();
    let raw: Vec<T> = (0..numel)
        .flat_map(|i| {
            let s = (i as u64 * 104_729 + seed) % 1000;
            b.from_coords(s as f64 / 100.0 - 5.0, (s % 97) as f64 / 10.0 - 4.0)
        })
        .map(T::of)
        .collect();
    let wire = WireCiphertext::from_vec(&shape, raw).unwrap();
    let path = dir.join(format!("c{}_{seed}.safetensors", T::NAME));
    let file = CipherFile { key: key(), tensors: vec![("inputs".into(), wire)], extra: Default::default() };
    format::write_cipher(&path, &file).unwrap();
    path
}

fn check_plain_equal<T: Float>(n: usize, row: &[usize], idx: &[usize], seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_plain::<T>(dir.path(), n, row, seed);
    let mem = format::read_plain::<T>(&path).unwrap();
    let map = MappedFile::open(&path).unwrap();
    assert_eq!(map.kind(), Kind::Plaintext);
    assert_eq!(map.names(), vec!["inputs", "targets"]);
    let info = format::read_info(&path).unwrap();
    assert_eq!(map.info().entries, info.entries);
    assert_eq!(map.info().bytes, info.bytes);
    for name in ["inputs", "targets"] {
        let m = map.plain::<T>(name).unwrap();
        let t = mem.get(name, &path).unwrap();
        assert_eq!(m.len(), n);
        assert_eq!(m.shape(), t.shape());
        assert_eq!(&m.to_tensor().unwrap(), t);
        assert_eq!(m.gather(idx).unwrap(), t.gather_rows(idx));
    }
}

fn check_cipher_equal<T: Float>(n: usize, row: &[usize], idx: &[usize], seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_cipher::<T>(dir.path(), n, row, seed);
    let mem = format::read_cipher::<T>(&path).unwrap();
    let map = MappedFile::open(&path).unwrap();
    assert_eq!(map.key(), Some(&key()));
    let m = map.cipher::<T>("inputs").unwrap();
    let w = mem.get("inputs", &path).unwrap();
    assert_eq!(m.shape(), w.shape());
    assert_eq!(&m.to_wire().unwrap(), w);
    let full = CipherTensor::from_wire_tagged(w, &mem.key, "inputs").unwrap();
    assert_eq!(m.gather(idx).unwrap(), full.gather_rows(idx));
    m.verify(|_| {}).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn mapped_plain_reads_equal_in_memory_reads(
        n in 1usize..40,
        row in prop::collection::vec(1usize..5, 0..3),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..50),
        seed in 0u64..1000,
        f64_file in any::<bool>(),
    ) {
        let idx: Vec<usize> = picks.iter().map(|p| p.index(n)).collect();
        if f64_file {
            check_plain_equal::<f64>(n, &row, &idx, seed);
        } else {
            check_plain_equal::<f32>(n, &row, &idx, seed);
        }
    }

    #[test]
    fn mapped_cipher_reads_equal_in_memory_reads(
        n in 1usize..30,
        row in prop::collection::vec(1usize..4, 0..3),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
        seed in 0u64..1000,
        f64_file in any::<bool>(),
    ) {
        let idx: Vec<usize> = picks.iter().map(|p| p.index(n)).collect();
        if f64_file {
            check_cipher_equal::<f64>(n, &row, &idx, seed);
        } else {
            check_cipher_equal::<f32>(n, &row, &idx, seed);
        }
    }

    /// Any single damaged byte or any truncation: the map opens or fails exactly as the
    /// in-memory reader does (same message), and when both succeed the values agree.
    #[test]
    fn damaged_files_fail_as_in_memory(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = write_plain::<f32>(dir.path(), 5, &[3], 7);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = pos.index(bytes.len());
        if cut {
            bytes.truncate(at);
        } else {
            bytes[at] = byte;
        }
        std::fs::write(&path, &bytes).unwrap();
        // Both readers are asked for the same two tensors: a damaged name byte makes a file that
        // parses but lacks "inputs", which both must then report the same way.
        let mem = format::read_plain::<f32>(&path).and_then(|f| {
            Ok((f.get("inputs", &path)?.clone(), f.get("targets", &path)?.clone()))
        });
        let map = MappedFile::open(&path).and_then(|m| {
            let x = m.plain::<f32>("inputs")?.to_tensor()?;
            let t = m.plain::<f32>("targets")?.to_tensor()?;
            Ok((x, t))
        });
        match (mem, map) {
            (Ok((mx, mt)), Ok((x, t))) => {
                // Equal bit patterns (a damaged byte may make a NaN, which == would refuse).
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                prop_assert_eq!(bits(mx.values()), bits(x.values()));
                prop_assert_eq!(bits(mt.values()), bits(t.values()));
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            (a, b) => prop_assert!(false, "in memory {:?} but mapped {:?}", a.err(), b.err()),
        }
    }
}

#[test]
fn truncated_files_give_the_in_memory_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_cipher::<f64>(dir.path(), 6, &[2], 3);
    let full = std::fs::read(&path).unwrap();
    let h = 8 + u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
    for cut in [0, 1, 7, 8, 9, h / 2, h - 1, h, h + 1, h + 8, (h + full.len()) / 2, full.len() - 1] {
        let p = dir.path().join(format!("cut{cut}.safetensors"));
        std::fs::write(&p, &full[..cut]).unwrap();
        let mem = format::read_cipher::<f64>(&p).unwrap_err();
        let map = MappedFile::open(&p).unwrap_err();
        assert!(matches!(map, Error::Truncated { .. } | Error::Damaged { .. }), "cut {cut}: {map}");
        assert_eq!(mem.to_string(), map.to_string(), "cut {cut}");
    }
}

#[test]
fn wrong_kind_dtype_name_and_directory_are_the_in_memory_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_plain::<f32>(dir.path(), 4, &[2], 1);
    let c = write_cipher::<f64>(dir.path(), 4, &[2], 1);
    let (pm, cm) = (MappedFile::open(&p).unwrap(), MappedFile::open(&c).unwrap());
    let msg = |r: Result<(), Error>| r.unwrap_err().to_string();
    assert_eq!(
        msg(pm.cipher::<f32>("inputs").map(drop)),
        msg(format::read_cipher::<f32>(&p).map(drop)),
        "plaintext file read as ciphertexts"
    );
    assert_eq!(msg(cm.plain::<f64>("inputs").map(drop)), msg(format::read_plain::<f64>(&c).map(drop)));
    assert_eq!(msg(pm.plain::<f64>("inputs").map(drop)), msg(format::read_plain::<f64>(&p).map(drop)));
    let e = pm.plain::<f32>("labels").unwrap_err();
    assert!(matches!(&e, Error::MissingTensor { available, .. } if available == "inputs, targets"), "{e}");
    let e = MappedFile::open(dir.path()).unwrap_err();
    assert!(matches!(e, Error::IsDirectory { .. }), "{e}");
    let e = MappedFile::open(&dir.path().join("missing.safetensors")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("missing.safetensors"), "{e}");
}

#[test]
fn bad_record_indices_and_scalars_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_plain::<f32>(dir.path(), 4, &[2], 1);
    let m = MappedFile::open(&p).unwrap();
    let e = m.plain::<f32>("inputs").unwrap().gather(&[0, 4]).unwrap_err();
    assert!(matches!(e, Error::RecordOutOfRange { index: 4, rows: 4, .. }), "{e}");
    let s = dir.path().join("scalar.safetensors");
    let x = PlainTensor::<f32>::from_vec(&[], vec![1.0]).unwrap();
    format::write_plain(&s, &PlainFile { tensors: vec![("x".into(), x)], extra: Default::default() }).unwrap();
    let e = MappedFile::open(&s).unwrap().plain::<f32>("x").unwrap_err();
    assert!(matches!(e, Error::NotRecords { .. }) && e.to_string().contains("first axis"), "{e}");
}

#[test]
fn damaged_ciphertexts_fail_the_chunked_check_at_the_whole_tensor_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_cipher::<f64>(dir.path(), 9, &[3], 5);
    let mut file = format::read_cipher::<f64>(&path).unwrap();
    let wire = &mut file.tensors[0].1;
    wire.raw_mut()[4 * 20 + 1] += 1.0; // value 20 leaves the algebra
    format::write_cipher(&path, &file).unwrap();
    let whole = CipherTensor::from_wire_tagged(file.get("inputs", &path).unwrap(), &key(), "inputs").unwrap_err();
    assert!(matches!(whole, Error::OutOfAlgebra { index: 20, .. }), "{whole}");
    let m = MappedFile::open(&path).unwrap().cipher::<f64>("inputs").unwrap();
    let e = m.verify(|_| {}).unwrap_err();
    assert_eq!(e.to_string(), whole.to_string());
    // Gathering the damaged record fails too; other records are still readable.
    assert!(m.gather(&[6]).is_err());
    assert!(m.gather(&[0, 8]).is_ok());
    // A NaN is reported as non-finite.
    file.tensors[0].1.raw_mut()[4 * 26] = f64::NAN;
    format::write_cipher(&path, &file).unwrap();
    let m = MappedFile::open(&path).unwrap().cipher::<f64>("inputs").unwrap();
    assert!(matches!(m.gather(&[8]).unwrap_err(), Error::NonFinite { .. }));
}
