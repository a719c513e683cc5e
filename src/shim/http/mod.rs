//! HTTP: the accept loop, request lines to routes, the Host check and the token.

pub mod app;
pub mod auth;
pub mod host;
pub mod routes;
pub mod serve;
pub mod shares;
