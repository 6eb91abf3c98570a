//! Bearer-token authentication: the token file is checked like ssh checks private keys, and
//! tokens are compared in constant time.

use crate::error::{Result, ServeError};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::path::Path;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Shortest accepted token (bytes): shorter ones are guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// The service's shared secret. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct Token(Arc<[u8]>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// Wraps a token given in memory (tests, embedding); same length rule as files.
    pub fn new(token: &str) -> Result<Self> {
        let t = token.trim();
        if t.len() < MIN_TOKEN_LEN || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ServeError::Token {
                path: "<memory>".into(),
                detail: format!("a token must be at least {MIN_TOKEN_LEN} printable characters without spaces"),
            });
        }
        Ok(Token(Arc::from(t.as_bytes())))
    }

    /// Reads the token from `path` (first line, trimmed), refusing a file that the group or
    /// others may read or write, as ssh does for private keys.
    pub fn load(path: &Path) -> Result<Self> {
        let err = |detail: String| ServeError::Token { path: path.display().to_string(), detail };
        let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read it ({e})")))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(err(format!(
                    "permissions {mode:04o} are too open (group or others can access it); run `chmod 600 {}`",
                    path.display()
                )));
            }
        }
        let _ = meta;
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read it ({e})")))?;
        let line = text.lines().next().unwrap_or("");
        Token::new(line).map_err(|e| match e {
            ServeError::Token { detail, .. } => err(detail),
            e => e,
        })
    }

    /// The `Authorization` header value a client sends (`Bearer <token>`).
    pub fn bearer(&self) -> String {
        format!("Bearer {}", String::from_utf8_lossy(&self.0))
    }

    /// Whether an `Authorization` header value carries this token (constant time in the token).
    pub fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        bool::from(given.ct_eq(&self.0))
    }
}

/// Middleware: lets a request through only with `Authorization: Bearer <token>`.
pub async fn require_token(State(token): State<Token>, req: Request, next: Next) -> Response {
    let header = req.headers().get(axum::http::header::AUTHORIZATION).map(|v| v.as_bytes());
    if !token.accepts(header) {
        return ServeError::Unauthorized.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_exact_bearer_token() {
        let t = Token::new("0123456789abcdef-token").unwrap();
        assert!(t.accepts(Some(b"Bearer 0123456789abcdef-token")));
        assert!(!t.accepts(Some(b"Bearer 0123456789abcdef-toke")));
        assert!(!t.accepts(Some(b"Bearer 0123456789abcdef-tokenX")));
        assert!(!t.accepts(Some(b"bearer 0123456789abcdef-token")));
        assert!(!t.accepts(Some(b"0123456789abcdef-token")));
        assert!(!t.accepts(None));
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
    }

    #[test]
    fn refuses_short_tokens_and_open_files() {
        assert!(Token::new("short").is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "0123456789abcdef-token\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = Token::load(&p).unwrap_err().to_string();
            assert!(e.contains("too open") && e.contains("chmod 600"), "{e}");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(Token::load(&p).unwrap().accepts(Some(b"Bearer 0123456789abcdef-token")));
        assert!(Token::load(&dir.path().join("missing")).is_err());
    }
}
