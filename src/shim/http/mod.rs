//! HTTP: the accept loop, request lines to routes, the Host check and the token.

mod act;
pub mod app;
pub(crate) mod auth;
mod every;
pub(crate) mod host;
mod reads;
mod respond;
pub mod routes;
mod run_reads;
mod sampled;
pub mod serve;
pub(crate) mod shares;
mod state;
mod stream;
mod threads;
