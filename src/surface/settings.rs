//! The settings the verdicts depend on, as SQL functions the views call:
//! - `kanban_workers_hostname()`: this host's name, as the board's owner writes it at the
//!   start of `claim_lock`; a claim naming another host is another host's worker.
//! - `kanban_workers_epoch()`: this host's instantiation, `<boot_id>:<pid 1's start ticks>`,
//!   the first part of the owner's fingerprints: a claim whose fingerprint carries it is this
//!   host's whatever host name it was written under (a renamed host).
//! - `kanban_workers_spawn_window()`: seconds after a run's `started_at` within which its
//!   worker process may have started, for runs without a recorded fingerprint.
//! - `kanban_workers_machine_id_of(text)`: `text` as a machine id (a UUID), else NULL.
//! - `kanban_workers_machine_id()`: this host's Hermes machine id (the owner's distributed
//!   workers stamp it on `task_runs.machine_id`), NULL when not known: where both are known, a
//!   run's locality follows it rather than its claim's host name.
//!
//! They come from the system and the environment for the loadable extension
//! (`KANBAN_WORKERS_HOSTNAME`, `KANBAN_WORKERS_SPAWN_WINDOW`, `KANBAN_WORKERS_MACHINE_ID`),
//! and from flags and the kanban root's `kanban/machine-id` for the shim.

use std::sync::Arc;

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, Result};

use crate::proc::info as procinfo;

pub const HOSTNAME: &str = "kanban_workers_hostname";
pub const SPAWN_WINDOW: &str = "kanban_workers_spawn_window";
pub const EPOCH: &str = "kanban_workers_epoch";
pub const MACHINE_ID: &str = "kanban_workers_machine_id";
/// `kanban_workers_machine_id_of(text)`: `text` as a machine id ([`machine_id`]), or NULL.
pub const MACHINE_ID_OF: &str = "kanban_workers_machine_id_of";
/// The default spawn window, seconds: the owner records the pid right after the spawn, so a
/// worker starts within seconds of its claim; a minute leaves room for a loaded host.
pub const DEFAULT_SPAWN_WINDOW_S: i64 = 60;

/// What the verdicts take from the host, as `kanban_workers_hostname()`,
/// `kanban_workers_spawn_window()` and `kanban_workers_machine_id()` answer it:
/// [`Settings::from_env`] for the loadable extension, the shim's flags for the shim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// This host's name in `claim_lock`s.
    pub hostname: String,
    /// Seconds after a run's `started_at` within which its worker may have started, for runs
    /// without a recorded fingerprint (60 by default, `DEFAULT_SPAWN_WINDOW_S`).
    pub spawn_window_s: i64,
    /// This host's Hermes machine id, when known: a UUID, lower-cased.
    pub machine_id: Option<String>,
}

/// `text` as a Hermes kanban machine id: a UUID (`8-4-4-4-12` hex digits, trimmed, lower-cased),
/// as the owner's distributed workers write `<kanban root>/kanban/machine-id`; `None` otherwise.
/// `HERMES_MACHINE_ID` means two things upstream: that UUID, and an operator's free string the
/// owner's cron has read since 0.19.0 (`hermes-prod-boston-01`), which is never taken for one.
pub fn machine_id(text: &str) -> Option<String> {
    let id = text.trim();
    let valid = id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    valid.then(|| id.to_ascii_lowercase())
}

impl Settings {
    /// The system's host name, the default window and no machine id, each overridden by its
    /// environment variable when set (`KANBAN_WORKERS_HOSTNAME`, `KANBAN_WORKERS_SPAWN_WINDOW`,
    /// `KANBAN_WORKERS_MACHINE_ID`; an unparsable window or machine id is ignored).
    pub fn from_env() -> Settings {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Settings {
            hostname: var("KANBAN_WORKERS_HOSTNAME")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|| procinfo::hostname().to_owned()),
            spawn_window_s: var("KANBAN_WORKERS_SPAWN_WINDOW")
                .and_then(|w| w.trim().parse().ok())
                .filter(|w| (0..=86_400).contains(w))
                .unwrap_or(DEFAULT_SPAWN_WINDOW_S),
            machine_id: var("KANBAN_WORKERS_MACHINE_ID").and_then(|m| machine_id(&m)),
        }
    }
}

pub fn register(conn: &Connection, settings: &Settings) -> Result<()> {
    let constant = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    // The host name is information about this machine: only direct SQL and the user's own
    // TEMP views may ask for it, never a database's schema.
    // No String made at each call (a view may ask a dozen times a row): the values are shared,
    // and SQLite copies the text it is given.
    let hostname: Arc<str> = Arc::from(settings.hostname.as_str());
    conn.create_scalar_function(
        HOSTNAME,
        0,
        constant | FunctionFlags::SQLITE_DIRECTONLY,
        move |_| Ok(Arc::clone(&hostname)),
    )?;
    // This host's instantiation (boot id, pid 1's start): as the host name, machine facts.
    conn.create_scalar_function(
        EPOCH,
        0,
        constant | FunctionFlags::SQLITE_DIRECTONLY,
        |_| Ok(procinfo::epoch()),
    )?;
    // Machine facts again: direct SQL and TEMP views only.
    let machine: Option<Arc<str>> = settings.machine_id.as_deref().map(Arc::from);
    conn.create_scalar_function(
        MACHINE_ID,
        0,
        constant | FunctionFlags::SQLITE_DIRECTONLY,
        move |_| Ok(machine.clone()),
    )?;
    // A value as a machine id, or NULL: the one rule, for the views (a run's stamp, a
    // worker's environment).
    conn.create_scalar_function(
        MACHINE_ID_OF,
        1,
        constant | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                rusqlite::types::ValueRef::Text(t) => {
                    std::str::from_utf8(t).ok().and_then(machine_id)
                }
                _ => None,
            })
        },
    )?;
    let window = settings.spawn_window_s;
    conn.create_scalar_function(
        SPAWN_WINDOW,
        0,
        constant | FunctionFlags::SQLITE_INNOCUOUS,
        move |_| Ok(window),
    )
}
