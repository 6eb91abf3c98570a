//! # moreml-serve: encrypted inference over HTTP
//!
//! Serves models trained by `moreml train` (on ciphertexts or plaintext) to their owners:
//! a request body is a tensor file with `images` or `inputs` (ciphertexts under the model's
//! key), the answer a tensor file with `predictions` under the same key. The server never
//! sees a plaintext and cannot: this crate does not depend on the key crate (`moreml-more`).
//!
//! * [`server`]: routes (`/healthz`, `/readyz`, `/v1/models`, `/v1/models/NAME/predict`,
//!   `/metrics`), middleware (auth, body limit, timeout, request id, tracing, panic catching),
//!   graceful shutdown.
//! * [`engine`]: model loading and forward passes (the only user of `moreml-nn`).
//! * [`batcher`]: micro-batching of concurrent small requests.
//! * [`codec`]: request/response bodies in memory.
//! * [`auth`]: bearer token file and constant-time comparison.
//!
//! # Security
//! MORE has no security level: the service keeps ciphertexts of different owners apart and
//! refuses wrong keys, but anyone who sees the ciphertexts and knows roughly what the data
//! looks like can recover them. Plain HTTP: put TLS in front for anything beyond loopback.

#![warn(missing_docs)]

pub mod auth;
pub mod batcher;
pub mod codec;
pub mod engine;
mod error;
pub mod metrics;
pub mod server;

pub use auth::Token;
pub use batcher::BatchConfig;
pub use error::{Result, ServeError};
pub use server::{Running, ServeConfig};
