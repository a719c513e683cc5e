//! A process's cgroup in the v2 hierarchy: the `0::<path>` line of `/proc/<pid>/cgroup`,
//! read through the process's handle (so a pid reused meanwhile cannot be read instead). The
//! path is from the root of the hierarchy as this process sees it (its cgroup namespace): a
//! process outside that namespace shows `/..` components, a zombie whose cgroup was removed
//! ends in ` (deleted)`; [`crate::proc::cgroup::dir`] refuses or fails to open those.

use procfs::process::Process;

use crate::proc::file;

use super::{Error, Result};

/// The v2 cgroup path of `process`, read into `buf`; `Ok(None)` when it is in no v2
/// hierarchy (a v1-only host). Errors name the file (`NotFound`: the process is gone).
pub fn of_process(process: &Process, buf: &mut Vec<u8>) -> Result<Option<String>> {
    let name = format!("/proc/{}/cgroup", process.pid());
    file::read_into(process, "cgroup", buf).map_err(|e| Error::io(&name, proc_error(e)))?;
    parse(buf).map_err(|what| Error::malformed(name, what))
}

/// The `0::<path>` line of a `/proc/<pid>/cgroup` text: `Ok(None)` without one, an error for
/// two (a cgroup name holding a newline cannot pass for the process's own) or for a path that
/// is not absolute UTF-8.
pub fn parse(text: &[u8]) -> std::result::Result<Option<String>, String> {
    let mut found = None;
    for line in text.split(|b| *b == b'\n') {
        let Some(path) = line.strip_prefix(b"0::") else {
            continue;
        };
        if found.is_some() {
            return Err("two cgroup v2 lines".into());
        }
        let path = std::str::from_utf8(path).map_err(|_| "the path is not UTF-8".to_owned())?;
        if !path.starts_with('/') {
            return Err(format!("the path {path:?} is not absolute"));
        }
        found = Some(path.to_owned());
    }
    Ok(found)
}

/// A procfs error as an `io::Error` of the same kind.
fn proc_error(e: procfs::ProcError) -> std::io::Error {
    use std::io::{Error as IoError, ErrorKind};
    match e {
        procfs::ProcError::NotFound(_) => IoError::from(ErrorKind::NotFound),
        procfs::ProcError::PermissionDenied(_) => IoError::from(ErrorKind::PermissionDenied),
        procfs::ProcError::Io(e, _) => e,
        other => IoError::other(other.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_v2_line_of_a_hybrid_and_a_unified_host() {
        let hybrid = b"9:name=systemd:/\n4:memory:/x/y\n1:cpu:/\n0::/user.slice/a.scope\n";
        assert_eq!(
            parse(hybrid).unwrap().as_deref(),
            Some("/user.slice/a.scope")
        );
        assert_eq!(parse(b"0::/\n").unwrap().as_deref(), Some("/"));
        assert_eq!(parse(b"4:memory:/x\n").unwrap(), None);
        assert_eq!(
            parse(b"0::/gone (deleted)\n").unwrap().as_deref(),
            Some("/gone (deleted)")
        );
        assert!(parse(b"0::/a\n0::/b\n").is_err());
        assert!(parse(b"0::relative\n").is_err());
        assert!(parse(b"0::/\xff\n").is_err());
    }

    #[test]
    fn reads_this_processs_own() {
        let me = Process::myself().unwrap();
        let ours = of_process(&me, &mut Vec::new()).unwrap();
        let text = std::fs::read("/proc/self/cgroup").unwrap();
        assert_eq!(ours, parse(&text).unwrap());
    }
}
