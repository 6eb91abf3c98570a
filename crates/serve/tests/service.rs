//! The service end to end, in process: correct predictions (equal to the library's forward
//! pass), every kind of bad request refused with its status while the service keeps serving,
//! metrics, graceful shutdown.

use moreml_cipher::format::{CipherFile, PlainFile};
use moreml_cipher::prelude::*;
use moreml_datasets::Mnist;
use moreml_more::{KeyParams, SecretKey};
use moreml_nn::{persist, Model, ModelConfig};
use moreml_serve::{codec, BatchConfig, Running, ServeConfig, Token};
use std::path::Path;
use std::time::Duration;

const TOKEN: &str = "test-token-0123456789abcdef";

struct Fixture {
    _dir: tempfile::TempDir,
    key: SecretKey,
    model: Model<CipherTensor<f64>>,
    plain_model: Model<PlainTensor<f64>>,
    images: PlainTensor<f64>,
    server: Running,
}

fn images(n: usize) -> PlainTensor<f64> {
    let d = Mnist::synthetic(0, n, 5);
    PlainTensor::from_vec(&[n, 784], d.test_images_normalized::<f64>()).unwrap()
}

fn fixture(tune: impl FnOnce(&mut ServeConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate(KeyParams::default()).unwrap();
    let model = Model::<CipherTensor<f64>>::new(ModelConfig::mlp(784, 16, 10)).unwrap();
    persist::save_cipher(&dir.path().join("digits.safetensors"), &model, key.tag(), None).unwrap();
    let plain_model = Model::<PlainTensor<f64>>::new(ModelConfig::mlp(784, 8, 10)).unwrap();
    persist::save_plain(&dir.path().join("plain.safetensors"), &plain_model, None).unwrap();
    let mut cfg = ServeConfig::new(dir.path().to_path_buf(), Token::new(TOKEN).unwrap());
    tune(&mut cfg);
    let server = Running::start(cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    Fixture { _dir: dir, key, model, plain_model, images: images(40), server }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

impl Fixture {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr)
    }
    /// POST `body` to a model with `token` (None: no header); returns status and body.
    fn post(&self, model: &str, body: &[u8], token: Option<&str>) -> (u16, Vec<u8>) {
        let mut req = agent().post(self.url(&format!("/v1/models/{model}/predict")));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = req.send(body).unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap())
    }
    fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = agent().get(self.url(path));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = req.call().unwrap();
        (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap())
    }
    fn encrypted_body(&self, rows: std::ops::Range<usize>, name: &str) -> Vec<u8> {
        let x = self.images.gather_rows(&rows.collect::<Vec<_>>());
        let file = CipherFile {
            key: self.key.tag().clone(),
            tensors: vec![(name.to_string(), self.key.encrypt(&x).unwrap())],
            extra: Default::default(),
        };
        codec::encode_cipher(&file).unwrap()
    }
    /// Declares a body larger than the limit and sends none of it: the answer must be 413
    /// right away (a client streaming the body would see the connection closed instead).
    fn oversized_is_refused_before_reading(&self, len: usize) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(self.server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "POST /v1/models/digits/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {len}\r\n\r\n"
        )
        .unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 413", "{}", String::from_utf8_lossy(&head));
        self.still_serves();
    }
    /// A good request succeeds: the service is still serving.
    fn still_serves(&self) {
        let (status, _) = self.post("digits", &self.encrypted_body(0..2, "images"), Some(TOKEN));
        assert_eq!(status, 200, "the service stopped serving good requests");
    }
    fn refused(&self, body: &[u8], token: Option<&str>, model: &str, status: u16, phrase: &str) {
        let (got, bytes) = self.post(model, body, token);
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(got, status, "expected {status}, got {got}: {text}");
        assert!(text.contains(phrase), "expected {phrase:?} in {text}");
        self.still_serves();
    }
}

/// Largest |a - b|, NaN if any difference is NaN.
fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, |m, d| if d.is_nan() || m.is_nan() { f64::NAN } else { m.max(d) })
}

#[test]
fn encrypted_predictions_equal_the_library_forward_pass() {
    let mut f = fixture(|_| {});
    let body = f.encrypted_body(0..40, "images");
    let (status, answer) = f.post("digits", &body, Some(TOKEN));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let reply = codec::decode_cipher::<f64>(&answer).unwrap();
    assert_eq!(reply.key.key_id, f.key.key_id(), "answer must be under the model's key");
    let served = f.key.decrypt(reply.get("predictions", Path::new("answer")).unwrap()).unwrap().values;
    assert_eq!(served.shape(), &[40, 10]);
    // Same ciphertexts through the library, in process.
    let sent = codec::decode_cipher::<f64>(&body).unwrap();
    let x = CipherTensor::from_wire_tagged(sent.get("images", Path::new("b")).unwrap(), &sent.key, "x").unwrap();
    let y = f.model.forward(x, false).unwrap();
    let expected = f.key.decrypt(&y.to_wire(&sent.key.basis)).unwrap().values;
    assert_eq!(served.values(), expected.values(), "served != library forward pass on the same ciphertexts");
    // And the encrypted computation tracks the plaintext one.
    let mut plain = Model::<PlainTensor<f64>>::new(ModelConfig::mlp(784, 16, 10)).unwrap();
    let p = plain.forward(f.images.clone(), false).unwrap();
    let d = max_abs_diff(served.values(), p.values());
    assert!(d < 1e-8, "encrypted vs plaintext outputs differ by {d}");
}

#[test]
fn plaintext_models_and_the_inputs_name_work() {
    let mut f = fixture(|_| {});
    let x = f.images.gather_rows(&[0, 1, 2]);
    let body =
        codec::encode_plain(&PlainFile { tensors: vec![("inputs".into(), x.clone())], extra: Default::default() })
            .unwrap();
    let (status, answer) = f.post("plain", &body, Some(TOKEN));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let y = codec::decode_plain::<f64>(&answer).unwrap();
    let expected = f.plain_model.forward(x, false).unwrap();
    assert_eq!(y.tensors[0].1.values(), expected.values());
    let (status, _) = f.post("digits", &f.encrypted_body(0..3, "inputs"), Some(TOKEN));
    assert_eq!(status, 200);
}

#[test]
fn bad_requests_are_refused_and_the_service_keeps_serving() {
    let f = fixture(|c| {
        c.max_body_bytes = 400_000;
        c.max_batch = 8;
    });
    let good = f.encrypted_body(0..2, "images");
    f.refused(&good, None, "digits", 401, "bearer token");
    f.refused(&good, Some("wrong-token-0123456789abcdef"), "digits", 401, "bearer token");
    f.refused(&good, Some(TOKEN), "nosuch", 404, "no model named 'nosuch'");
    // another owner's key
    let other = SecretKey::generate(KeyParams::default()).unwrap();
    let x = f.images.gather_rows(&[0, 1]);
    let file = CipherFile {
        key: other.tag().clone(),
        tensors: vec![("images".into(), other.encrypt(&x).unwrap())],
        extra: Default::default(),
    };
    f.refused(&codec::encode_cipher(&file).unwrap(), Some(TOKEN), "digits", 422, "only accepts key");
    // plaintext to the encrypted model
    let plain =
        codec::encode_plain(&PlainFile { tensors: vec![("images".into(), x)], extra: Default::default() }).unwrap();
    f.refused(&plain, Some(TOKEN), "digits", 422, "body is plaintext");
    // truncated and malformed bodies
    f.refused(&good[..good.len() - 7], Some(TOKEN), "digits", 400, "truncated");
    f.refused(&good[..5], Some(TOKEN), "digits", 400, "truncated");
    f.refused(b"GIF89a this is not a tensor file at all", Some(TOKEN), "digits", 400, "bad request body");
    f.refused(&f.encrypted_body(0..2, "pixels"), Some(TOKEN), "digits", 400, "no tensor named 'images' or 'inputs'");
    // oversized body (rejected before reading) and too many records (rejected before decoding)
    f.oversized_is_refused_before_reading(400_001);
    f.refused(&f.encrypted_body(0..9, "images"), Some(TOKEN), "digits", 413, "exceeds the limit of 8");
    // NaN inside a ciphertext
    let mut wire = f.key.encrypt(&f.images.gather_rows(&[0, 1])).unwrap();
    wire.raw_mut()[100] = f64::NAN;
    let nan =
        CipherFile { key: f.key.tag().clone(), tensors: vec![("images".into(), wire)], extra: Default::default() };
    f.refused(&codec::encode_cipher(&nan).unwrap(), Some(TOKEN), "digits", 400, "non-finite");
    // wrong feature count
    let short = PlainTensor::from_vec(&[1, 4], vec![0.0; 4]).unwrap();
    let file = CipherFile {
        key: f.key.tag().clone(),
        tensors: vec![("images".into(), f.key.encrypt(&short).unwrap())],
        extra: Default::default(),
    };
    f.refused(&codec::encode_cipher(&file).unwrap(), Some(TOKEN), "digits", 400, "features = 784");

    // health needs no token; everything else does
    assert_eq!(f.get("/healthz", None).0, 200);
    assert_eq!(f.get("/readyz", None).0, 200);
    assert_eq!(f.get("/v1/models", None).0, 401);
    assert_eq!(f.get("/metrics", None).0, 401);
    let (status, models) = f.get("/v1/models", Some(TOKEN));
    assert_eq!(status, 200);
    let models: serde_json::Value = serde_json::from_str(&models).unwrap();
    assert_eq!(models[0]["name"], "digits");
    assert_eq!(models[0]["key_id"], f.key.key_id());
    assert_eq!(models[0]["input_len"], 784);
    assert_eq!(models[1]["name"], "plain");
    assert_eq!(models[1]["kind"], "plaintext");
    let (status, metrics) = f.get("/metrics", Some(TOKEN));
    assert_eq!(status, 200);
    for needle in [
        "moreml_requests_total{",
        "moreml_errors_total{kind=\"unauthorized\"}",
        "moreml_errors_total{kind=\"wrong_key\"}",
        "moreml_errors_total{kind=\"too_large\"}",
        "moreml_errors_total{kind=\"non_finite\"}",
        "moreml_request_duration_seconds_bucket",
        "moreml_batch_records_bucket",
        "moreml_requests_in_flight",
    ] {
        assert!(metrics.contains(needle), "metrics lack {needle}:\n{metrics}");
    }
}

#[test]
fn shutdown_finishes_in_flight_requests() {
    // A long batching window keeps the request in the service while shutdown starts.
    let f = fixture(|c| c.batching = BatchConfig { max_rows: 64, window: Duration::from_millis(600), workers: 1 });
    let body = f.encrypted_body(0..4, "images");
    let url = f.url("/v1/models/digits/predict");
    let t = std::thread::spawn(move || {
        let mut r = agent().post(&url).header("Authorization", format!("Bearer {TOKEN}")).send(&body[..]).unwrap();
        (r.status().as_u16(), r.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap())
    });
    std::thread::sleep(Duration::from_millis(200));
    let addr = f.server.addr;
    f.server.stop().unwrap();
    let (status, answer) = t.join().unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert!(codec::decode_cipher::<f64>(&answer).is_ok());
    assert!(std::net::TcpStream::connect(addr).is_err(), "still accepting after shutdown");
}

#[test]
fn an_empty_model_directory_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServeConfig::new(dir.path().to_path_buf(), Token::new(TOKEN).unwrap());
    let e = Running::start(cfg, "127.0.0.1:0".parse().unwrap()).err().expect("must fail").to_string();
    assert!(e.contains("holds no model file"), "{e}");
}
