//! The HTTP shim: the dashboard's three routes as queries over the SQL surface, registered
//! in-process on read-only rusqlite connections. Thin by design: parse, run one query,
//! serialize. Nothing here reads /proc or joins tables: that is the SQL surface's job.

pub mod auth;
pub mod board_file;
pub mod boards;
pub mod config;
pub mod db;
pub mod demo;
pub mod handlers;
pub mod host;
pub mod log;
pub mod routes;
pub mod server;

/// An error answered as `{"detail": "..."}` with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: detail.into(),
        }
    }
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "detail": self.detail })
    }
}
