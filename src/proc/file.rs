//! One file of `/proc/<pid>` that the kernel writes whole at each read (`stat`, `statm`,
//! `status`, `cmdline`, `environ`), read through the process's directory handle (so a pid
//! reused meanwhile cannot mix two processes) in the fewest system calls: open, one read,
//! close. Knows nothing of SQLite.
//!
//! std's `read_to_end` on a `File` first asks the file's size (`statx`) and position (`lseek`)
//! to size its buffer; /proc's files say 0, so both calls are wasted, and it then grows its
//! reads from a 32-byte probe (8 reads for a 3 KiB `environ`) and reads once more for the end.
//! Here each read asks for at least 4 KiB (the reused buffer's spare room, not zeroed first),
//! and a read that gives fewer bytes than asked is the end, as procps reads these files:
//! `stat`, `statm` and `status` are made by one `show` into a buffer that grows until it holds
//! them, `cmdline` and `environ` are copied from the process's memory until their end or the
//! reader's count (BENCHMARKS.md, issue 29). Not for files of many records (`maps`,
//! `children`): those may end a read early at a record's edge.

use std::io;
use std::path::PathBuf;

use procfs::ProcError;
use procfs::process::{FDTarget, Process};

/// Bytes of room made before each read (at least).
const CHUNK: usize = 4096;

/// The bytes of `/proc/<pid>/<file>` into `buf` (cleared first): one of the files the kernel
/// writes whole at each read (see above). Errors as the procfs crate's own readers give them,
/// naming the file: a process that is gone is `NotFound` (ENOENT or ESRCH), another user's
/// file `PermissionDenied`.
pub fn read_into(process: &Process, file: &str, buf: &mut Vec<u8>) -> procfs::ProcResult<()> {
    buf.clear();
    let f = process.open_relative(file)?;
    loop {
        // Read into the buffer's spare room, not zeroed first (rustix sets the length).
        buf.reserve(CHUNK);
        let asked = buf.capacity() - buf.len();
        match rustix::io::read(&f, rustix::buffer::spare_capacity(buf)) {
            Ok(n) if n < asked => return Ok(()),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(error(process, file, e.into())),
        }
    }
}

thread_local! {
    /// The buffer the files of a reading are read into, kept for the thread's next reading:
    /// a new one at each was a 4 KiB allocation and free a reading, beyond the allocator's
    /// per-thread cache (300 of `proc_stats`' 25,000 instructions, callgrind).
    static BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The largest buffer kept ([`give_back`]): one grown for a long command line or environment
/// is let go.
const KEPT: usize = 64 * 1024;

/// This thread's buffer for [`read_into`] (empty, or the last one given back; a new one while
/// the thread ends).
pub fn buffer() -> Vec<u8> {
    BUFFER.try_with(std::cell::Cell::take).unwrap_or_default()
}

/// Keep `buf` for this thread's next [`buffer`], unless it has grown past [`KEPT`].
pub fn give_back(buf: Vec<u8>) {
    if buf.capacity() <= KEPT {
        let _ = BUFFER.try_with(|b| b.set(buf));
    }
}

/// Where the link `/proc/<pid>/<link>` points (`fd/1`, say), read through the process's
/// directory handle as procfs' `fd_from_fd` reads it, less its `stat` of the link (the
/// descriptor's mode, which nobody here asks): open, read the link, close. Errors as
/// [`read_into`]'s: a closed descriptor, or a process gone, is `NotFound`.
pub fn link_of(process: &Process, link: &str) -> procfs::ProcResult<FDTarget> {
    use rustix::fs::OFlags;
    let f = process.open_relative_flags(link, OFlags::NOFOLLOW | OFlags::PATH | OFlags::CLOEXEC)?;
    let target = rustix::fs::readlinkat(&f, "", Vec::with_capacity(128))
        .map_err(|e| error(process, link, e.into()))?;
    target.to_string_lossy().parse()
}

/// A read's error as the procfs crate maps the errors of its readers (`wrap_io_error`).
pub fn error(process: &Process, file: &str, e: io::Error) -> ProcError {
    let path = PathBuf::from(format!("/proc/{}/{file}", process.pid()));
    match e.kind() {
        io::ErrorKind::PermissionDenied => ProcError::PermissionDenied(Some(path)),
        io::ErrorKind::NotFound => ProcError::NotFound(Some(path)),
        _ if e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => {
            ProcError::NotFound(Some(path))
        }
        _ => ProcError::Io(e, Some(path)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_kernel_gives_and_what_the_crate_parses() {
        let me = Process::myself().unwrap();
        let mut buf = Vec::new();
        read_into(&me, "cmdline", &mut buf).unwrap();
        assert_eq!(buf, std::fs::read("/proc/self/cmdline").unwrap());
        read_into(&me, "statm", &mut buf).unwrap();
        assert!(buf.ends_with(b"\n") && buf.len() < CHUNK);
        read_into(&me, "stat", &mut buf).unwrap();
        let stat = <procfs::process::Stat as procfs::FromRead>::from_read(&buf[..]).unwrap();
        assert_eq!(stat.starttime, me.stat().unwrap().starttime);
        assert!(matches!(
            read_into(&me, "no-such-file", &mut buf),
            Err(ProcError::NotFound(Some(_)))
        ));
    }

    #[test]
    fn an_environment_longer_than_one_read_is_read_whole() {
        // Over three reads' worth, and a variable that straddles the reads' edges.
        let long = "x".repeat(3 * CHUNK + 123);
        let mut child = crate::proc::Ended::sleeping(
            std::process::Command::new("sleep")
                .arg("100")
                .env("KW_LONG", &long)
                .env("KW_AFTER", "end"),
        );
        let pid = child.pid();
        let process = Process::new(pid).unwrap();
        let mut buf = Vec::new();
        read_into(&process, "environ", &mut buf).unwrap();
        assert_eq!(buf, std::fs::read(format!("/proc/{pid}/environ")).unwrap());
        assert!(buf.len() > 3 * CHUNK);
        child.end();
        // Reaped: the handle's files are gone.
        assert!(matches!(
            read_into(&process, "environ", &mut buf),
            Err(ProcError::NotFound(_))
        ));
    }

    /// The link as procfs' `fd_from_fd` reads it: a file, a pipe; a closed descriptor and a
    /// process reaped are `NotFound`.
    #[test]
    fn a_link_reads_as_procfs_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("w.log")).unwrap();
        let mut to_file = crate::proc::Ended::sleeping(
            std::process::Command::new("sleep").arg("100").stdout(log),
        );
        let mut to_pipe = crate::proc::Ended::sleeping(
            std::process::Command::new("sleep")
                .arg("100")
                .stdout(std::process::Stdio::piped()),
        );
        let mut closed = crate::proc::Ended::sleeping(
            std::process::Command::new("sh").args(["-c", "exec sleep 100 >&-"]),
        );
        for child in [&to_file, &to_pipe] {
            let process = Process::new(child.pid()).unwrap();
            let want = process.fd_from_fd(1).unwrap().target;
            assert_eq!(link_of(&process, "fd/1").unwrap(), want);
        }
        let process = Process::new(to_file.pid()).unwrap();
        assert!(matches!(link_of(&process, "fd/1"), Ok(FDTarget::Path(p)) if p.ends_with("w.log")));
        closed.asleep();
        let shut = Process::new(closed.pid()).unwrap();
        assert!(matches!(
            link_of(&shut, "fd/1"),
            Err(ProcError::NotFound(_))
        ));
        to_file.end();
        assert!(matches!(
            link_of(&process, "fd/1"),
            Err(ProcError::NotFound(_))
        ));
        to_pipe.end();
        closed.end();
    }
}
