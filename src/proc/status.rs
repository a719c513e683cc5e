//! The few lines of `/proc/<pid>/status` the readers use: the real and effective uids and
//! whether the process is pid 1 of a pid namespace (`NSpid`). One reader of the file, through
//! the process's handle ([`file::read_into`]); only those lines are parsed (procfs' `status`
//! builds a map of every line: five times the cost, 24 µs against 4.7 µs). The one line a
//! process writes itself, its `Name:`, comes first and has its newlines escaped by the kernel,
//! so it cannot pass for another. Knows nothing of SQLite.

use procfs::ProcError;
use procfs::process::Process;

use crate::proc::file;

/// What is taken of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The real uid.
    pub ruid: u32,
    /// The effective uid: another than the real one in a set-uid program.
    pub euid: u32,
    /// Whether `NSpid` holds 1 (pid 1 of some pid namespace); `None` without that line.
    pub nspid_has_1: Option<bool>,
}

/// The `Uid:` (real, effective, saved, fs) and `NSpid:` lines of `status`, read through the
/// handle into `buf`; errors as [`file::read_into`] gives them, `Incomplete` without a `Uid:`
/// line.
pub fn read(process: &Process, buf: &mut Vec<u8>) -> procfs::ProcResult<Status> {
    file::read_into(process, "status", buf)?;
    let mut uids = None;
    let mut nspid_has_1 = None;
    for line in buf.split(|b| *b == b'\n') {
        let values = |rest: &[u8]| {
            std::str::from_utf8(rest)
                .unwrap_or("")
                .split_whitespace()
                .map(|v| v.parse::<u32>().ok())
                .collect::<Vec<_>>()
        };
        if let Some(rest) = line.strip_prefix(b"Uid:") {
            if let [Some(r), Some(e), ..] = values(rest)[..] {
                uids = Some((r, e));
            }
        } else if let Some(rest) = line.strip_prefix(b"NSpid:") {
            nspid_has_1 = Some(values(rest).contains(&Some(1)));
        }
    }
    let (ruid, euid) = uids.ok_or_else(|| {
        let path = format!("/proc/{}/status", process.pid());
        ProcError::Incomplete(Some(path.into()))
    })?;
    Ok(Status {
        ruid,
        euid,
        nspid_has_1,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_procfs_reads() {
        let me = Process::myself().unwrap();
        let theirs = me.status().unwrap();
        let mut buf = Vec::new();
        let ours = read(&me, &mut buf).unwrap();
        assert_eq!((ours.ruid, ours.euid), (theirs.ruid, theirs.euid));
        assert_eq!(ours.nspid_has_1, theirs.nspid.map(|pids| pids.contains(&1)));
        let init = read(&Process::new(1).unwrap(), &mut buf).unwrap();
        assert_ne!(init.nspid_has_1, Some(false));
    }
}
