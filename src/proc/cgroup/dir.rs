//! A cgroup directory, opened once and read beneath its descriptor, never by name again (a
//! cgroup renamed, removed and made again under the same name meanwhile is not read instead).
//! It is reached from the v2 mount's root one component at a time (`openat`, no symlink
//! followed, never `..`, never leaving the mount's filesystem), and the owner of each
//! directory on the way is kept for the scope rule. Its files are read in bounded reads; its
//! sub-cgroups are opened beneath it in turn.

use std::collections::HashSet;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{FileType, FsWord, Mode, OFlags};

use super::files::{self, Events};
use super::mount::Mount;
use super::{Error, MAX_CGROUPS, MAX_DEPTH, MAX_MEMBERS, Result};

/// `statfs.f_type` of a cgroup v2 filesystem.
const CGROUP2_SUPER_MAGIC: FsWord = 0x6367_7270;
/// The most read of a file of values (`cpu.stat`, `memory.events`: well under 1 KiB).
pub const MAX_FILE: usize = 64 * 1024;
/// The most read of `cgroup.procs`: [`MAX_MEMBERS`] pids of up to 7 digits and a newline.
const MAX_PROCS: usize = 8 * (MAX_MEMBERS + 1);

/// A directory on the way from the mount's root to a cgroup (the root included, the cgroup
/// not): its name (`""` for the root) and owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ancestor {
    pub name: String,
    pub uid: u32,
}

/// A process of a cgroup or of one of its sub-cgroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub pid: i32,
    /// The sub-cgroup it is in, relative to the cgroup listed (`""`: that cgroup itself).
    pub cgroup: String,
}

/// An open cgroup directory.
#[derive(Debug)]
pub struct CgroupDir {
    fd: OwnedFd,
    /// Its path below the mount's root (`/` for the root, else `/a/b`).
    path: String,
    /// Its path as a file name (the mount point's path joined), for messages.
    shown: String,
    /// The owner of the directory.
    uid: u32,
}

impl CgroupDir {
    /// Open the cgroup at `below` (a path below `mount`'s root, as [`Mount::beneath`] gives
    /// it): the mount's root first (checked to be a cgroup2 filesystem), then each component
    /// beneath the previous one. Also gives the directories on the way, the root first.
    pub fn open(mount: &Mount, below: &str) -> Result<(CgroupDir, Vec<Ancestor>)> {
        let point = mount.shown("/");
        if below.split('/').any(|c| c == "." || c == "..") {
            return Err(Error::malformed(
                mount.shown(below),
                "a path outside the hierarchy this process sees",
            ));
        }
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root = rustix::fs::open(&mount.point, dir_flags, Mode::empty())
            .map_err(|e| Error::io(&point, e))?;
        let fs = rustix::fs::fstatfs(&root).map_err(|e| Error::io(&point, e))?;
        if fs.f_type != CGROUP2_SUPER_MAGIC {
            return Err(Error::malformed(point, "not a cgroup2 filesystem"));
        }
        let stat = rustix::fs::fstat(&root).map_err(|e| Error::io(&point, e))?;
        let device = stat.st_dev;
        let mut dir = CgroupDir {
            fd: root,
            path: "/".into(),
            shown: point,
            uid: stat.st_uid,
        };
        let mut ancestors = Vec::new();
        for (depth, name) in below.split('/').filter(|c| !c.is_empty()).enumerate() {
            if depth >= MAX_DEPTH {
                return Err(Error::too_large(
                    mount.shown(below),
                    format!("deeper than {MAX_DEPTH}"),
                ));
            }
            let child = dir.child(name)?;
            if rustix::fs::fstat(&child.fd).map(|s| s.st_dev) != Ok(device) {
                return Err(Error::malformed(child.shown, "another filesystem"));
            }
            let name = dir.path.rsplit('/').next().unwrap_or_default().to_owned();
            ancestors.push(Ancestor { name, uid: dir.uid });
            dir = child;
        }
        Ok((dir, ancestors))
    }

    /// The sub-cgroup `name` (one component), opened beneath this one.
    pub fn child(&self, name: &str) -> Result<CgroupDir> {
        let shown = format!("{}/{name}", self.shown.trim_end_matches('/'));
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(Error::malformed(
                shown,
                "a path outside the hierarchy this process sees",
            ));
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty())
            .map_err(|e| Error::io(&shown, e))?;
        let uid = rustix::fs::fstat(&fd)
            .map_err(|e| Error::io(&shown, e))?
            .st_uid;
        let path = format!("{}/{name}", self.path.trim_end_matches('/'));
        Ok(CgroupDir {
            fd,
            path,
            shown,
            uid,
        })
    }

    /// Its path below the mount's root (`/a/b.scope`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Its last component (`""` for the root).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }

    /// Its path as a file name (`/sys/fs/cgroup/unified/a/b.scope`).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The owner of the directory (the user whose manager made it, or who was delegated it).
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The open directory, for reading further files beneath it.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The name of its file `file`, for messages.
    pub fn file_name(&self, file: &str) -> String {
        format!("{}/{file}", self.shown.trim_end_matches('/'))
    }

    /// Its file `file` (beneath the descriptor, no symlink followed) into `buf` (cleared
    /// first): read to its end, and an error past `max` bytes.
    pub fn read_into(&self, file: &str, buf: &mut Vec<u8>, max: usize) -> Result<()> {
        let f = self.open_file(file)?;
        read_from_start(f.as_fd(), &self.file_name(file), buf, max)
    }

    /// Its file `file` opened for reading (beneath the descriptor, no symlink followed), to be
    /// read again from its start ([`read_from_start`]) and polled for the kernel's "file
    /// modified" events (`POLLPRI`: `memory.events`, `cgroup.events`), which it keeps sending
    /// while the cgroup exists; once it is removed, a read fails (`ENODEV`).
    pub fn open_file(&self, file: &str) -> Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        rustix::fs::openat(&self.fd, file, flags, Mode::empty())
            .map_err(|e| Error::io(self.file_name(file), e))
    }

    /// Write `value` to its file `file` in one write (`cgroup.kill`, `cgroup.freeze`).
    pub fn write(&self, file: &str, value: &str) -> Result<()> {
        let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let f = rustix::fs::openat(&self.fd, file, flags, Mode::empty())
            .map_err(|e| Error::io(self.file_name(file), e))?;
        match rustix::io::write(&f, value.as_bytes()) {
            Ok(n) if n == value.len() => Ok(()),
            Ok(_) => Err(Error::malformed(self.file_name(file), "a short write")),
            Err(e) => Err(Error::io(self.file_name(file), e)),
        }
    }

    /// The pids of `cgroup.procs`: its own live processes (not its sub-cgroups'; zombies are
    /// not listed).
    pub fn procs(&self, buf: &mut Vec<u8>) -> Result<Vec<i32>> {
        self.read_into("cgroup.procs", buf, MAX_PROCS)?;
        files::procs(buf).map_err(|m| Error::malformed(self.file_name("cgroup.procs"), m))
    }

    /// `cgroup.events` (none for the root cgroup).
    pub fn events(&self) -> Result<Events> {
        let mut buf = Vec::new();
        self.read_into("cgroup.events", &mut buf, MAX_FILE)?;
        files::events(&buf).map_err(|m| Error::malformed(self.file_name("cgroup.events"), m))
    }

    /// The names of its sub-cgroups (its directories).
    pub fn children(&self) -> Result<Vec<String>> {
        let err = |e| Error::io(self.shown.clone(), e);
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd).map_err(err)? {
            let entry = entry.map_err(err)?;
            let name = entry.file_name().to_bytes();
            let is_dir = matches!(entry.file_type(), FileType::Directory | FileType::Unknown);
            if is_dir && name != b"." && name != b".." {
                match std::str::from_utf8(name) {
                    Ok(n) => names.push(n.to_owned()),
                    Err(_) => {
                        return Err(Error::malformed(
                            self.shown.clone(),
                            "a sub-cgroup's name is not UTF-8",
                        ));
                    }
                }
            }
        }
        Ok(names)
    }

    /// Every live process of this cgroup and of its sub-cgroups at any depth (each pid once),
    /// at most [`MAX_MEMBERS`] in at most [`MAX_CGROUPS`] cgroups [`MAX_DEPTH`] deep: beyond,
    /// an error. A sub-cgroup removed during the walk is left out.
    pub fn members(&self) -> Result<Vec<Member>> {
        let mut walk = Walk::default();
        walk.visit(self, "", 0)?;
        let mut seen = HashSet::new();
        walk.found.retain(|m| seen.insert(m.pid));
        Ok(walk.found)
    }

    /// `cgroup.kill`: SIGKILL to every process of the cgroup and its sub-cgroups, by the
    /// kernel, including those forked meanwhile (kernel 5.14 on; `NotFound` before).
    pub fn kill(&self) -> Result<()> {
        self.write("cgroup.kill", "1")
    }

    /// `cgroup.freeze`: freeze (`true`) or thaw the cgroup and its sub-cgroups. The kernel
    /// freezes asynchronously: [`CgroupDir::events`] says `frozen` once it has (kernel 5.2 on).
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        self.write("cgroup.freeze", if frozen { "1" } else { "0" })
    }
}

/// The whole of an open cgroup file (`name` for messages) into `buf` (cleared first), read from
/// its start whatever was read of it before (a kernel file shows its values as they are at a
/// read from offset 0): an error past `max` bytes.
pub fn read_from_start(
    fd: BorrowedFd<'_>,
    name: &str,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<()> {
    buf.clear();
    loop {
        if buf.len() > max {
            return Err(Error::too_large(name, format!("larger than {max} bytes")));
        }
        buf.reserve(4096);
        let at = buf.len() as u64;
        match rustix::io::pread(fd, rustix::buffer::spare_capacity(buf), at) {
            Ok(0) => return Ok(()),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Error::io(name, e)),
        }
    }
}

/// A walk of a cgroup's sub-cgroups, with its bounds.
#[derive(Default)]
struct Walk {
    found: Vec<Member>,
    cgroups: usize,
    buf: Vec<u8>,
}

impl Walk {
    fn visit(&mut self, dir: &CgroupDir, rel: &str, depth: usize) -> Result<()> {
        for pid in dir.procs(&mut self.buf)? {
            if self.found.len() >= MAX_MEMBERS {
                let what = format!("more than {MAX_MEMBERS} processes");
                return Err(Error::too_large(dir.shown.clone(), what));
            }
            self.found.push(Member {
                pid,
                cgroup: rel.to_owned(),
            });
        }
        let children = dir.children()?;
        if !children.is_empty() && depth >= MAX_DEPTH {
            let what = format!("sub-cgroups deeper than {MAX_DEPTH}");
            return Err(Error::too_large(dir.shown.clone(), what));
        }
        for name in children {
            self.cgroups += 1;
            if self.cgroups > MAX_CGROUPS {
                let what = format!("more than {MAX_CGROUPS} sub-cgroups");
                return Err(Error::too_large(dir.shown.clone(), what));
            }
            let child = match dir.child(&name) {
                Err(e) if e.is_missing() => continue,
                child => child?,
            };
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            self.visit(&child, &rel, depth + 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::proc::cgroup::mount;

    #[test]
    fn opens_this_processs_cgroup_and_refuses_to_leave_the_hierarchy() {
        let Some(m) = mount::v2().unwrap() else {
            eprintln!("no cgroup v2 hierarchy here: nothing to open");
            return;
        };
        let (root, ancestors) = CgroupDir::open(m, "/").unwrap();
        assert!(ancestors.is_empty());
        assert_eq!((root.path(), root.name()), ("/", ""));
        let stat = root.read_into("cgroup.procs", &mut Vec::new(), MAX_PROCS);
        assert!(stat.is_ok(), "{stat:?}");
        for bad in ["/..", "/a/../b", "/./x"] {
            let err = CgroupDir::open(m, bad).unwrap_err();
            assert!(err.to_string().contains("outside the hierarchy"), "{err}");
        }
        let missing = CgroupDir::open(m, "/kanban-workers-no-such-cgroup").unwrap_err();
        assert!(missing.is_missing(), "{missing}");
        assert!(
            missing
                .to_string()
                .ends_with("kanban-workers-no-such-cgroup: no such file")
        );
        let none = root
            .read_into("no-such-file", &mut Vec::new(), 10)
            .unwrap_err();
        assert!(none.is_missing() && none.file.ends_with("/no-such-file"));
    }

    #[test]
    fn a_file_larger_than_its_bound_is_an_error_naming_it() {
        let Some(m) = mount::v2().unwrap() else {
            return;
        };
        let (root, _) = CgroupDir::open(m, "/").unwrap();
        let err = root.read_into("cpu.stat", &mut Vec::new(), 4).unwrap_err();
        assert!(
            err.to_string().contains("cpu.stat: larger than 4 bytes"),
            "{err}"
        );
    }
}
