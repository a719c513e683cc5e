//! The /proc readers: plain Rust over the procfs crate, one reader per concern, knowing
//! nothing of SQLite (checked by `tests/it/layers.rs`).
//! - [`info`]: one process's stats (`stat`, `statm`, `cmdline`, fds, the owner);
//! - `marks`: how a process was started (its environment's marks, stdout, session, parent);
//! - `opened`: the process a thread has just read the stats of, kept for its marks;
//! - [`tree`]: the members of a process's tree;
//! - `status`: the uids and namespace init of `status`;
//! - `cpu`: CPU samples kept between reads, for `cpu_percent`;
//! - [`file`]: one file of `/proc/<pid>` through its handle, in the fewest system calls;
//! - [`cgroup`]: a process's cgroup (v2), its meters, and the run's systemd scope.

pub mod cgroup;
pub(crate) mod clock;
pub(crate) mod cpu;
pub(crate) mod file;
pub mod info;
pub(crate) mod marks;
pub(crate) mod opened;
pub(crate) mod status;
pub mod tree;

/// For the tests: a child process killed and reaped when dropped, so that a failed assertion
/// never leaves it running (`.ci/leftovers` fails the run then).
#[cfg(test)]
pub(crate) struct Ended(pub std::process::Child);

#[cfg(test)]
impl Ended {
    /// `command` (a `sleep 100`, with what the test sets: its environment, its stdout)
    /// started, and returned once it has exec'd (its cmdline is sleep's): its environment and
    /// descriptors are then in place.
    #[allow(clippy::expect_used)]
    pub fn sleeping(command: &mut std::process::Command) -> Ended {
        let child = Ended(command.spawn().expect("spawn sleep"));
        let pid = child.pid();
        while std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
            != b"sleep\x00100\x00"
        {
            std::thread::yield_now();
        }
        child
    }

    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Wait until it sleeps in `nanosleep`, past its start: the loader's and the locale's
    /// opens take the lowest free descriptors for a moment, and a test of what it holds then
    /// would race them (30 s at most: a bound on a failure, not a synchronisation).
    #[allow(clippy::panic)]
    pub fn asleep(&self) {
        let wchan = format!("/proc/{}/wchan", self.pid());
        let bound = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !std::fs::read_to_string(&wchan).is_ok_and(|w| w.contains("nanosleep")) {
            assert!(
                std::time::Instant::now() < bound,
                "{} never slept",
                self.pid()
            );
            std::thread::yield_now();
        }
    }

    /// Kill and reap it now (dropping it again does nothing more).
    pub fn end(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
impl Drop for Ended {
    fn drop(&mut self) {
        self.end();
    }
}
