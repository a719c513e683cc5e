//! What a cgroup measures of its processes (and its sub-cgroups'): CPU time (`cpu.stat`),
//! pressure stall information (`cpu.pressure`, `memory.pressure`, `io.pressure`), the number
//! of processes, whether it is populated and frozen (`cgroup.events`), and, where the memory
//! controller is enabled for it, memory in use, its peak, its limit and the OOM kills
//! (`memory.current`, `memory.peak`, `memory.max`, `memory.events`). Only the files asked for
//! are read. A file that does not exist (a controller not enabled, the root cgroup's missing
//! files, an older kernel) is `None`; one that cannot be read or parsed is `None` too, and
//! the first such is named in [`Meters::error`].

use super::dir::{CgroupDir, MAX_FILE, Member};
use super::files::{self, CpuStat, Events, Limit, MemoryEvents, Pressure};
use super::{Error, Result};

/// Which files to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WantMeters {
    /// `cpu.stat`.
    pub cpu: bool,
    /// `cpu.pressure`, `memory.pressure`, `io.pressure`.
    pub cpu_pressure: bool,
    pub memory_pressure: bool,
    pub io_pressure: bool,
    /// The processes of the cgroup and its sub-cgroups, counted ([`CgroupDir::members`]).
    pub processes: bool,
    /// `memory.current`, `memory.peak`, `memory.max`, `memory.events`.
    pub memory: bool,
    /// `cgroup.events`.
    pub events: bool,
}

impl WantMeters {
    /// Every file.
    pub const ALL: WantMeters = WantMeters {
        cpu: true,
        cpu_pressure: true,
        memory_pressure: true,
        io_pressure: true,
        processes: true,
        memory: true,
        events: true,
    };
}

/// The memory controller's figures of a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Bytes in use by the cgroup and its sub-cgroups.
    pub current: u64,
    /// The most ever in use (kernel 5.19 on).
    pub peak: Option<u64>,
    /// The hard limit.
    pub max: Option<Limit>,
    pub events: Option<MemoryEvents>,
}

/// A cgroup's meters; each `None` where not asked for, missing or unreadable.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meters {
    pub cpu: Option<CpuStat>,
    pub cpu_pressure: Option<Pressure>,
    pub memory_pressure: Option<Pressure>,
    pub io_pressure: Option<Pressure>,
    /// Live processes in the cgroup and its sub-cgroups.
    pub processes: Option<u64>,
    /// `None` without the memory controller.
    pub memory: Option<Memory>,
    pub events: Option<Events>,
    /// The first file that could not be read or parsed (a missing one is not an error).
    pub error: Option<String>,
}

impl Meters {
    /// Read what `want` asks of `dir`. `members`, when the caller has them already (the
    /// scope's), are counted instead of listing the cgroup again.
    pub fn read(dir: &CgroupDir, want: WantMeters, members: Option<&[Member]>) -> Meters {
        let mut m = Meters::default();
        let mut buf = Vec::new();
        if want.cpu {
            m.cpu = m.keep(parsed(dir, "cpu.stat", &mut buf, files::cpu_stat));
        }
        let pressures = [
            (want.cpu_pressure, "cpu.pressure", &mut m.cpu_pressure),
            (
                want.memory_pressure,
                "memory.pressure",
                &mut m.memory_pressure,
            ),
            (want.io_pressure, "io.pressure", &mut m.io_pressure),
        ];
        let mut errors = Vec::new();
        for (wanted, file, slot) in pressures {
            if wanted {
                *slot = keep(&mut errors, parsed(dir, file, &mut buf, files::pressure));
            }
        }
        if let Some(e) = errors.into_iter().next() {
            m.error.get_or_insert(e);
        }
        if want.processes {
            m.processes = match members {
                Some(members) => Some(members.len() as u64),
                None => m.keep(dir.members().map(|v| v.len() as u64)),
            };
        }
        if want.events {
            m.events = m.keep(dir.events());
        }
        if want.memory {
            m.memory = m.read_memory(dir, &mut buf);
        }
        m
    }

    /// The memory files: none at all without `memory.current` (no memory controller).
    fn read_memory(&mut self, dir: &CgroupDir, buf: &mut Vec<u8>) -> Option<Memory> {
        let current = self.keep(parsed(dir, "memory.current", buf, files::single))?;
        let peak = self.keep(parsed(dir, "memory.peak", buf, files::single));
        let max = self.keep(parsed(dir, "memory.max", buf, files::limit));
        let events = self.keep(parsed(dir, "memory.events", buf, files::memory_events));
        Some(Memory {
            current,
            peak,
            max,
            events,
        })
    }

    /// The value read, or `None`, noting the first error that is not a missing file.
    fn keep<T>(&mut self, read: Result<T>) -> Option<T> {
        let mut errors = Vec::new();
        let kept = keep(&mut errors, read);
        if let Some(e) = errors.into_iter().next() {
            self.error.get_or_insert(e);
        }
        kept
    }
}

fn keep<T>(errors: &mut Vec<String>, read: Result<T>) -> Option<T> {
    match read {
        Ok(v) => Some(v),
        Err(e) if e.is_missing() => None,
        Err(e) => {
            errors.push(e.to_string());
            None
        }
    }
}

/// File `file` of `dir`, read into `buf` and parsed by `parse`; errors name the file.
fn parsed<T>(
    dir: &CgroupDir,
    file: &str,
    buf: &mut Vec<u8>,
    parse: fn(&[u8]) -> std::result::Result<T, String>,
) -> Result<T> {
    dir.read_into(file, buf, MAX_FILE)?;
    parse(buf).map_err(|m| Error::malformed(dir.file_name(file), m))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::proc::cgroup::mount;

    #[test]
    fn the_root_cgroup_has_cpu_and_pressure_but_no_events() {
        let Some(m) = mount::v2().unwrap() else {
            eprintln!("no cgroup v2 hierarchy here: nothing to read");
            return;
        };
        let (root, _) = crate::proc::cgroup::CgroupDir::open(m, "/").unwrap();
        let want = WantMeters {
            processes: false,
            ..WantMeters::ALL
        };
        let meters = Meters::read(&root, want, None);
        assert_eq!(meters.error, None);
        assert!(meters.cpu.unwrap().usage_usec > 0);
        assert_eq!(meters.events, None, "the root has no cgroup.events");
        assert_eq!(meters.processes, None, "not asked for");
        let nothing = Meters::read(&root, WantMeters::default(), None);
        assert_eq!(nothing, Meters::default());
    }
}
