//! Terminate (`signals`: the route, its grace and reclaim), what it trusts (`trust`), and stop
//! (`stop`: the task blocked as the owner blocks it, then the processes ended).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod signals;
mod stop;
mod trust;

pub use crate::common::alive;

/// The sqlite3 shell's answer to `sql` on `board` (a user's view of the board afterwards).
fn shell(board: &std::path::Path, sql: &str) -> String {
    crate::common::run_ok(std::process::Command::new("sqlite3").arg(board).arg(sql))
        .trim()
        .to_owned()
}
