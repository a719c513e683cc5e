//! Boards: which file a request means (the owner's rules), what may be opened safely, and
//! the pools of read-only connections (and the one writer) per board.

pub mod empty;
pub mod every;
pub mod file;
pub mod logs;
pub mod pool;
pub mod resolve;
pub mod snapshot;
