//! Boards: which file a request means (the owner's rules), what may be opened safely, and
//! the pools of read-only connections (and the one writer) per board.

pub(crate) mod empty;
pub(crate) mod every;
pub(crate) mod file;
pub mod logs;
pub mod pool;
pub(crate) mod resolve;
pub(crate) mod snapshot;
