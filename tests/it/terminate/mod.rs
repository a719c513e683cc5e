//! Terminate (`signals`: the route, its grace and reclaim) and what it trusts (`trust`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod signals;
mod trust;

/// Still running: the process exists and has not ended (a zombie has ended: pid 1 here does
/// not reap orphans).
fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s[s.rfind(')').unwrap() + 2..].chars().next().unwrap();
            state != 'Z' && state != 'X'
        })
        .unwrap_or(false)
}

/// The sqlite3 shell's answer to `sql` on `board` (a user's view of the board afterwards).
fn shell(board: &std::path::Path, sql: &str) -> String {
    crate::common::run_ok(std::process::Command::new("sqlite3").arg(board).arg(sql))
        .trim()
        .to_owned()
}
