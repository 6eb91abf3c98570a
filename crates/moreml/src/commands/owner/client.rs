//! `moreml client`: the owner's side of the inference service (predict: encrypt, send,
//! decrypt) and a bounded loopback load generator.

use crate::commands::common::with_dtype;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use moreml_cipher::format::{self, CipherFile, Kind, PlainFile};
use moreml_cipher::prelude::*;
use moreml_more::SecretKey;
use moreml_serve::{codec, engine, Token};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `moreml client`.
#[derive(Args, Debug)]
pub struct ClientArgs {
    #[command(subcommand)]
    pub which: ClientCommand,
}

/// Client actions.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// [owner] Encrypt a plaintext data set, get predictions from the service, decrypt them.
    Predict(ClientPredictArgs),
    /// [tool] Send an encrypted file repeatedly (loopback only) and report throughput and latency.
    Load(LoadArgs),
}

/// Where the service is and how to authenticate.
#[derive(Args, Debug)]
pub struct Endpoint {
    /// Service base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub url: String,
    /// Model name (see GET /v1/models).
    #[arg(long)]
    pub model: String,
    /// File with the bearer token (must not be readable by group or others).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// `moreml client predict`.
#[derive(Args, Debug)]
pub struct ClientPredictArgs {
    /// The secret key (never sent; only ciphertexts leave this machine).
    #[arg(long)]
    pub key: PathBuf,
    #[command(flatten)]
    pub endpoint: Endpoint,
    /// Plaintext data: tensor `images` or `inputs` [n, features]; `labels`/`targets` optional.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the decrypted `predictions` [n, outputs] (plaintext file).
    #[arg(long)]
    pub out: PathBuf,
    /// Records per request.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Retries of a request after a connection error (with exponential backoff).
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
}

/// `moreml client load`.
#[derive(Args, Debug)]
pub struct LoadArgs {
    #[command(flatten)]
    pub endpoint: Endpoint,
    /// Input file as the service takes it (ciphertexts under the model's key, or plaintext).
    #[arg(long)]
    pub input: PathBuf,
    /// Records per request.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Duration of the run (at most 3600).
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Requests in flight at once (client threads, at most 256).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Stop after this many requests even if time remains.
    #[arg(long)]
    pub max_requests: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn client(a: &ClientArgs) -> Result<()> {
    match &a.which {
        ClientCommand::Predict(p) => predict(p),
        ClientCommand::Load(l) => load(l),
    }
}

/// A blocking HTTP client for one model's predict route.
struct Http {
    agent: ureq::Agent,
    url: String,
    auth: Option<String>,
}

impl Http {
    fn new(e: &Endpoint) -> Result<Self> {
        let auth = e.token_file.as_deref().map(Token::load).transpose()?.map(|t| t.bearer());
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        let url = format!("{}/v1/models/{}/predict", e.url.trim_end_matches('/'), e.model);
        Ok(Http { agent, url, auth })
    }

    /// One POST; `Err` only for transport failures, HTTP errors come back as a status.
    fn post(&self, body: &[u8]) -> Result<(u16, Vec<u8>), ureq::Error> {
        let mut req = self.agent.post(&self.url).content_type("application/octet-stream");
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let mut resp = req.send(body)?;
        let status = resp.status().as_u16();
        Ok((status, resp.body_mut().with_config().limit(1 << 31).read_to_vec()?))
    }

    /// POST with retries on connection errors (predict is a pure function: safe to repeat);
    /// a non-200 answer is an error with the service's message.
    fn post_ok(&self, body: &[u8], retries: u32) -> Result<Vec<u8>> {
        let mut attempt = 0;
        loop {
            match self.post(body) {
                Ok((200, bytes)) => return Ok(bytes),
                Ok((status, bytes)) => {
                    let msg = serde_json::from_slice::<serde_json::Value>(&bytes)
                        .ok()
                        .and_then(|v| v["error"].as_str().map(str::to_string))
                        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
                    bail!("{} answered {status}: {msg}", self.url);
                }
                Err(e) if attempt < retries => {
                    attempt += 1;
                    let wait = Duration::from_millis(100 << attempt.min(6));
                    eprintln!("request failed ({e}); retry {attempt}/{retries} in {wait:?}");
                    std::thread::sleep(wait);
                }
                Err(e) => return Err(e).with_context(|| format!("cannot reach {}", self.url)),
            }
        }
    }
}

/// The first tensor named like `names` (in that order of preference).
fn named<'a, V>(tensors: &'a [(String, V)], names: &[&str]) -> Option<(&'a str, &'a V)> {
    names.iter().find_map(|n| tensors.iter().find(|(t, _)| t == n).map(|(t, v)| (t.as_str(), v)))
}

fn predict(a: &ClientPredictArgs) -> Result<()> {
    let key = crate::commands::owner::crypt::load_key(&a.key)?;
    let info = format::read_info(&a.input)?;
    if info.kind != Kind::Plaintext {
        bail!("{} holds ciphertexts; client predict encrypts a plaintext file itself", a.input.display());
    }
    let http = Http::new(&a.endpoint)?;
    with_dtype!(crate::commands::common::Dtype::of_name(info.dtype)?, predict_as(a, &key, &http))
}

fn predict_as<T: Float>(a: &ClientPredictArgs, key: &SecretKey, http: &Http) -> Result<()> {
    let file = format::read_plain::<T>(&a.input)?;
    let Some((name, x)) = named(&file.tensors, &engine::INPUT_NAMES) else {
        bail!("{}: no tensor named 'images' or 'inputs'", a.input.display());
    };
    let n = x.shape()[0];
    let bar = moreml_nn::learner::progress(n as u64, format!("predict via {}", a.endpoint.model));
    let (mut values, mut k) = (Vec::with_capacity(n * 10), 0);
    for start in (0..n).step_by(a.batch.max(1)) {
        let idx: Vec<usize> = (start..(start + a.batch.max(1)).min(n)).collect();
        let wire = key.encrypt(&x.gather_rows(&idx))?;
        let body =
            CipherFile { key: key.tag().clone(), tensors: vec![(name.to_string(), wire)], extra: Default::default() };
        let answer = http.post_ok(&codec::encode_cipher(&body)?, a.retries)?;
        let reply = codec::decode_cipher::<T>(&answer).context("the service's answer is not a ciphertext file")?;
        key.check_tag(&reply.key).context("the service answered under another key")?;
        let y = key.decrypt(reply.get(engine::OUTPUT_NAME, Path::new("response"))?)?.values;
        if y.shape().len() != 2 || y.shape()[0] != idx.len() {
            bail!("the service answered {:?} for {} records", y.shape(), idx.len());
        }
        k = y.shape()[1];
        values.extend_from_slice(y.values());
        bar.inc(idx.len() as u64);
    }
    bar.finish_and_clear();
    let pred = PlainTensor::from_vec(&[n, k], values)?;
    pred.check_finite("decrypted predictions")?;
    if let Some((_, t)) = named(&file.tensors, &["labels", "targets"]) {
        if t.shape() == pred.shape() {
            let p = moreml_nn::loss::argmax_rows(pred.values(), k);
            let truth = moreml_nn::loss::argmax_rows(t.values(), k);
            let correct = p.iter().zip(&truth).filter(|(a, b)| a == b).count();
            println!("accuracy {:.4} ({correct}/{n} records)", correct as f64 / n as f64);
        }
    }
    let out = PlainFile { tensors: vec![(engine::OUTPUT_NAME.to_string(), pred)], extra: Default::default() };
    format::write_plain(&a.out, &out)?;
    eprintln!("wrote {n} decrypted predictions to {}", a.out.display());
    Ok(())
}

fn ensure_loopback(url: &str) -> Result<()> {
    let rest = url.strip_prefix("http://").context("--url must start with http://")?;
    let host = rest.split('/').next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        bail!("client load only targets loopback (127.0.0.1, localhost, [::1]), not {host}");
    }
    Ok(())
}

/// Request bodies of `batch` records each, cut from the input file (at most 64 distinct).
fn load_bodies<T: Float>(path: &Path, kind: Kind, batch: usize) -> Result<Vec<Vec<u8>>> {
    let mut bodies = Vec::new();
    match kind {
        Kind::Ciphertext => {
            let file = format::read_cipher::<T>(path)?;
            let (name, w) = named(&file.tensors, &engine::INPUT_NAMES).context("no tensor 'images' or 'inputs'")?;
            let (n, f) = (w.shape()[0], w.numel() / w.shape()[0].max(1));
            for start in (0..n.saturating_sub(batch - 1)).step_by(batch).take(64) {
                let raw = w.raw()[start * f * 4..(start + batch) * f * 4].to_vec();
                let t = WireCiphertext::from_vec(&[batch, f], raw)?;
                let body =
                    CipherFile { key: file.key.clone(), tensors: vec![(name.into(), t)], extra: Default::default() };
                bodies.push(codec::encode_cipher(&body)?);
            }
        }
        Kind::Plaintext => {
            let file = format::read_plain::<T>(path)?;
            let (name, x) = named(&file.tensors, &engine::INPUT_NAMES).context("no tensor 'images' or 'inputs'")?;
            for start in (0..x.shape()[0].saturating_sub(batch - 1)).step_by(batch).take(64) {
                let t = x.gather_rows(&(start..start + batch).collect::<Vec<_>>());
                bodies.push(codec::encode_plain(&PlainFile {
                    tensors: vec![(name.into(), t)],
                    extra: Default::default(),
                })?);
            }
        }
    }
    if bodies.is_empty() {
        bail!("{} holds fewer than --batch {batch} records", path.display());
    }
    Ok(bodies)
}

fn load(a: &LoadArgs) -> Result<()> {
    ensure_loopback(&a.endpoint.url)?;
    if !(a.seconds > 0.0 && a.seconds <= 3600.0) || a.concurrency == 0 || a.concurrency > 256 || a.batch == 0 {
        bail!("need 0 < --seconds <= 3600, 1 <= --concurrency <= 256 and --batch >= 1");
    }
    let info = format::read_info(&a.input)?;
    let bodies =
        with_dtype!(crate::commands::common::Dtype::of_name(info.dtype)?, load_bodies(&a.input, info.kind, a.batch))?;
    let http = Http::new(&a.endpoint)?;
    let max = a.max_requests.unwrap_or(u64::MAX);
    let (sent, errors) = (AtomicU64::new(0), AtomicU64::new(0));
    let bar = indicatif::ProgressBar::new((a.seconds * 10.0) as u64);
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(a.seconds);
    let mut latencies: Vec<f64> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..a.concurrency)
            .map(|w| {
                let (http, bodies, sent, errors) = (&http, &bodies, &sent, &errors);
                s.spawn(move || {
                    let mut lat = Vec::new();
                    let mut i = w;
                    while Instant::now() < end && sent.fetch_add(1, Ordering::SeqCst) < max {
                        let t = Instant::now();
                        let ok = matches!(http.post(&bodies[i % bodies.len()]), Ok((200, _)));
                        lat.push(t.elapsed().as_secs_f64());
                        if !ok {
                            errors.fetch_add(1, Ordering::SeqCst);
                        }
                        i += a.concurrency;
                    }
                    lat
                })
            })
            .collect();
        while Instant::now() < end && workers.iter().any(|w| !w.is_finished()) {
            std::thread::sleep(Duration::from_millis(100));
            bar.set_position((t0.elapsed().as_secs_f64() * 10.0) as u64);
        }
        workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect()
    });
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let q = |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN);
    let n = latencies.len() as f64;
    let report = serde_json::json!({
        "model": a.endpoint.model, "batch": a.batch, "concurrency": a.concurrency, "seconds": secs,
        "requests": latencies.len(), "errors": errors.load(Ordering::SeqCst),
        "requests_per_s": n / secs, "images_per_s": n * a.batch as f64 / secs,
        "p50_ms": q(0.5) * 1e3, "p99_ms": q(0.99) * 1e3, "max_ms": q(1.0) * 1e3,
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} requests in {secs:.1} s, {} errors: {:.1} requests/s, {:.1} images/s, p50 {:.2} ms, p99 {:.2} ms",
            latencies.len(),
            report["errors"],
            n / secs,
            n * a.batch as f64 / secs,
            q(0.5) * 1e3,
            q(0.99) * 1e3
        );
    }
    Ok(())
}
