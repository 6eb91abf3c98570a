//! `moreml serve`: the HTTP inference service (server role; no key).

use anyhow::{Context, Result};
use clap::Args;
use moreml_serve::server::{self, ServeConfig, DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY};
use moreml_serve::{BatchConfig, Token};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `moreml serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Directory of models written by `moreml train` (every *.safetensors model is served,
    /// under its file stem).
    #[arg(long)]
    pub models: PathBuf,
    /// Address to listen on (loopback by default; the service speaks plain HTTP).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// File holding the bearer token (first line; must not be readable by group or others).
    #[arg(long)]
    pub token_file: PathBuf,
    /// Largest request body in bytes (413 above it).
    #[arg(long, default_value_t = DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// Largest number of records per request (413 above it).
    #[arg(long, default_value_t = DEFAULT_MAX_BATCH)]
    pub max_batch: usize,
    /// Request timeout in seconds (503 after it).
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Micro-batching: join concurrent requests up to this many records (0 = off).
    #[arg(long, default_value_t = 256)]
    pub batch_max_records: usize,
    /// Micro-batching: how long a request may wait for others, in milliseconds (0 = join
    /// only what is already queued).
    #[arg(long, default_value_t = 0.0)]
    pub batch_window_ms: f64,
    /// Forward passes run at the same time (each with its own copy of the model).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

pub fn serve(a: &ServeArgs) -> Result<()> {
    let token = Token::load(&a.token_file)?;
    if !(0.0..=10_000.0).contains(&a.batch_window_ms) {
        anyhow::bail!("--batch-window-ms {} must be between 0 and 10000", a.batch_window_ms);
    }
    let cfg = ServeConfig {
        max_body_bytes: a.max_body,
        max_batch: a.max_batch.max(1),
        timeout: Duration::from_secs(a.timeout.max(1)),
        batching: BatchConfig {
            max_rows: a.batch_max_records,
            window: Duration::from_secs_f64(a.batch_window_ms / 1000.0),
            workers: a.workers.max(1),
        },
        ..ServeConfig::new(a.models.clone(), token)
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(a.addr).await.with_context(|| format!("cannot listen on {}", a.addr))?;
        let addr = listener.local_addr()?;
        let (router, ready) = server::build(&cfg)?;
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "listening beyond loopback over plain HTTP; put TLS in front (MORE has no security level)");
        }
        eprintln!("moreml serve: listening on {addr}");
        server::serve_router(router, ready, listener, server::shutdown_signal()).await?;
        eprintln!("moreml serve: stopped");
        Ok(())
    })
}
