//! `moreml serve` and `moreml client` through the real binary: the served predictions equal
//! the offline `moreml predict` ones, bad requests fail cleanly, SIGTERM drains and stops.
//!
//! Data: the project's built-in synthetic digits (no download), labels encrypted with
//! record-level r through the library (`SecretKey::encrypt_targets`).

mod common;

use common::{moreml, Dir};
use moreml_cipher::format::{self, CipherFile, PlainFile};
use moreml_cipher::prelude::*;
use moreml_datasets::Mnist;
use moreml_more::SecretKey;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TEST_RECORDS: usize = 300;

/// Writes train.enc (encrypted, labels with record-level r) and test.safetensors (plaintext).
fn write_data(dir: &Dir, key: &SecretKey) {
    let d = Mnist::synthetic(400, TEST_RECORDS, 11);
    let t = |v: Vec<f64>, k: usize| PlainTensor::from_vec(&[v.len() / k, k], v).unwrap();
    let (x, y) = (t(d.train_images_normalized(), 784), t(d.train_one_hot(), 10));
    let enc = CipherFile {
        key: key.tag().clone(),
        tensors: vec![("images".into(), key.encrypt(&x).unwrap()), ("labels".into(), key.encrypt_targets(&y).unwrap())],
        extra: Default::default(),
    };
    format::write_cipher(&dir.path("train.enc.safetensors"), &enc).unwrap();
    let test = PlainFile {
        tensors: vec![
            ("images".into(), t(d.test_images_normalized(), 784)),
            ("labels".into(), t(d.test_one_hot(), 10)),
        ],
        extra: Default::default(),
    };
    format::write_plain(&dir.path("test.safetensors"), &test).unwrap();
}

fn write_token(dir: &Dir, name: &str, mode: u32) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.path(name);
    std::fs::write(&p, "cli-test-token-0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    dir.arg(name)
}

/// A running `moreml serve` child; killed on drop if still running.
struct Server {
    child: Child,
    url: String,
    log: std::sync::mpsc::Receiver<String>,
}

impl Server {
    fn start(models: &str, token: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_moreml"))
            .args(["serve", "--models", models, "--addr", "127.0.0.1:0", "--token-file", token])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start moreml serve");
        let (tx, log) = std::sync::mpsc::channel();
        let stderr = child.stderr.take();
        // From here on, Drop kills and waits for the child, also if the start-up fails.
        let mut server = Server { child, url: String::new(), log };
        std::thread::spawn(move || {
            for line in BufReader::new(stderr.expect("piped stderr")).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut seen = Vec::new();
        loop {
            let line = server
                .log
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no address; log: {seen:#?}"));
            if let Some(addr) = line.strip_prefix("moreml serve: listening on ") {
                server.url = format!("http://{addr}");
                return server;
            }
            seen.push(line);
        }
    }

    /// SIGTERM, then waits: must exit 0 after logging "stopped".
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = self.child.wait().unwrap();
        let rest: Vec<String> = self.log.try_iter().collect();
        assert!(status.success(), "serve exited with {status}; log: {rest:#?}");
        assert!(rest.iter().any(|l| l.contains("moreml serve: stopped")), "log: {rest:#?}");
        for line in &rest {
            assert!(!line.contains("cli-test-token"), "the token leaked into the log: {line}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn predictions(path: &Path) -> PlainTensor<f64> {
    format::read_plain::<f64>(path).unwrap().get("predictions", path).unwrap().clone()
}

#[test]
fn served_predictions_equal_offline_predict_and_bad_requests_fail_cleanly() {
    let dir = Dir::new();
    let (key, other) = (dir.arg("key.json"), dir.arg("other.json"));
    moreml(&["keygen", "--out", &key]).ok();
    moreml(&["keygen", "--out", &other]).ok();
    write_data(&dir, &SecretKey::load(&dir.path("key.json")).unwrap());
    std::fs::create_dir(dir.path("models")).unwrap();
    let model = dir.arg("models/digits.safetensors");
    let train = dir.arg("train.enc.safetensors");
    moreml(&["train", "--data", &train, "--hidden", "16", "--epochs", "1", "--out", &model]).ok();

    // Offline: encrypt, predict, decrypt.
    let (test, etest) = (dir.arg("test.safetensors"), dir.arg("test.enc.safetensors"));
    moreml(&["encrypt", "--key", &key, "--input", &test, "--output", &etest]).ok();
    let (epred, offline) = (dir.arg("pred.enc.safetensors"), dir.arg("offline.safetensors"));
    moreml(&["predict", "--model", &model, "--input", &etest, "--output", &epred]).ok();
    moreml(&["decrypt", "--key", &key, "--input", &epred, "--output", &offline]).ok();

    // A token file others may read is refused, like ssh keys.
    let open = write_token(&dir, "open-token", 0o644);
    moreml(&["serve", "--models", &dir.arg("models"), "--token-file", &open]).fails_with(&["too open", "chmod 600"]);

    let token = write_token(&dir, "token", 0o600);
    let server = Server::start(&dir.arg("models"), &token);
    let served = dir.arg("served.safetensors");
    let url = server.url.clone();
    // Rejected requests use one record per request: the service answers 401/422 from the
    // headers without reading a large body, and a client still writing a body bigger than the
    // socket buffers would see a broken pipe instead of the answer.
    let client = |key: &str, token: Option<&str>, out: &str, batch: &'static str| {
        let mut args =
            vec!["client", "predict", "--key", key, "--url", &url, "--model", "digits", "--input", &test, "--out", out];
        args.extend(["--batch", batch, "--retries", "0"]);
        if let Some(t) = token {
            args.extend(["--token-file", t]);
        }
        moreml(&args)
    };
    let run = client(&key, Some(&token), &served, "64").ok();
    assert!(run.stdout.starts_with("accuracy "), "{}", run.context());

    // Same records, same model: identical decisions, values equal up to encryption rounding
    // (the client draws its own r, so the ciphertexts differ from the offline file's).
    let (a, b) = (predictions(Path::new(&served)), predictions(Path::new(&offline)));
    assert_eq!(a.shape(), &[TEST_RECORDS, 10]);
    assert_eq!(a.shape(), b.shape());
    let diff = a.values().iter().zip(b.values()).map(|(x, y)| (x - y).abs()).fold(0.0f64, |m, d| {
        if d.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(d)
        }
    });
    assert!(diff < 1e-9, "served vs offline predictions differ by {diff}");
    let argmax = |t: &PlainTensor<f64>| moreml_nn::loss::argmax_rows(t.values(), 10);
    assert_eq!(argmax(&a), argmax(&b), "served and offline decisions differ");

    // Bad requests: each fails with one clear line, and the service keeps serving.
    client(&other, Some(&token), &dir.arg("x.safetensors"), "1").fails_with(&["422", "only accepts key"]);
    client(&key, None, &dir.arg("x.safetensors"), "1").fails_with(&["401", "bearer token"]);
    let mut args = vec!["client", "predict", "--key", &key, "--url", &url, "--model", "nosuch", "--input", &test];
    args.extend(["--out", "unused.safetensors", "--token-file", &token]);
    moreml(&args).fails_with(&["404", "no model named 'nosuch'"]);

    // A short load run against the same service: no errors.
    let run = moreml(&[
        "client",
        "load",
        "--url",
        &url,
        "--model",
        "digits",
        "--input",
        &etest,
        "--batch",
        "8",
        "--seconds",
        "2",
        "--concurrency",
        "2",
        "--token-file",
        &token,
        "--json",
    ])
    .ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("load --json prints JSON");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["requests"].as_u64().unwrap() > 0, "{report}");
    assert!(report["images_per_s"].as_f64().unwrap() > 0.0, "{report}");
    moreml(&["client", "load", "--url", "http://10.1.2.3:80", "--model", "digits", "--input", &etest])
        .fails_with(&["loopback"]);

    client(&key, Some(&token), &served, "64").ok();
    server.terminate();
}
