//! The scope rule (DESIGN.md, "The scope is evidence"; issue 38). Where the board owner's
//! dispatcher runs under systemd, it starts each worker with `systemd-run --user --scope
//! --unit hermes-worker-kanban-<task_id>-run-<run_id>`: the worker and everything it starts
//! (a double-forked child that cleared its environment, closed its fds and left the session
//! included) live in that transient scope's cgroup. A cgroup is the run's scope only when
//! 1. its name is exactly the owner's for that task and run ([`unit_name`]; a task id that
//!    systemd would escape or that could name another unit is refused, never guessed);
//! 2. the run's verified worker (the pid with the start ticks the verdict was made on) is in
//!    it: its cgroup is that scope or a sub-cgroup of it, the scope's listing (sub-cgroups
//!    included) has the pid, and the start ticks are read again, through the same handle on
//!    `/proc/<pid>`, after the listing;
//! 3. it lies within the board owner's part of the tree: the directory is the owner's (their
//!    user manager made it, in the subtree systemd delegated to them), or it is root's and
//!    beneath a directory of the owner's or their `user@<uid>.service`. Another user's
//!    directory is never the owner's, wherever it is.
//!
//! Anything else is no evidence: [`NoScope::Refused`] says why. A process in no systemd scope
//! at all is refused before its identity is read (it is in no run's scope, whoever it is).
//! The scope's directory is opened once, beneath the checked mount ([`CgroupDir::open`]),
//! and kept in the [`Scope`]: its members, meters, `cgroup.kill` and `cgroup.freeze` are all
//! read and written beneath that descriptor. A scope proves who the run's processes are; it
//! does not prove they are still the owner's (a set-uid program run inside is someone
//! else's): check each member's real uid before signalling.

use std::fmt;

use procfs::FromRead;
use procfs::process::{Process, Stat};

use crate::proc::file;

use super::dir::{Ancestor, CgroupDir, Member};
use super::files::Events;
use super::meters::{Meters, WantMeters};
use super::{Error, Result, mount, path};

/// The evidence a proven scope gives a process of the run.
pub const EVIDENCE: &str = "scope";
/// systemd's longest unit name (`UNIT_NAME_MAX` less its NUL).
const UNIT_NAME_MAX: usize = 255;

/// The run's verified worker, and whose board it is.
#[derive(Debug, Clone, Copy)]
pub struct RunWorker<'a> {
    pub pid: i32,
    /// Its start in clock ticks after boot, as the verdict read them.
    pub start_ticks: u64,
    pub task_id: &'a str,
    pub run_id: i64,
    /// The board file's owner.
    pub owner_uid: u32,
}

/// The run's proven scope, its directory open.
#[derive(Debug)]
pub struct Scope {
    dir: CgroupDir,
    members: Vec<Member>,
}

/// Why a run has no scope evidence.
#[derive(Debug)]
pub enum NoScope {
    /// Decided: no scope, or not the run's.
    Refused(String),
    /// Not decided: a file could not be read (named).
    Unreadable(Error),
}

impl fmt::Display for NoScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoScope::Refused(why) => f.write_str(why),
            NoScope::Unreadable(e) => write!(f, "{e}"),
        }
    }
}

impl From<Error> for NoScope {
    fn from(e: Error) -> NoScope {
        NoScope::Unreadable(e)
    }
}

impl Scope {
    /// The scope's name: `hermes-worker-kanban-<task_id>-run-<run_id>.scope`.
    pub fn name(&self) -> &str {
        self.dir.name()
    }
    /// Its path below the hierarchy's root.
    pub fn path(&self) -> &str {
        self.dir.path()
    }
    /// Its directory's owner.
    pub fn uid(&self) -> u32 {
        self.dir.uid()
    }
    /// The open directory: its files, sub-cgroups, `cgroup.kill` and `cgroup.freeze`.
    pub fn dir(&self) -> &CgroupDir {
        &self.dir
    }
    /// The live processes of the scope and its sub-cgroups when it was proven (the worker
    /// among them).
    pub fn proven_members(&self) -> &[Member] {
        &self.members
    }
    /// Its live processes now (sub-cgroups included).
    pub fn members(&self) -> Result<Vec<Member>> {
        self.dir.members()
    }
    /// Its meters (`processes` counted now).
    pub fn meters(&self, want: WantMeters) -> Meters {
        Meters::read(&self.dir, want, None)
    }
    /// `cgroup.events`: populated, frozen.
    pub fn events(&self) -> Result<Events> {
        self.dir.events()
    }
    /// SIGKILL to every process of the scope, by the kernel (`cgroup.kill`).
    pub fn kill(&self) -> Result<()> {
        self.dir.kill()
    }
    /// Freeze or thaw the whole scope (`cgroup.freeze`); [`Scope::events`] says when done.
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        self.dir.freeze(frozen)
    }
}

/// The owner's scope name for `task_id` and `run_id`, when systemd keeps it as it is: a task
/// id of letters, digits, `:`, `_`, `.` and `-` only (systemd escapes the rest, `/` to `-`,
/// so two tasks could share one name), in a name of at most 255 characters.
pub fn unit_name(task_id: &str, run_id: i64) -> std::result::Result<String, String> {
    let kept = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '-');
    if task_id.is_empty() || !task_id.chars().all(kept) {
        let shown: String = task_id.chars().take(80).collect();
        return Err(format!(
            "task id {shown:?} is not a unit name systemd keeps as it is: no scope is its"
        ));
    }
    let name = format!("hermes-worker-kanban-{task_id}-run-{run_id}.scope");
    if name.len() > UNIT_NAME_MAX {
        return Err(format!(
            "the scope name for task id {task_id:?} is longer than systemd's {UNIT_NAME_MAX}"
        ));
    }
    Ok(name)
}

/// The run's scope, proven by the rule above, or why there is none.
pub fn scope_of_run(w: &RunWorker<'_>) -> std::result::Result<Scope, NoScope> {
    let name = unit_name(w.task_id, w.run_id).map_err(NoScope::Refused)?;
    let Some(mount) = mount::v2()? else {
        return Err(NoScope::Refused("no cgroup v2 hierarchy is mounted".into()));
    };
    let mut buf = Vec::new();
    let process = handle(w)?;
    let cgroup = match path::of_process(&process, &mut buf) {
        Ok(Some(c)) => c,
        Ok(None) => return Err(refused(format!("pid {} is in no cgroup v2", w.pid))),
        Err(e) if e.is_missing() => return Err(gone(w)),
        Err(e) => return Err(e.into()),
    };
    // In no systemd scope at all (most workers: no dispatcher under systemd), it is in no
    // run's scope, whoever it is: refused before its identity is read (a `stat` a worker, 6%
    // of `live_workers` at 5,000 workers).
    if super::process::scope_name(&cgroup).is_none() {
        return Err(refused(format!(
            "the worker's cgroup {cgroup} is not the run's scope {name}"
        )));
    }
    the_same(&process, w, &mut buf)?;
    let below = mount.beneath(&cgroup).ok_or_else(|| {
        refused(format!(
            "the worker's cgroup {cgroup} is outside the mounted part of the hierarchy"
        ))
    })?;
    // The deepest component with the name: the narrowest claim (a sub-cgroup of the same
    // name inside the scope is not widened to its parent).
    let parts: Vec<&str> = below.split('/').filter(|c| !c.is_empty()).collect();
    if parts.iter().any(|c| *c == "." || *c == "..") {
        return Err(refused(format!(
            "the worker's cgroup {cgroup} is outside this process's cgroup namespace"
        )));
    }
    let Some(at) = parts.iter().rposition(|c| *c == name) else {
        return Err(refused(format!(
            "the worker's cgroup {cgroup} is not the run's scope {name}"
        )));
    };
    let scope_path = format!("/{}", parts[..=at].join("/"));
    let (dir, ancestors) = match CgroupDir::open(mount, &scope_path) {
        Ok(opened) => opened,
        Err(e) if e.is_missing() => {
            return Err(refused(format!(
                "the scope {} is gone",
                mount.shown(&scope_path)
            )));
        }
        Err(e) => return Err(e.into()),
    };
    owners_part(dir.shown(), dir.uid(), &ancestors, w.owner_uid).map_err(NoScope::Refused)?;
    let members = dir.members()?;
    if !members.iter().any(|m| m.pid == w.pid) {
        return Err(refused(format!(
            "the worker (pid {}) is not among the processes of {}",
            w.pid,
            dir.shown()
        )));
    }
    // The pid listed is still the worker: the same process, read through the same handle.
    the_same(&process, w, &mut buf)?;
    Ok(Scope { dir, members })
}

fn refused(why: String) -> NoScope {
    NoScope::Refused(why)
}

fn gone(w: &RunWorker<'_>) -> NoScope {
    refused(format!("the worker (pid {}) is gone", w.pid))
}

/// The worker's `/proc/<pid>` handle (its identity not yet read: [`the_same`]).
fn handle(w: &RunWorker<'_>) -> std::result::Result<Process, NoScope> {
    match Process::new(w.pid) {
        Ok(p) => Ok(p),
        Err(procfs::ProcError::NotFound(_)) => Err(gone(w)),
        Err(e) => {
            let io = std::io::Error::other(e.to_string());
            Err(Error::io(format!("/proc/{}", w.pid), io).into())
        }
    }
}

/// Whether `process` is (still) the worker: its start ticks, and not a zombie.
fn the_same(
    process: &Process,
    w: &RunWorker<'_>,
    buf: &mut Vec<u8>,
) -> std::result::Result<(), NoScope> {
    let stat = file::read_into(process, "stat", buf).and_then(|()| Stat::from_read(&buf[..]));
    match stat {
        Ok(s) if s.starttime != w.start_ticks => Err(refused(format!(
            "pid {} is not the worker: it started at tick {}, the worker at {}",
            w.pid, s.starttime, w.start_ticks
        ))),
        Ok(s) if s.state == 'Z' => Err(refused(format!("the worker (pid {}) is a zombie", w.pid))),
        Ok(_) => Ok(()),
        Err(procfs::ProcError::NotFound(_)) => Err(gone(w)),
        Err(e) => {
            let io = std::io::Error::other(e.to_string());
            Err(Error::io(format!("/proc/{}/stat", w.pid), io).into())
        }
    }
}

/// Whether the scope directory `shown`, owned by `uid`, below `ancestors` (the mount's root
/// first), is in the part of the tree of the board's owner `owner`.
pub fn owners_part(
    shown: &str,
    uid: u32,
    ancestors: &[Ancestor],
    owner: u32,
) -> std::result::Result<(), String> {
    // A directory of another user on the way: that user could move processes into (or out of)
    // anything below it, so nothing below it is evidence for this owner.
    if let Some(other) = ancestors.iter().find(|a| a.uid != 0 && a.uid != owner) {
        return Err(format!(
            "the scope {shown} lies beneath {}, uid {}'s (neither root's nor the board \
             owner's, {owner})",
            if other.name.is_empty() {
                "/"
            } else {
                &other.name
            },
            other.uid
        ));
    }
    if uid == owner {
        return Ok(());
    }
    if uid != 0 {
        return Err(format!(
            "the scope {shown} is uid {uid}'s, not the board owner's ({owner})"
        ));
    }
    let delegated = format!("user@{owner}.service");
    if ancestors
        .iter()
        .any(|a| a.uid == owner || a.name == delegated)
    {
        return Ok(());
    }
    Err(format!(
        "the scope {shown} is root's and not beneath the board owner's part of the tree \
         (a cgroup of uid {owner}'s, or {delegated})"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_the_owners_exactly_or_refused() {
        assert_eq!(
            unit_name("t_b621", 7).unwrap(),
            "hermes-worker-kanban-t_b621-run-7.scope"
        );
        assert_eq!(
            unit_name("a-run-1", 2).unwrap(),
            "hermes-worker-kanban-a-run-1-run-2.scope"
        );
        for bad in ["", "a/b", "a\0b", "a b", "x@y", "a\\x2db", "é", "t\n0::/x"] {
            assert!(unit_name(bad, 1).is_err(), "{bad:?}");
        }
        let long = "t".repeat(250);
        assert!(unit_name(&long, 1).unwrap_err().contains("longer"));
    }

    #[test]
    fn the_owners_part_of_the_tree() {
        let a = |name: &str, uid: u32| Ancestor {
            name: name.into(),
            uid,
        };
        let under_user = [
            a("", 0),
            a("user.slice", 0),
            a("user-1000.slice", 0),
            a("user@1000.service", 1000),
            a("app.slice", 1000),
        ];
        // Made by the owner's manager: theirs.
        assert!(owners_part("s", 1000, &under_user, 1000).is_ok());
        // Root's, beneath their delegated subtree: theirs.
        assert!(owners_part("s", 0, &under_user, 1000).is_ok());
        let root_named = [a("", 0), a("user@1000.service", 0), a("app.slice", 0)];
        assert!(owners_part("s", 0, &root_named, 1000).is_ok());
        // Another user's, wherever it is: never.
        let err = owners_part("s", 1001, &under_user, 1000).unwrap_err();
        assert!(err.contains("uid 1001's"), "{err}");
        assert!(owners_part("s", 65534, &[a("", 0)], 0).is_err());
        // Root's, outside their subtree: not theirs; root's, for a root board: theirs.
        let system = [a("", 0), a("system.slice", 0)];
        assert!(
            owners_part("s", 0, &system, 1000)
                .unwrap_err()
                .contains("user@1000.service")
        );
        assert!(owners_part("s", 0, &under_user, 1001).is_err());
        assert!(owners_part("s", 0, &system, 0).is_ok());
        // Beneath another user's directory, even the owner's own or root's: never.
        let through_other = [
            a("", 0),
            a("user@1001.service", 1001),
            a("user@1000.service", 1000),
        ];
        for uid in [1000, 0] {
            let err = owners_part("s", uid, &through_other, 1000).unwrap_err();
            assert!(err.contains("uid 1001's"), "{err}");
        }
    }

    #[test]
    fn no_evidence_without_a_scope() {
        let me = Process::myself().unwrap();
        let stat = me.stat().unwrap();
        let w = RunWorker {
            pid: std::process::id() as i32,
            start_ticks: stat.starttime,
            task_id: "t_x",
            run_id: 7,
            owner_uid: rustix::process::geteuid().as_raw(),
        };
        // This test's own cgroup is not named for the run.
        let why = scope_of_run(&w).unwrap_err().to_string();
        assert!(
            why.contains("is not the run's scope hermes-worker-kanban-t_x-run-7.scope")
                || why.contains("no cgroup v2"),
            "{why}"
        );
        let other = RunWorker {
            start_ticks: stat.starttime + 1,
            ..w
        };
        let why = scope_of_run(&other).unwrap_err().to_string();
        // In a scope, the identity is read and refused; in none, the scope is, first.
        let expected = if super::super::process::this_process_in_a_scope() {
            "is not the worker"
        } else {
            "is not the run's scope"
        };
        assert!(
            why.contains(expected) || why.contains("no cgroup v2"),
            "{why}"
        );
        let bad = RunWorker {
            task_id: "a/b",
            ..w
        };
        assert!(
            scope_of_run(&bad)
                .unwrap_err()
                .to_string()
                .contains("\"a/b\"")
        );
    }
}
