//! Reading one process from Linux procfs. Knows nothing of SQLite.
//!
//! One reading opens `/proc/<pid>` once (the `procfs` crate keeps a directory handle, so
//! `stat`, `statm` and `cmdline` are read from the same process even if the pid is reused
//! meanwhile), plus the kernel's access check and a `stat` of `fd/` by path for the descriptor
//! count (on Linux >= 6.2 the size of `fd/` is the count; older kernels fall back to listing it).
//! `status` is not read: it costs as much as the rest together and `stat` has what we need.
//!
//! A process that is gone before or during the reading is [`Reading::Gone`], never an error:
//! a half-read row would mix two processes, so any "not found" discards the whole reading.

use std::io;
use std::sync::OnceLock;

use procfs::process::{Process, Stat, StatM};
use procfs::{FromRead, ProcError};

use crate::proc::file::{self, read_into};
use crate::proc::opened::{self, Kept, StatMarks};

/// The kernel's hard upper bound for a pid (`PID_MAX_LIMIT` on 64-bit Linux, 2^22).
/// `/proc/sys/kernel/pid_max` can be raised at run time up to this value, never beyond.
pub(crate) const PID_MAX_LIMIT: i64 = 4_194_304;

/// What one look at `/proc/<pid>` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// The process exists (it may be a zombie: see [`ProcInfo::state`]).
    Found(ProcInfo),
    /// No such process, or it ended while being read.
    Gone,
}

/// The fields of one process. Every field that could not be read is `None`, and `error` says
/// why (the first failure, naming the file).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcInfo {
    pub pid: i32,
    /// The one-letter state from `/proc/<pid>/stat` (`R`, `S`, `D`, `Z`, ...).
    pub state: Option<char>,
    pub ppid: Option<i32>,
    /// Owner of `/proc/<pid>` (the effective uid, as `ps` shows it).
    pub uid: Option<u32>,
    pub num_threads: Option<i64>,
    pub rss_bytes: Option<u64>,
    pub vms_bytes: Option<u64>,
    /// Cumulative user and system CPU time, in clock ticks.
    pub utime_ticks: Option<u64>,
    pub stime_ticks: Option<u64>,
    /// Start time after boot, in clock ticks (stable for the life of the process: with the pid,
    /// it identifies the process).
    pub start_ticks: Option<u64>,
    pub cmdline: Option<Vec<String>>,
    pub num_fds: Option<u64>,
    pub error: Option<String>,
}

impl ProcInfo {
    pub(crate) fn is_zombie(&self) -> bool {
        matches!(self.state, Some('Z'))
    }

    /// Process start as Unix epoch milliseconds: boot time + start ticks, in integers (the
    /// `procfs` crate's own conversion goes through `f32` and loses precision with uptime).
    pub(crate) fn start_time_ms(&self) -> Option<u64> {
        let ticks = self.start_ticks?;
        let hz = host().ticks_per_second;
        let boot_ms = host().boot_time_secs?.checked_mul(1000)?;
        boot_ms.checked_add(ticks.checked_mul(1000)? / hz)
    }

    /// Total CPU time (user + system) in clock ticks.
    pub(crate) fn cpu_ticks(&self) -> Option<u64> {
        Some(self.utime_ticks?.saturating_add(self.stime_ticks?))
    }
}

/// Facts of the host needed to convert procfs units, read once per process.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    pub ticks_per_second: u64,
    pub page_size: u64,
    /// Boot time from `/proc/stat` (`btime`), whole seconds; `None` if unreadable.
    pub boot_time_secs: Option<u64>,
}

pub fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| Host {
        ticks_per_second: procfs::ticks_per_second().max(1),
        page_size: procfs::page_size().max(1),
        boot_time_secs: procfs::boot_time_secs().ok(),
    })
}

/// This host's instantiation as the board's owner writes it in worker fingerprints:
/// `"<boot_id>:<start ticks of pid 1>"` (`/proc/sys/kernel/random/boot_id`, trimmed; field 22
/// of `/proc/1/stat`), either part empty when unreadable. It changes when the host reboots or
/// the container (its pid 1) is recreated. Read once per process.
pub fn epoch() -> &'static str {
    static EPOCH: OnceLock<String> = OnceLock::new();
    EPOCH.get_or_init(|| {
        let boot_id = procfs::sys::kernel::random::boot_id().unwrap_or_default();
        let init_ticks = Process::new(1)
            .and_then(|p| p.stat())
            .map(|s| s.starttime.to_string())
            .unwrap_or_default();
        format!("{boot_id}:{init_ticks}")
    })
}

/// The owner's fingerprint of a process of this host that started `start_ticks` after boot.
pub fn fingerprint(start_ticks: u64) -> String {
    format!("{}|{start_ticks}", epoch())
}

/// This host's name as the board's owner writes it in `claim_lock` (Python's
/// `socket.gethostname()`: the kernel's node name, `/proc/sys/kernel/hostname`). Read once
/// per process. Read by hand: the `procfs` crate (0.18) has no reader for it. `localhost`
/// when it cannot be read (or is empty): the one source and the one fallback of the host
/// name, for the verdicts and for the demo's claims alike.
pub fn hostname() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    })
}

/// psutil's word for a `/proc/<pid>/stat` state letter.
pub(crate) fn state_word(state: char) -> &'static str {
    match state {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk-sleep",
        'T' => "stopped",
        't' => "tracing-stop",
        'Z' => "zombie",
        'X' | 'x' => "dead",
        'K' => "wake-kill",
        'W' => "waking",
        'P' => "parked",
        'I' => "idle",
        _ => "unknown",
    }
}

/// Which optional files to read. `stat` (state, parent, threads, CPU times, start) is always
/// read: it decides whether the process is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Want {
    /// `statm`: rss and vms.
    pub memory: bool,
    /// `cmdline`.
    pub cmdline: bool,
    /// `fd/`: the descriptor count (and whether it is readable).
    pub fds: bool,
    /// The owner of `/proc/<pid>`.
    pub uid: bool,
}

impl Want {
    pub(crate) const ALL: Want = Want {
        memory: true,
        cmdline: true,
        fds: true,
        uid: true,
    };
}

/// Read one process. `pid` must be >= 1 (callers validate; anything else is `Gone`).
pub fn read(pid: i32) -> Reading {
    read_some(pid, Want::ALL)
}

/// Read one process, only the optional files in `want`; the fields not read stay `None`.
pub(crate) fn read_some(pid: i32, want: Want) -> Reading {
    if pid < 1 {
        return Reading::Gone;
    }
    match Process::new(pid) {
        Ok(process) => read_process(&process, pid, want),
        Err(_) => Reading::Gone,
    }
}

/// As [`read_some`], and the process's handle kept with its `stat` as this thread's last
/// reading (`proc::opened`), for the marks of the same process read next (`proc_stats`:
/// `run_verdicts` reads a worker's marks right after its stats). The caller holds the
/// reading for as long as it may be taken.
pub(crate) fn read_kept(pid: i32, want: Want) -> (Reading, Option<Kept>) {
    if pid < 1 {
        return (Reading::Gone, None);
    }
    let Ok(process) = Process::new(pid) else {
        return (Reading::Gone, None);
    };
    match read_fields(&process, pid, want) {
        Ok((info, Some(stat))) => (Reading::Found(info), Some(opened::keep(process, stat))),
        Ok((info, None)) => (Reading::Found(info), None),
        Err(Gone) => (Reading::Gone, None),
    }
}

/// Read the fields of an opened process. Apart from [`read_some`] so that a test can open a
/// process, end it, and then read it: the "exited while being read" path.
pub(crate) fn read_process(process: &Process, pid: i32, want: Want) -> Reading {
    match read_fields(process, pid, want) {
        Ok((info, _)) => Reading::Found(info),
        Err(Gone) => Reading::Gone,
    }
}

/// The process ended while being read: the partial reading is discarded.
struct Gone;

/// The fields, and the `stat` they came from when it was read.
fn read_fields(
    process: &Process,
    pid: i32,
    want: Want,
) -> Result<(ProcInfo, Option<StatMarks>), Gone> {
    let mut info = ProcInfo {
        pid,
        ..ProcInfo::default()
    };
    let page = host().page_size;

    // `stat` is read last: a process cannot come back from being a zombie, so if `stat` still
    // shows it alive, the files read before it came from the live process. A process that
    // became a zombie meanwhile is reported as a zombie (its memory and fds are then zeros).
    // Each file's bytes read by hand into one buffer (`proc::file`: no `statx` and `lseek` a
    // file), then parsed by the crate's own parsers.
    let mut buf = file::buffer();
    if let Some(statm) = optional(&mut info, "statm", want.memory, || {
        read_into(process, "statm", &mut buf)?;
        StatM::from_read(&buf[..])
    })? {
        info.rss_bytes = Some(statm.resident.saturating_mul(page));
        info.vms_bytes = Some(statm.size.saturating_mul(page));
    }
    info.cmdline = optional(&mut info, "cmdline", want.cmdline, || {
        read_into(process, "cmdline", &mut buf)?;
        Ok(split_cmdline(&buf))
    })?;
    if want.fds {
        match count_fds(pid) {
            Ok(n) => info.num_fds = Some(n),
            Err(e) if is_gone(&e) => return Err(Gone),
            // The contract's wording: another user's descriptors are `access denied`.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                note(&mut info, "access denied".to_owned());
            }
            Err(e) => note(&mut info, format!("/proc/{pid}/fd: {e}")),
        }
    }
    info.uid = optional(&mut info, "", want.uid, || process.uid())?;
    // Last, through the handle: `count_fds` went by path, and should the pid be another
    // process's by now, this read fails and the reading is Gone (no other user's count).
    // What is kept of `stat` is taken where it is parsed: the whole of it is not moved.
    let stat = optional(&mut info, "stat", true, || {
        read_into(process, "stat", &mut buf)?;
        let stat = Stat::from_read(&buf[..])?;
        Ok((
            stat.num_threads,
            stat.utime,
            stat.stime,
            StatMarks::of(&stat),
        ))
    })?;
    let stat = stat.map(|(num_threads, utime, stime, marks)| {
        info.state = Some(marks.state);
        info.ppid = Some(marks.ppid);
        info.num_threads = Some(num_threads);
        info.utime_ticks = Some(utime);
        info.stime_ticks = Some(stime);
        info.start_ticks = Some(marks.starttime);
        marks
    });
    // A zombie has released its descriptor table: the size of its fd/ is meaningless.
    if info.is_zombie() {
        info.num_fds = None;
    }
    file::give_back(buf);
    Ok((info, stat))
}

/// The argv in `/proc/<pid>/cmdline`, split as psutil splits it (the reference dashboard's
/// library, so both show the same list): arguments end in NUL, and one trailing NUL is
/// dropped, so a trailing empty argument stays; a process that rewrote its argv with spaces
/// (setproctitle, without a NUL between arguments) is split on spaces. Bytes that are not
/// UTF-8 become U+FFFD, one for each invalid sequence (`String::from_utf8_lossy`), where psutil
/// keeps them as surrogate escapes that JSON cannot carry. Empty (kernel threads, zombies):
/// no arguments.
pub(crate) fn split_cmdline(data: &[u8]) -> Vec<String> {
    if data.is_empty() {
        return Vec::new();
    }
    let sep = if data.ends_with(b"\0") { b'\0' } else { b' ' };
    let data = data.strip_suffix(&[sep]).unwrap_or(data);
    let mut args: Vec<&[u8]> = data.split(|b| *b == sep).collect();
    if sep == b'\0' && args.len() == 1 && data.contains(&b' ') {
        args = data.split(|b| *b == b' ').collect();
    }
    args.into_iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// One optional read of `/proc/<pid>/<file>` (`""`: the directory itself): `Ok(None)` when not
/// wanted, or unreadable (noted in `info.error`); `Err(Gone)` when the process is gone.
fn optional<T>(
    info: &mut ProcInfo,
    file: &str,
    wanted: bool,
    read: impl FnOnce() -> procfs::ProcResult<T>,
) -> Result<Option<T>, Gone> {
    if !wanted {
        return Ok(None);
    }
    let error = match read() {
        Ok(value) => return Ok(Some(value)),
        Err(error) => error,
    };
    let pid = info.pid;
    let path = if file.is_empty() {
        format!("/proc/{pid}")
    } else {
        format!("/proc/{pid}/{file}")
    };
    match error {
        ProcError::NotFound(_) => return Err(Gone),
        ProcError::Io(e, _) if is_gone(&e) => return Err(Gone),
        ProcError::PermissionDenied(_) => note(info, format!("access denied: {path}")),
        other => note(info, format!("{path}: {other}")),
    }
    Ok(None)
}

fn note(info: &mut ProcInfo, message: String) {
    if info.error.is_none() {
        info.error = Some(message);
    }
}

/// Reading a file of an ended process fails with ENOENT, or ESRCH once it is being reaped.
fn is_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error())
}

/// Number of open descriptors, after the kernel's own check that this process may list them
/// (`faccessat2` with the effective ids: the check an open of `fd/` gets): another user's are
/// `PermissionDenied`, as psutil's listing finds them. The check is the only guard: the size of
/// `fd/` is there for anyone to `stat`. Then the size of `fd/`, the count on Linux >= 6.2: two
/// system calls, where an open, `fstat` and close of the folder were three. A size of 0 (older
/// kernels; a process with no descriptors open) is counted by listing the folder (std's listing
/// leaves out `.` and `..`, which procfs' `fd_count` counts). Where `faccessat2` is refused (a
/// container's seccomp profile older than the call, or a kernel before 5.8 for a set-uid
/// program), the open is the check, as before. By path, not through the crate's directory
/// handle: a pid reused between this and the final `stat`, read through the handle, fails
/// that `stat`, and the whole reading is `Gone`.
fn count_fds(pid: i32) -> io::Result<u64> {
    use rustix::fs::{Access, AtFlags, CWD, StatxFlags, accessat, statx};
    use rustix::io::Errno;
    let path = format!("/proc/{pid}/fd");
    let checked = accessat(CWD, &path, Access::READ_OK, AtFlags::EACCESS)
        .and_then(|()| statx(CWD, &path, AtFlags::empty(), StatxFlags::SIZE));
    let size = match checked {
        Ok(st) if st.stx_mask & StatxFlags::SIZE.bits() != 0 => st.stx_size,
        // No size in the answer: 0, so the folder is listed.
        Ok(_) => 0,
        // `faccessat2` or `statx` filtered (an old seccomp profile): the open is the check.
        Err(Errno::PERM | Errno::NOSYS) => std::fs::File::open(&path)?.metadata()?.len(),
        Err(e) => return Err(e.into()),
    };
    if size > 0 {
        return Ok(size);
    }
    let mut n = 0u64;
    for entry in std::fs::read_dir(&path)? {
        entry?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn own_process_is_found_with_every_field() {
        let me = std::process::id() as i32;
        let Reading::Found(info) = read(me) else {
            panic!("own process not found");
        };
        assert_eq!(info.pid, me);
        assert!(info.state.is_some() && info.ppid.is_some() && info.uid.is_some());
        assert!(info.num_threads.unwrap_or(0) >= 1);
        assert!(info.rss_bytes.unwrap_or(0) > 0);
        assert!(info.num_fds.unwrap_or(0) >= 3);
        assert!(info.error.is_none(), "{:?}", info.error);
        assert!(info.start_time_ms().is_some());
    }

    #[test]
    fn process_that_ends_between_open_and_read_is_gone() {
        let mut child = crate::proc::Ended(
            Command::new("sleep")
                .arg("1000")
                .spawn()
                .expect("spawn sleep"),
        );
        let pid = child.pid();
        let process = Process::new(pid).expect("open /proc/<pid>");
        child.end();
        assert_eq!(read_process(&process, pid, Want::ALL), Reading::Gone);
    }

    #[test]
    fn cmdline_is_split_as_psutil_splits_it() {
        let split = |b: &[u8]| split_cmdline(b);
        assert_eq!(split(b""), Vec::<String>::new());
        assert_eq!(split(b"sleep\x001000\x00"), ["sleep", "1000"]);
        assert_eq!(split(b"a\x00\x00"), ["a", ""]);
        assert_eq!(split(b"a\x00\x00\x00"), ["a", "", ""]);
        assert_eq!(split(b"\x00"), [""]);
        assert_eq!(split(b"a\xffb\x00c\x00"), ["a\u{fffd}b", "c"]);
        // Rewritten argv (setproctitle): spaces, with or without a final NUL.
        assert_eq!(split(b"worker: busy idle"), ["worker:", "busy", "idle"]);
        assert_eq!(split(b"worker: busy \x00"), ["worker:", "busy", ""]);
        // No final NUL and no space: one argument, as written.
        assert_eq!(split(b"abc"), ["abc"]);
    }

    #[test]
    fn the_epoch_starts_with_the_boot_id() {
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        assert!(!boot_id.trim().is_empty());
        assert!(
            epoch().starts_with(&format!("{}:", boot_id.trim())),
            "{}",
            epoch()
        );
    }

    #[test]
    fn a_process_with_no_descriptors_has_none() {
        // The size of its fd/ is 0, as on kernels before 6.2: the count is a listing, in which
        // `.` and `..` are no descriptors.
        let child = crate::proc::Ended::sleeping(
            // Every descriptor closed, inherited ones too (a test runner's jobserver pipe).
            Command::new("bash").args([
                "-c",
                r#"for f in /proc/$$/fd/*; do eval "exec ${f##*/}>&-"; done; exec sleep 100"#,
            ]),
        );
        let pid = child.pid();
        // Past its startup (the dynamic loader, the locale), which opens and closes files.
        child.asleep();
        let fd = format!("/proc/{pid}/fd");
        assert_eq!(
            std::fs::read_dir(&fd).unwrap().count(),
            0,
            "sleep kept a descriptor"
        );
        assert_eq!(std::fs::metadata(&fd).unwrap().len(), 0);
        let Reading::Found(info) = read(pid) else {
            panic!("sleep not found");
        };
        assert_eq!((info.num_fds, info.error), (Some(0), None));
    }

    #[test]
    fn non_positive_pids_are_gone() {
        assert_eq!(read(0), Reading::Gone);
        assert_eq!(read(-5), Reading::Gone);
    }
}
