//! Who may ask: a token, read from a file (never the command line), accepted as
//! `Authorization: Bearer <t>` or `X-Hermes-Session-Token: <t>` (what the existing dashboard
//! sends), compared in constant time (`subtle`).
//!
//! Reads stay open on a loopback listener unless `--auth-reads`; a listener beyond loopback
//! requires the token on every route (the shim refuses to start there without one). The
//! check runs before routing and before any board is read, so a missing or wrong token
//! learns nothing (not even whether a run exists).

use std::path::Path;

use hyper::HeaderMap;
use subtle::ConstantTimeEq;

use super::ApiError;

/// The header the existing dashboard sends its session token in.
pub const SESSION_HEADER: &str = "x-hermes-session-token";

#[derive(Clone)]
pub struct Auth {
    token: Option<Vec<u8>>,
    /// Every request needs the token (`--auth-reads`, or a listener beyond loopback).
    required: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.debug_struct("Auth")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("required", &self.required)
            .finish()
    }
}

impl Auth {
    /// No token: every request is answered (loopback only; see `config`).
    pub fn open() -> Auth {
        Auth {
            token: None,
            required: false,
        }
    }

    /// The token in `file` (surrounding white space trimmed); `required`: on every route.
    pub fn from_file(file: &Path, required: bool) -> Result<Auth, String> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read the token file {}: {e}", file.display()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!("the token file {} is empty", file.display()));
        }
        Ok(Auth {
            token: Some(token.as_bytes().to_vec()),
            required,
        })
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// `Ok` when a request with `headers` may be answered.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if !self.required {
            return Ok(());
        }
        self.check_token(headers)
    }

    /// `Ok` when a request that acts (terminate) may: the token always, and none configured
    /// is a 403 saying how to configure one.
    pub fn check_acting(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.token.is_none() {
            return Err(ApiError::new(
                403,
                "terminate needs an access token: start kanban-workers with --token-file PATH \
                 (or $KANBAN_WORKERS_TOKEN_FILE) naming a file that holds it, and send it as \
                 Authorization: Bearer <token> or X-Hermes-Session-Token: <token>",
            ));
        }
        self.check_token(headers)
    }

    fn check_token(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(token) = &self.token else {
            return Err(unauthorized("no token is configured"));
        };
        let bearer = headers
            .get_all(hyper::header::AUTHORIZATION)
            .iter()
            .filter_map(|v| {
                let v = v.as_bytes();
                (v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer "))
                    .then(|| v[7..].trim_ascii())
            });
        let session = headers
            .get_all(SESSION_HEADER)
            .iter()
            .map(|v| v.as_bytes().trim_ascii());
        let mut offered = false;
        let mut matched = subtle::Choice::from(0);
        for candidate in bearer.chain(session) {
            offered = true;
            matched |= candidate.ct_eq(token);
        }
        if bool::from(matched) {
            Ok(())
        } else if offered {
            Err(unauthorized("the token is wrong"))
        } else {
            Err(unauthorized(
                "a token is required: send it as Authorization: Bearer <token> or X-Hermes-Session-Token: <token>",
            ))
        }
    }
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(401, detail)
}
