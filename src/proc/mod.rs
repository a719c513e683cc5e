//! The /proc readers: plain Rust over the procfs crate, one reader per concern, knowing
//! nothing of SQLite (checked by `tests/it/layers.rs`).
//! - [`info`]: one process's stats (`stat`, `statm`, `cmdline`, fds, the owner);
//! - [`marks`]: how a process was started (its environment's marks, stdout, session, parent);
//! - [`tree`]: the members of a process's tree;
//! - [`cpu`]: CPU samples kept between reads, for `cpu_percent`;
//! - [`file`]: one file of `/proc/<pid>` through its handle, in the fewest system calls.

pub mod cpu;
pub mod file;
pub mod info;
pub mod marks;
pub mod tree;
