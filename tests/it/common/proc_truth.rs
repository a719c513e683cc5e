//! The tests' own reading of `/proc` (no library code involved), to compare the library with.

use std::fs;

#[derive(Debug)]
pub struct ProcTruth {
    pub state: char,
    pub ppid: i64,
    pub num_threads: i64,
    pub utime: u64,
    pub stime: u64,
    pub start_ticks: u64,
    pub rss_pages: u64,
    pub vms_pages: u64,
    pub cmdline: Vec<String>,
}

/// Fields of `/proc/<pid>/stat` after the command name (in parentheses, may hold spaces):
/// element 0 is field 3 (state), so field n is element n - 3.
pub fn stat_fields(pid: i64) -> Vec<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let rest = &stat[stat.rfind(')').expect("stat has )") + 2..];
    rest.split_whitespace().map(str::to_owned).collect()
}

pub fn proc_truth(pid: i64) -> ProcTruth {
    let f = stat_fields(pid);
    let num = |n: usize| f[n - 3].parse::<u64>().expect("numeric stat field");
    let statm = fs::read_to_string(format!("/proc/{pid}/statm")).expect("read statm");
    let m: Vec<u64> = statm
        .split_whitespace()
        .map(|x| x.parse().expect("statm"))
        .collect();
    let raw = fs::read(format!("/proc/{pid}/cmdline")).expect("read cmdline");
    let cmdline = raw
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    ProcTruth {
        state: f[0].chars().next().expect("state"),
        ppid: num(4) as i64,
        num_threads: num(20) as i64,
        utime: num(14),
        stime: num(15),
        start_ticks: num(22),
        rss_pages: m[1],
        vms_pages: m[0],
        cmdline,
    }
}

/// The niceness of a process (field 19 of its stat).
pub fn niceness(pid: i64) -> i64 {
    stat_fields(pid)[19 - 3].parse().expect("niceness")
}

pub fn boot_time() -> u64 {
    let stat = fs::read_to_string("/proc/stat").expect("read /proc/stat");
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .expect("btime in /proc/stat")
}

pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as u64
}

pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }) as u64
}

pub fn fd_count(pid: i64) -> i64 {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list fd/")
        .count() as i64
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// The fingerprint the board's owner records for a worker right after spawning it, computed
/// as the owner computes it: `"<boot_id>:<pid 1's start ticks>|<the worker's start ticks>"`
/// (boot_id trimmed; field 22 of each stat, split after the last `)`).
pub fn owner_fingerprint(pid: i64) -> String {
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("boot_id");
    format!(
        "{}:{}|{}",
        boot_id.trim(),
        stat_fields(1)[22 - 3],
        stat_fields(pid)[22 - 3]
    )
}
