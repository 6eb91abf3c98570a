//! Bad input through the real binary, one `#[test]` per case: every case must exit with status
//! 1, print exactly one `moreml: error: ...` line (never a panic, never a repeated cause, never
//! Rust debug formatting) and contain the fragment that tells the user what was wrong.
mod common;
use common::*;
use moreml_cipher::format::{self, PlainFile};
use moreml_cipher::PlainTensor;

/// A key made by the binary (mode 0600).
fn key(dir: &Dir, name: &str) -> String {
    moreml(&["keygen", "--out", &dir.arg(name)]).ok();
    dir.arg(name)
}

/// A small f64 plaintext file with an `inputs` and a `labels` tensor.
fn plain(dir: &Dir) -> String {
    let x = PlainTensor::<f64>::from_vec(&[3, 2], vec![0.5, -1.0, 2.0, 0.25, 1.5, -0.75]).unwrap();
    let y = PlainTensor::<f64>::from_vec(&[3, 2], vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0]).unwrap();
    let file = PlainFile { tensors: vec![("inputs".into(), x), ("labels".into(), y)], extra: Default::default() };
    format::write_plain(&dir.path("plain.safetensors"), &file).unwrap();
    dir.arg("plain.safetensors")
}

/// `plain` encrypted under `key` by the binary.
fn cipher(dir: &Dir, key: &str) -> String {
    let (p, c) = (plain(dir), dir.arg("cipher.safetensors"));
    moreml(&["encrypt", "--key", key, "--input", &p, "--output", &c]).ok();
    c
}

/// Rewrites the ciphertext file at `path` after `edit`.
fn edit_cipher(path: &str, edit: impl FnOnce(&mut format::CipherFile<f64>)) {
    let p = std::path::Path::new(path);
    let mut f = format::read_cipher::<f64>(p).unwrap();
    edit(&mut f);
    format::write_cipher(p, &f).unwrap();
}

/// A safetensors file written by hand: `header` is the JSON header text, `data` the data section.
fn raw_file(dir: &Dir, name: &str, header: &str, data: &[u8]) -> String {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(dir.path(name), bytes).unwrap();
    dir.arg(name)
}

fn decrypt_args(key: &str, input: &str, output: &str) -> Vec<String> {
    ["decrypt", "--key", key, "--input", input, "--output", output].map(String::from).to_vec()
}

fn encrypt_args(key: &str, input: &str, output: &str) -> Vec<String> {
    ["encrypt", "--key", key, "--input", input, "--output", output].map(String::from).to_vec()
}

/// One test per case: `setup` builds the files and returns the arguments; the error line
/// must contain every fragment and must not contain the generic failure patterns.
macro_rules! bad_input {
    ($($name:ident: $setup:expr => [$($frag:expr),+ $(,)?];)+) => {$(
        #[test]
        fn $name() {
            let dir = Dir::new();
            let setup: &dyn Fn(&Dir) -> Vec<String> = &$setup;
            let args = setup(&dir);
            let line = moreml(&args).fails_with(&[$($frag),+]);
            for forbidden in ["Some(", "None", "learning rate", "os error 2): No such file", "short safetensors"] {
                assert!(!line.contains(forbidden), "{forbidden:?} in {line}");
            }
        }
    )+};
}

bad_input! {
    keygen_huge_jitter: |d| vec!["keygen".into(), "--out".into(), d.arg("k.json"), "--r-jitter".into(), "1e300".into()]
        => ["invalid key parameters", "r jitter 1e300 is outside"];
    keygen_condition_one: |d| vec!["keygen".into(), "--out".into(), d.arg("k.json"), "--max-condition".into(), "1".into()]
        => ["invalid key parameters", "max_condition 1 is outside"];
    keygen_condition_nan: |d| vec!["keygen".into(), "--out".into(), d.arg("k.json"), "--max-condition".into(), "NaN".into()]
        => ["max_condition NaN is outside"];
    keygen_uniform_reversed: |d| ["keygen", "--out", &d.arg("k.json"), "--r-dist", "uniform", "--r-low", "2", "--r-high", "1"]
        .map(String::from).to_vec()
        => ["uniform r low 2 must be below high 1"];
    keygen_uniform_infinite: |d| ["keygen", "--out", &d.arg("k.json"), "--r-dist", "uniform", "--r-high", "inf"]
        .map(String::from).to_vec()
        => ["must be finite numbers"];
    keygen_existing_file: |d| { let k = key(d, "k.json"); vec!["keygen".into(), "--out".into(), k] }
        => ["already exists", "--force"];
    keygen_directory: |d| vec!["keygen".into(), "--out".into(), d.root().to_str().unwrap().into()]
        => ["is a directory"];

    encrypt_missing_input: |d| encrypt_args(&key(d, "k.json"), &d.arg("nope.safetensors"), &d.arg("o"))
        => ["nope.safetensors: No such file or directory"];
    encrypt_directory_input: |d| encrypt_args(&key(d, "k.json"), d.root().to_str().unwrap(), &d.arg("o"))
        => ["is a directory, not a file"];
    encrypt_missing_key: |d| encrypt_args(&d.arg("nokey.json"), &plain(d), &d.arg("o"))
        => ["cannot load the --key file", "nokey.json: No such file or directory"];
    encrypt_truncated_input: |d| {
        let p = plain(d);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
        encrypt_args(&key(d, "k.json"), &p, &d.arg("o"))
    } => ["damaged", "data section"];
    encrypt_short_input: |d| { std::fs::write(d.path("s"), b"abc").unwrap(); encrypt_args(&key(d, "k.json"), &d.arg("s"), &d.arg("o")) }
        => ["truncated or damaged", "3 bytes is shorter than a safetensors header"];
    encrypt_garbage_input: |d| {
        std::fs::write(d.path("g"), [16u8, 0, 0, 0, 0, 0, 0, 0].iter().chain(b"this is not json").copied().collect::<Vec<u8>>()).unwrap();
        encrypt_args(&key(d, "k.json"), &d.arg("g"), &d.arg("o"))
    } => ["not a moreml tensor file", "not a valid safetensors header"];
    encrypt_world_readable_key: |d| {
        let k = key(d, "k.json");
        std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&k).unwrap().permissions(), 0o644);
        std::fs::set_permissions(&k, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        encrypt_args(&k, &plain(d), &d.arg("o"))
    } => ["readable by other users (mode 0644)", "chmod 600"];
    encrypt_output_is_input: |d| { let p = plain(d); encrypt_args(&key(d, "k.json"), &p, &p) }
        => ["is the same file as the input"];
    encrypt_output_is_input_other_spelling: |d| {
        let p = plain(d);
        let other = d.root().join(".").join("plain.safetensors");
        encrypt_args(&key(d, "k.json"), &p, other.to_str().unwrap())
    } => ["is the same file as the input"];
    encrypt_output_is_key: |d| { let k = key(d, "k.json"); encrypt_args(&k, &plain(d), &k) }
        => ["is the same file as the input", "k.json"];
    encrypt_output_is_another_key: |d| { let k = key(d, "k.json"); let k2 = key(d, "k2.json"); encrypt_args(&k, &plain(d), &k2) }
        => ["is a secret key file; refusing to overwrite it"];
    encrypt_unknown_target: |d| {
        let mut a = encrypt_args(&key(d, "k.json"), &plain(d), &d.arg("o"));
        a.extend(["--targets".to_string(), "lables".to_string()]);
        a
    } => ["--targets names 'lables'", "it has: inputs, labels"];
    encrypt_bad_roles: |d| {
        let x = PlainTensor::<f64>::from_vec(&[1], vec![1.0]).unwrap();
        let extra = [("moreml.roles".to_string(), r#"{"x":"feature"}"#.to_string())].into();
        format::write_plain(&d.path("r"), &PlainFile { tensors: vec![("x".into(), x)], extra }).unwrap();
        encrypt_args(&key(d, "k.json"), &d.arg("r"), &d.arg("o"))
    } => ["header entry 'moreml.roles' is not valid", "unknown variant"];
    encrypt_duplicate_names: |d| raw_file_args(d, r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"a":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}"#, &[0u8; 16], "encrypt")
        => ["two tensors are named 'a'"];
    encrypt_nan_values: |d| {
        let x = PlainTensor::<f64>::from_vec(&[2], vec![1.0, f64::NAN]).unwrap();
        format::write_plain(&d.path("n"), &PlainFile { tensors: vec![("x".into(), x)], extra: Default::default() }).unwrap();
        encrypt_args(&key(d, "k.json"), &d.arg("n"), &d.arg("o"))
    } => ["non-finite value (NaN) at flat index 1", "remove or replace non-finite values"];
    encrypt_ciphertext_input: |d| { let k = key(d, "k.json"); let c = cipher(d, &k); encrypt_args(&k, &c, &d.arg("o")) }
        => ["is already a ciphertext file"];

    decrypt_wrong_key: |d| { let c = cipher(d, &key(d, "k.json")); decrypt_args(&key(d, "other.json"), &c, &d.arg("o")) }
        => ["wrong key: the data was encrypted under key"];
    decrypt_output_is_key: |d| { let k = key(d, "k.json"); let c = cipher(d, &k); decrypt_args(&k, &c, &k) }
        => ["is the same file as the input"];
    decrypt_output_is_input: |d| { let k = key(d, "k.json"); let c = cipher(d, &k); decrypt_args(&k, &c, &c) }
        => ["is the same file as the input"];
    decrypt_plaintext: |d| decrypt_args(&key(d, "k.json"), &plain(d), &d.arg("o"))
        => ["is a plaintext file; nothing to decrypt"];
    decrypt_basis_mismatch: |d| {
        let (k, other) = (key(d, "k.json"), key(d, "other.json"));
        let c = cipher(d, &k);
        let other_basis = {
            let c2 = d.arg("c2");
            moreml(&["encrypt", "--key", &other, "--input", &plain(d), "--output", &c2]).ok();
            format::read_info(std::path::Path::new(&c2)).unwrap().key.unwrap().basis
        };
        edit_cipher(&c, |f| f.key.basis = other_basis);
        decrypt_args(&k, &c, &d.arg("o"))
    } => ["public basis does not match key", "edited or damaged"];
    decrypt_dtype_metadata_mismatch: |d| {
        let c = std::path::PathBuf::from(cipher(d, &key(d, "k.json")));
        let mut out = std::fs::read(&c).unwrap();
        // Same length: only the header entry changes; the data bytes are untouched.
        let at = out.windows(13).position(|w| w == br#""dtype":"f64""#).expect("dtype entry");
        out[at..at + 13].copy_from_slice(br#""dtype":"f32""#);
        std::fs::write(&c, out).unwrap();
        decrypt_args(&d.arg("k.json"), c.to_str().unwrap(), &d.arg("o"))
    } => ["header says dtype f32 but the tensors are f64"];
    decrypt_nan_ciphertext: |d| {
        let k = key(d, "k.json");
        let c = cipher(d, &k);
        edit_cipher(&c, |f| f.tensors[0].1.raw_mut()[5] = f64::NAN);
        decrypt_args(&k, &c, &d.arg("o"))
    } => ["tensor 'inputs'", "non-finite value (NaN) at flat index 1", "damaged"];
    decrypt_huge_block: |d| {
        let k = key(d, "k.json");
        let c = cipher(d, &k);
        edit_cipher(&c, |f| f.tensors[1].1.raw_mut()[..4].fill(1e308));
        decrypt_args(&k, &c, &d.arg("o"))
    } => ["tensor 'labels'", "integrity check failed"];
    decrypt_truncated: |d| {
        let k = key(d, "k.json");
        let c = cipher(d, &k);
        let bytes = std::fs::read(&c).unwrap();
        std::fs::write(&c, &bytes[..bytes.len() / 2 + 40]).unwrap();
        decrypt_args(&k, &c, &d.arg("o"))
    } => ["damaged"];
    decrypt_edited_key: |d| {
        let k = key(d, "k.json");
        let c = cipher(d, &k);
        let text = std::fs::read_to_string(&k).unwrap().replace("\"jitter\": 0.01", "\"jitter\": 1e300");
        std::fs::write(&k, text).unwrap();
        decrypt_args(&k, &c, &d.arg("o"))
    } => ["not a usable moreml key file", "r jitter 1e300 is outside"];

    inspect_missing: |d| vec!["inspect".into(), "--input".into(), d.arg("nope")]
        => ["nope: No such file or directory (os error 2)"];
    inspect_directory: |d| vec!["inspect".into(), "--input".into(), d.root().to_str().unwrap().into()]
        => ["is a directory, not a file"];
    inspect_truncated: |d| {
        let p = plain(d);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        vec!["inspect".into(), "--input".into(), p]
    } => ["damaged"];
    inspect_header_past_end: |d| { std::fs::write(d.path("h"), 1000u64.to_le_bytes()).unwrap(); vec!["inspect".into(), "--input".into(), d.arg("h")] }
        => ["the header declares 1000 bytes but the file has 8"];
    inspect_offsets_past_end: |d| raw_file_args(d, r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}"#, &[0u8; 8], "inspect")
        => ["damaged", "tensor 'a' claims bytes 8..16 of a 8-byte data section"];
    inspect_absurd_shape: |d| raw_file_args(d, r#"{"a":{"dtype":"F64","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, &[0u8; 8], "inspect")
        => ["damaged", "larger than the file"];
    inspect_duplicate_names: |d| raw_file_args(d, r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"a":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}"#, &[0u8; 16], "inspect")
        => ["two tensors are named 'a'"];
    inspect_unknown_kind: |d| raw_file_args(d, r#"{"__metadata__":{"format":"moreml","format_version":"1","kind":"bogus"}}"#, &[], "inspect")
        => ["header kind 'bogus' is neither 'plaintext' nor 'ciphertext'"];
    inspect_garbage: |d| { std::fs::write(d.path("g"), [9u8; 64]).unwrap(); vec!["inspect".into(), "--input".into(), d.arg("g")] }
        => ["truncated or damaged", "but the file has 64"];
}

/// Arguments running `command` on a hand-written file (encrypt with a fresh key, or inspect).
fn raw_file_args(dir: &Dir, header: &str, data: &[u8], command: &str) -> Vec<String> {
    let p = raw_file(dir, "raw.safetensors", header, data);
    match command {
        "encrypt" => encrypt_args(&key(dir, "k.json"), &p, &dir.arg("o")),
        _ => vec!["inspect".into(), "--input".into(), p],
    }
}
