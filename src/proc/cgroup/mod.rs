//! Control groups (v2): where a process is, what its cgroup measures, and whether that cgroup is
//! the run's systemd scope (DESIGN.md, "The scope is evidence"). Plain Rust over
//! `/proc/self/mountinfo`, `/proc/<pid>/cgroup` and the cgroup filesystem; knows nothing of
//! SQLite (checked by `tests/it/layers.rs`).
//! - [`mount`]: the v2 hierarchy's mount point (never assumed to be `/sys/fs/cgroup`);
//! - `path`: a process's v2 cgroup, from `/proc/<pid>/cgroup`;
//! - `files`: the parsers of the cgroup files, on the kernel's documented formats;
//! - `dir`: a cgroup directory opened once, beneath the checked mount, and its files read
//!   (and written: `cgroup.kill`, `cgroup.freeze`) beneath that descriptor only;
//! - `meters`: CPU, pressure, processes and memory of a cgroup;
//! - `process`: a process's own cgroup and its meters (no claim about a run);
//! - `scope`: the scope rule: the owner's name for the run, the verified worker inside, the
//!   owner's part of the tree.

pub(crate) mod dir;
pub(crate) mod files;
pub(crate) mod meters;
pub mod mount;
pub(crate) mod path;
pub(crate) mod process;
pub(crate) mod scope;

pub use dir::{CgroupDir, Member};
pub(crate) use meters::{Meters, WantMeters};
pub use scope::{NoScope, RunWorker, Scope, scope_of_run};

use std::fmt;
use std::io;

/// At most this many processes are listed in a cgroup and its sub-cgroups.
pub(crate) const MAX_MEMBERS: usize = 10_000;
/// At most this many cgroups are walked below one (its sub-cgroups, at any depth)...
pub(crate) const MAX_CGROUPS: usize = 1_000;
/// ...and at most this deep below it, or below the mount.
pub(crate) const MAX_DEPTH: usize = 64;

/// A cgroup file (or `/proc` file, or mount) that could not be read, by its path.
#[derive(Debug)]
pub struct Error {
    /// The file, as a path (`/sys/fs/cgroup/unified/x.scope/cpu.stat`, `/proc/42/cgroup`).
    pub file: String,
    pub what: What,
}

/// What went wrong with [`Error::file`].
#[derive(Debug)]
pub enum What {
    /// The system call failed (`NotFound`: no such file, as without a controller).
    Io(io::Error),
    /// The bytes are not the kernel's format.
    Malformed(String),
    /// More than the bound: bytes of a file, processes, cgroups or depth.
    TooLarge(String),
}

impl Error {
    pub fn io(file: impl Into<String>, e: impl Into<io::Error>) -> Error {
        Error {
            file: file.into(),
            what: What::Io(e.into()),
        }
    }

    pub fn malformed(file: impl Into<String>, what: impl Into<String>) -> Error {
        Error {
            file: file.into(),
            what: What::Malformed(what.into()),
        }
    }

    pub(crate) fn too_large(file: impl Into<String>, what: impl Into<String>) -> Error {
        Error {
            file: file.into(),
            what: What::TooLarge(what.into()),
        }
    }

    /// The file does not exist: a controller that is not enabled, a process that is gone, a
    /// cgroup removed.
    pub(crate) fn is_missing(&self) -> bool {
        matches!(&self.what, What::Io(e) if e.kind() == io::ErrorKind::NotFound
            || e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.what {
            What::Io(e) if e.kind() == io::ErrorKind::NotFound => {
                write!(f, "{}: no such file", self.file)
            }
            What::Io(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                write!(f, "{}: access denied", self.file)
            }
            What::Io(e) => write!(f, "{}: {e}", self.file),
            What::Malformed(m) => write!(f, "{}: malformed ({m})", self.file),
            What::TooLarge(m) => write!(f, "{}: {m}", self.file),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
