//! The one error type of the service: every cause maps to one HTTP status and one metric label.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Errors of the service, from start-up (token, model directory) to single requests.
///
/// Request errors are `Clone` (plain strings) so one failed forward pass can answer every
/// request of a micro-batch. Messages never contain tensor values.
#[derive(Clone, Debug, thiserror::Error)]
#[allow(missing_docs)] // field names say it all
pub enum ServeError {
    // ---- start-up ------------------------------------------------------------------------
    /// The token file cannot be read, is empty, or others may read it.
    #[error("token file {path}: {detail}")]
    Token { path: String, detail: String },
    /// The model directory is missing, unreadable, or holds no usable model.
    #[error("model directory {path}: {detail}")]
    Models { path: String, detail: String },
    /// The listening address cannot be bound or the server failed while running.
    #[error("server: {0}")]
    Io(String),

    // ---- requests ------------------------------------------------------------------------
    /// No or wrong bearer token.
    #[error("missing or wrong bearer token; send `Authorization: Bearer <token>` with the service token")]
    Unauthorized,
    /// The URL names a model the service does not have.
    #[error("no model named '{0}'; GET /v1/models lists the served models")]
    UnknownModel(String),
    /// The body (or the batch it declares) exceeds a configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// The body is not a readable moreml tensor file (truncated, malformed, wrong tensors).
    #[error("bad request body: {0}")]
    BadBody(String),
    /// Ciphertexts under another key than the model's, or plaintext sent to an encrypted model.
    #[error("{0}")]
    WrongKey(String),
    /// A NaN or infinite value in the request.
    #[error("non-finite input: {0}")]
    NonFinite(String),
    /// The forward pass failed or the compute worker is gone (a bug or an overload).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServeError {
    /// Short label for metrics and logs (`moreml_errors_total{kind=...}`).
    pub fn kind(&self) -> &'static str {
        match self {
            ServeError::Token { .. } | ServeError::Models { .. } | ServeError::Io(_) => "startup",
            ServeError::Unauthorized => "unauthorized",
            ServeError::UnknownModel(_) => "unknown_model",
            ServeError::TooLarge(_) => "too_large",
            ServeError::BadBody(_) => "bad_body",
            ServeError::WrongKey(_) => "wrong_key",
            ServeError::NonFinite(_) => "non_finite",
            ServeError::Internal(_) => "internal",
        }
    }

    /// The HTTP status of a request error.
    pub fn status(&self) -> StatusCode {
        match self {
            ServeError::Unauthorized => StatusCode::UNAUTHORIZED,
            ServeError::UnknownModel(_) => StatusCode::NOT_FOUND,
            ServeError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServeError::BadBody(_) | ServeError::NonFinite(_) => StatusCode::BAD_REQUEST,
            ServeError::WrongKey(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        tracing::info!(kind = self.kind(), error = %self, "request refused");
        let body = serde_json::json!({ "error": self.to_string(), "kind": self.kind() });
        let mut resp = (self.status(), axum::Json(body)).into_response();
        resp.extensions_mut().insert(crate::server::ErrorKind(self.kind()));
        if matches!(self, ServeError::Unauthorized) {
            resp.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// `Result` with [`ServeError`].
pub type Result<T, E = ServeError> = std::result::Result<T, E>;
