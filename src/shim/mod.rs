//! The HTTP shim: the dashboard's routes (workers, runs, inspect, `?live=1`, metrics, the live
//! page) as one query each over the SQL surface, registered in-process on read-only rusqlite
//! connections, and the acts (terminate, stop, reap, pause, resume), the only routes that
//! write or signal. Thin by design: parse, run one query, serialize. Nothing here joins
//! tables or computes a verdict: that is the SQL surface's job. Rooms by layer: `http` (the
//! App, routes, Host, token, the accept loop), `board` (which file, opened how), `sample`
//! (one pass over `/proc` shared by a board's viewers), `answer` (the reads' bytes),
//! `terminate` (the acts), `fleet` (`GET /fleet/workers`), and `beneath`, `cli`, `start`,
//! `process`, `log`, `demo`, and `hermes` (the dashboard plugin's install; docs/design.md
//! says why).

pub mod answer;
pub(crate) mod beneath;
pub mod board;
pub mod cli;
pub(crate) mod demo;
pub(crate) mod fleet;
pub mod hermes;
pub mod http;
pub mod log;
pub mod process;
pub mod sample;
pub mod start;
pub(crate) mod terminate;

/// An error answered as `{"detail": "..."}` with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub detail: String,
    /// More keys for the body, beside `detail` (an object).
    pub extra: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: detail.into(),
            extra: None,
        }
    }
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "detail": self.detail });
        if let Some(serde_json::Value::Object(extra)) = &self.extra {
            for (k, v) in extra {
                body[k] = v.clone();
            }
        }
        body
    }
}

/// Untrusted text for an error message: at most 100 characters, control characters escaped.
pub fn shown(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(100)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().count() > 100 {
        out.push_str("...");
    }
    out
}
