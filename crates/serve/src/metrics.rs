//! Prometheus metrics: names, the process-wide recorder and the per-request middleware.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

/// Counter: finished requests, by route, method and status.
pub const REQUESTS: &str = "moreml_requests_total";
/// Counter: refused or failed requests, by kind (see [`crate::ServeError::kind`]).
pub const ERRORS: &str = "moreml_errors_total";
/// Histogram: request latency in seconds, by route.
pub const LATENCY: &str = "moreml_request_duration_seconds";
/// Gauge: requests being handled now.
pub const IN_FLIGHT: &str = "moreml_requests_in_flight";
/// Histogram: records per prediction request.
pub const REQUEST_ROWS: &str = "moreml_request_records";
/// Histogram: records per forward pass (after micro-batching).
pub const BATCH_ROWS: &str = "moreml_batch_records";
/// Histogram: requests joined into one forward pass.
pub const BATCH_REQUESTS: &str = "moreml_batch_requests";

const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0];

/// The process-wide Prometheus recorder (installed on first use; one per process, so several
/// servers in one test process share it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(LATENCY.into()), LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_records".into()), SIZE_BUCKETS))
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_REQUESTS.into()), SIZE_BUCKETS))
            .expect("bucket lists are non-empty constants")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding program): then our metrics
        // stay empty rather than failing the service.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        handle
    })
}

/// Renders the current metrics in the Prometheus text format.
pub fn render() -> String {
    let h = handle();
    h.run_upkeep();
    h.render()
}

/// Middleware: counts requests, measures latency and tracks requests in flight.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let method = req.method().to_string();
    let start = Instant::now();
    let _in_flight = InFlight::enter();
    let resp = next.run(req).await;
    let code = resp.status();
    if code.is_client_error() || code.is_server_error() {
        let kind = match (resp.extensions().get::<crate::server::ErrorKind>(), code.as_u16()) {
            (Some(k), _) => k.0,
            (None, 413) => "too_large",
            (None, 503) => "timeout",
            (None, 404) => "no_route",
            (None, 500) => "panic",
            (None, c) if c < 500 => "bad_request",
            _ => "internal",
        };
        metrics::counter!(ERRORS, "kind" => kind).increment(1);
    }
    let status = code.as_u16().to_string();
    metrics::histogram!(LATENCY, "route" => route.clone()).record(start.elapsed().as_secs_f64());
    metrics::counter!(REQUESTS, "route" => route, "method" => method, "status" => status).increment(1);
    resp
}

/// Counts one request in flight until dropped (also when the client disconnects mid-request).
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        metrics::gauge!(IN_FLIGHT).increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(IN_FLIGHT).decrement(1.0);
    }
}
