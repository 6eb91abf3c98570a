//! The HTTP service: routes, middleware stack, start-up and graceful shutdown.

use crate::auth::{require_token, Token};
use crate::batcher::BatchConfig;
use crate::engine::{self, ModelInfo, Predictor};
use crate::error::{Result, ServeError};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Default largest request body: 64 MiB (an f64 ciphertext batch of ~2,600 MNIST images).
pub const DEFAULT_MAX_BODY: usize = 64 << 20;
/// Default largest number of records per request.
pub const DEFAULT_MAX_BATCH: usize = 1024;

/// Everything the service needs to start.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Directory of model files (every `*.safetensors` written by `moreml train`).
    pub models_dir: PathBuf,
    /// Bearer token required on every route but `/healthz` and `/readyz`.
    pub token: Token,
    /// Largest request body in bytes (larger: 413 before reading it).
    pub max_body_bytes: usize,
    /// Largest number of records per request (larger: 413 before decoding).
    pub max_batch: usize,
    /// Longest time a request may take (then 503; a running forward pass still finishes).
    pub timeout: Duration,
    /// Micro-batching of concurrent requests.
    pub batching: BatchConfig,
}

impl ServeConfig {
    /// Defaults for everything but the models and the token.
    pub fn new(models_dir: PathBuf, token: Token) -> Self {
        ServeConfig {
            models_dir,
            token,
            max_body_bytes: DEFAULT_MAX_BODY,
            max_batch: DEFAULT_MAX_BATCH,
            timeout: Duration::from_secs(60),
            batching: BatchConfig::default(),
        }
    }
}

#[derive(Clone)]
struct AppState {
    models: Arc<BTreeMap<String, Arc<dyn Predictor>>>,
    ready: Arc<AtomicBool>,
}

/// Marks a response with the error kind that produced it, for the metrics middleware.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ErrorKind(pub &'static str);

/// Loads the models and builds the router (must run inside a tokio runtime).
/// Returns the router and the readiness flag (cleared when shutdown starts).
pub fn build(cfg: &ServeConfig) -> Result<(Router, Arc<AtomicBool>)> {
    let models = engine::load_dir(&cfg.models_dir, cfg.batching, cfg.max_batch)?;
    let models: BTreeMap<_, _> = models.into_iter().map(|m| (m.info().name.clone(), m)).collect();
    let ready = Arc::new(AtomicBool::new(true));
    let state = AppState { models: Arc::new(models), ready: ready.clone() };
    let protected = Router::new()
        .route("/v1/models", get(list_models))
        .route("/v1/models/{name}/predict", post(predict))
        .route("/metrics", get(|| async { crate::metrics::render() }))
        .route_layer(middleware::from_fn_with_state(cfg.token.clone(), require_token));
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(protected)
        .fallback(|| async {
            (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": "no such route", "kind": "no_route"})))
        })
        .with_state(state)
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(cfg.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, cfg.timeout))
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // Method, path and request id only: never headers (the token) or bodies.
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(CatchPanicLayer::new());
    Ok((router, ready))
}

async fn readyz(State(s): State<AppState>) -> Response {
    let ready = s.ready.load(Ordering::SeqCst);
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(serde_json::json!({"ready": ready, "models": s.models.len()}))).into_response()
}

async fn list_models(State(s): State<AppState>) -> Json<Vec<ModelInfo>> {
    Json(s.models.values().map(|m| m.info().clone()).collect())
}

async fn predict(State(s): State<AppState>, Path(name): Path<String>, body: Bytes) -> Result<Response> {
    let model = s.models.get(&name).cloned().ok_or(ServeError::UnknownModel(name))?;
    let out = model.predict(body).await?;
    let ct = HeaderValue::from_static("application/octet-stream");
    Ok(([(header::CONTENT_TYPE, ct)], out).into_response())
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish and returns.
pub async fn serve(
    cfg: &ServeConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    crate::metrics::handle();
    let (router, ready) = build(cfg)?;
    serve_router(router, ready, listener, shutdown).await
}

/// Serves an already built router (see [`build`]) until `shutdown` resolves, then drains.
pub async fn serve_router(
    router: Router,
    ready: Arc<AtomicBool>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            ready.store(false, Ordering::SeqCst);
            tracing::info!("shutting down: finishing in-flight requests");
        })
        .await
        .map_err(|e| ServeError::Io(e.to_string()))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// A service running on its own thread and runtime (tests, embedding); stop it with
/// [`Running::stop`].
pub struct Running {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Running {
    /// Binds `addr` (port 0 picks a free port) and starts serving in the background.
    pub fn start(cfg: ServeConfig, addr: SocketAddr) -> Result<Running> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| ServeError::Io(e.to_string()))?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|e| ServeError::Io(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener.local_addr().map_err(|e| ServeError::Io(e.to_string()))?;
        // Load models before returning, so start-up errors reach the caller.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                crate::metrics::handle();
                let (router, ready) = match build(&cfg) {
                    Ok(built) => built,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.clone()));
                        return Err(e);
                    }
                };
                let _ = ready_tx.send(Ok(()));
                serve_router(router, ready, listener, async move {
                    let _ = rx.await;
                })
                .await
            })
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Running { addr, stop: Some(tx), thread: Some(thread) }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ServeError::Io("server thread stopped during start-up".into())),
        }
    }

    /// Starts graceful shutdown and waits for in-flight requests to finish.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(ServeError::Internal("server thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
