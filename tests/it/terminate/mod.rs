//! Terminate (`signals`: the route, its grace and reclaim) and what it trusts (`trust`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod signals;
mod trust;

pub use crate::common::alive;

/// The sqlite3 shell's answer to `sql` on `board` (a user's view of the board afterwards).
fn shell(board: &std::path::Path, sql: &str) -> String {
    crate::common::run_ok(std::process::Command::new("sqlite3").arg(board).arg(sql))
        .trim()
        .to_owned()
}
