//! A process's own cgroup and its meters, with no claim about any run: where `/proc/<pid>/cgroup`
//! says the process is, opened beneath the v2 mount, and what it measures. The scope rule is
//! [`super::scope`]'s.

use procfs::process::Process;

use super::dir::CgroupDir;
use super::meters::{Meters, WantMeters};
use super::{Error, mount, path};

/// What was read of one process's cgroup.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// Its cgroup's path in the v2 hierarchy; `None` when it is in none.
    pub cgroup: Option<String>,
    pub meters: Meters,
    /// Why the cgroup could not be opened, or the first meter that could not be read.
    pub error: Option<String>,
}

/// The cgroup of process `pid` and what `want` asks of it; `None` when there is no such
/// process.
pub fn read(pid: i32, want: WantMeters) -> Option<Reading> {
    let mut out = Reading::default();
    match open(pid, &mut out.cgroup) {
        Ok(dir) => {
            out.meters = Meters::read(&dir, want, None);
            out.error = out.meters.error.clone();
        }
        Err(e) if e.is_missing() && out.cgroup.is_none() => return None,
        Err(e) => out.error = Some(e.to_string()),
    }
    Some(out)
}

/// The cgroup directory of process `pid`, opened beneath the v2 mount; its path, as
/// `/proc/<pid>/cgroup` gives it, in `cgroup` (when read). A process that is gone is a
/// missing `/proc/<pid>` ([`Error::is_missing`]).
pub fn open(pid: i32, cgroup: &mut Option<String>) -> super::Result<CgroupDir> {
    let proc_file = format!("/proc/{pid}/cgroup");
    let process = Process::new(pid).map_err(|e| match e {
        procfs::ProcError::NotFound(_) => Error::io(
            &proc_file,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ),
        e => Error::io(&proc_file, std::io::Error::other(e.to_string())),
    })?;
    let Some(path) = path::of_process(&process, &mut Vec::new())? else {
        return Err(Error::malformed(proc_file, "in no cgroup v2 hierarchy"));
    };
    let path = cgroup.insert(path);
    let Some(mount) = mount::v2()? else {
        return Err(Error::malformed(
            "/proc/self/mountinfo",
            "no cgroup v2 hierarchy is mounted",
        ));
    };
    let Some(below) = mount.beneath(path) else {
        return Err(Error::malformed(
            mount.shown("/"),
            format!("{path} is outside the mounted part of the hierarchy"),
        ));
    };
    Ok(CgroupDir::open(mount, below)?.0)
}

/// For the tests: whether this process is in a systemd scope (its refusals say which rule
/// refused first, `scope::scope_of_run`).
#[cfg(test)]
pub(crate) fn this_process_in_a_scope() -> bool {
    std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("0::") && scope_name(l).is_some())
}

/// The deepest component of cgroup path `cgroup` that names a systemd scope (`*.scope`).
pub fn scope_name(cgroup: &str) -> Option<&str> {
    cgroup
        .split('/')
        .rev()
        .find(|c| c.len() > ".scope".len() && c.ends_with(".scope"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn this_process_and_a_gone_one() {
        let me = read(std::process::id() as i32, WantMeters::ALL).unwrap();
        if mount::v2().unwrap().is_some() {
            assert!(me.cgroup.is_some());
            assert!(me.meters.cpu.is_some(), "{me:?}");
        }
        let mut child = crate::proc::Ended(std::process::Command::new("true").spawn().unwrap());
        let pid = child.pid();
        child.end();
        assert_eq!(read(pid, WantMeters::ALL), None);
    }

    #[test]
    fn the_scope_is_the_deepest_scope_component() {
        let path =
            "/user.slice/user@1000.service/app.slice/hermes-worker-kanban-t_1-run-2.scope/sub";
        assert_eq!(
            scope_name(path),
            Some("hermes-worker-kanban-t_1-run-2.scope")
        );
        assert_eq!(scope_name("/system.slice/cron.service"), None);
        assert_eq!(scope_name("/.scope"), None);
        assert_eq!(scope_name("/"), None);
    }
}
