//! Real cgroups (v2) for the scope tests, made and removed by the tests' own code (no library
//! code involved): a test's cgroups live under `<v2 mount>/kanban-workers-test-<pid>-<tag>/`,
//! and the guard removes them, with every process in them, on success and on failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::proc_truth::proc_truth;
use super::workers::Worker;

/// The v2 hierarchy's mount point, by the tests' own reading of mountinfo (the field after
/// `-` is the filesystem type).
pub fn v2_mount() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(' ').collect();
        let dash = f.iter().skip(6).position(|x| *x == "-")? + 6;
        (f.get(dash + 1) == Some(&"cgroup2")).then(|| PathBuf::from(f[4].replace("\\040", " ")))
    })
}

/// The writable v2 hierarchy these tests need, or why there is none (root is checked by
/// [`require_writable_v2`], as every root test checks it: `require_root`).
pub fn writable_v2() -> Result<PathBuf, String> {
    let mount = v2_mount().ok_or("no cgroup v2 hierarchy is mounted")?;
    // One name a call: the scope tests run in parallel in one process, and two probes of one
    // name made one of them fail ("File exists").
    static PROBES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = mount.join(format!("kanban-workers-probe-{}-{n}", std::process::id()));
    std::fs::create_dir(&probe).map_err(|e| {
        format!(
            "the cgroup v2 hierarchy at {} is not writable: {e}",
            mount.display()
        )
    })?;
    let _ = std::fs::remove_dir(&probe);
    Ok(mount)
}

/// What a scope test says where it cannot run: it fails, never passes. `make test` skips the
/// scope tests there, and says why (`tests/fixtures/cgroup_skips.sh`).
pub fn require_writable_v2() -> PathBuf {
    super::require_root();
    writable_v2().unwrap_or_else(|why| {
        panic!("{why}: this test cannot run here (make test skips it, saying so)")
    })
}

/// Whether the v2 hierarchy at `mount` has the memory controller.
pub fn has_memory_controller(mount: &Path) -> bool {
    std::fs::read_to_string(mount.join("cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|x| x == "memory"))
}

/// A test's cgroups: removed when dropped, deepest first, every process in them killed
/// (`cgroup.kill`, each pid killed where there is none) and gone (zombies are not members).
pub struct Cgroups {
    pub mount: PathBuf,
    /// The test's own directory below the mount, `/kanban-workers-test-<pid>-<tag>`.
    pub top: String,
}

impl Cgroups {
    pub fn new(tag: &str) -> Cgroups {
        let mount = require_writable_v2();
        let top = format!("/kanban-workers-test-{}-{tag}", std::process::id());
        let cg = Cgroups { mount, top };
        std::fs::create_dir(cg.path("")).expect("make the test's cgroup");
        cg
    }

    /// The directory of `rel` (a path below the test's own; `""` for it).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.mount.join(self.cgroup(rel).trim_start_matches('/'))
    }

    /// The path of `rel` in the hierarchy, as `/proc/<pid>/cgroup` shows it.
    pub fn cgroup(&self, rel: &str) -> String {
        match rel {
            "" => self.top.clone(),
            _ => format!("{}/{rel}", self.top),
        }
    }

    /// Make `rel` and the cgroups above it.
    pub fn make(&self, rel: &str) -> PathBuf {
        let dir = self.path(rel);
        std::fs::create_dir_all(&dir).expect("make a cgroup");
        dir
    }

    /// The pids of `rel`'s `cgroup.procs`, sorted.
    pub fn procs(&self, rel: &str) -> Vec<i64> {
        procs_of(&self.path(rel))
    }

    /// Move process `pid` into `rel`.
    pub fn move_in(&self, rel: &str, pid: i64) {
        std::fs::write(self.path(rel).join("cgroup.procs"), pid.to_string()).expect("move in");
    }

    /// A value of `rel`'s `cgroup.events` (`populated`, `frozen`).
    pub fn event(&self, rel: &str, key: &str) -> Option<u64> {
        let text = std::fs::read_to_string(self.path(rel).join("cgroup.events")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
    }

    /// A value of `rel`'s `cpu.stat`.
    pub fn cpu_stat(&self, rel: &str, key: &str) -> u64 {
        let text = std::fs::read_to_string(self.path(rel).join("cpu.stat")).expect("cpu.stat");
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key} "))?.trim().parse().ok())
            .expect("a cpu.stat key")
    }

    /// `sleep 1000` started in `rel` as the owner's spawn starts a worker in its scope
    /// (`systemd-run --scope` moves itself in, then execs): returned asleep.
    pub fn worker(&self, rel: &str) -> Worker {
        let w = Worker(
            Command::new("sh")
                .args(["-c", "echo $$ > \"$0\" && exec sleep 1000"])
                .arg(self.path(rel).join("cgroup.procs"))
                .spawn()
                .expect("spawn a worker"),
        );
        wait_until("the worker asleep in its cgroup", || {
            let t = proc_truth(w.pid());
            t.state == 'S' && t.cmdline == ["sleep", "1000"]
        });
        w
    }

    /// A worker in `rel` that started an escapee first: double-forked (`setsid -f`: its parent
    /// exits, so it is init's), in a session of its own, every fd closed and its environment
    /// cleared (`execve` with none). Both returned asleep.
    pub fn worker_with_escapee(&self, rel: &str) -> (Worker, i64) {
        let script = "echo $$ > \"$0\" && setsid -f /usr/bin/python3 -c \
                      'import os; os.closerange(0, 1 << 16); \
                      os.execve(\"/usr/bin/sleep\", [\"sleep\", \"1000\"], {})' \
                      && exec sleep 1000";
        let w = Worker(
            Command::new("sh")
                .args(["-c", script])
                .arg(self.path(rel).join("cgroup.procs"))
                .spawn()
                .expect("spawn a worker"),
        );
        let mut escapee = 0;
        wait_until("the worker and its escapee asleep in their cgroup", || {
            let pids = self.procs(rel);
            let worker = proc_truth(w.pid());
            let other = pids.iter().copied().find(|p| *p != w.pid());
            escapee = other.unwrap_or(0);
            pids.len() == 2
                && worker.cmdline == ["sleep", "1000"]
                && worker.state == 'S'
                && std::fs::read(format!("/proc/{escapee}/cmdline"))
                    .is_ok_and(|c| c == b"sleep\x001000\x00")
        });
        (w, escapee)
    }

    /// Every cgroup at or below `dir`, deepest first.
    fn deepest_first(dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    Self::deepest_first(&e.path(), out);
                }
            }
        }
        out.push(dir.to_path_buf());
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        let mut dirs = Vec::new();
        Cgroups::deepest_first(&self.path(""), &mut dirs);
        for dir in &dirs {
            // Thawed first (a frozen process dies once thawed), then killed.
            let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
            if std::fs::write(dir.join("cgroup.kill"), "1").is_err() {
                for pid in procs_of(dir) {
                    // SAFETY: kill has no memory-safety preconditions; every pid here is in a
                    // cgroup this test made.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for dir in &dirs {
            while std::fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
                for pid in procs_of(dir) {
                    // SAFETY: as above.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if !std::thread::panicking() {
            assert!(
                !self.path("").exists(),
                "the test's cgroups were not removed"
            );
        }
    }
}

fn procs_of(dir: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    let mut pids: Vec<i64> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    pids.sort_unstable();
    pids
}

/// Wait (at most 30 s) until `done` holds.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
