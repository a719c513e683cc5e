//! Paths found on a board, opened once beneath a checked descriptor (SECURITY.md, "Paths").
//!
//! Whoever writes a board may own the folders around it and swap a link in for any of them at
//! any moment (`renameat2(RENAME_EXCHANGE)` in a loop). A path that is checked and then opened
//! again by name can therefore be checked as one thing and opened as another. So a path is
//! walked here once, one component at a time, each opened relative to the descriptor of the
//! one before with `O_NOFOLLOW` (a link anywhere on the way is refused, never followed) and
//! checked for what it is and whose it is on the descriptor itself (`fstat`); what the caller
//! then opens is opened relative to the last descriptor. The owner that was checked is
//! carried in the [`Dir`], never read again from a path. What is made, written, listed or
//! removed in a folder is so from its descriptor too, by one plain name, never through a link.
//!
//! Component by component rather than `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`: the
//! walk checks each folder's owner on the way, and it runs where `openat2` is missing or
//! filtered (kernels before 5.6, older container seccomp profiles). The one exception is the
//! operator's folder that a walk starts from ([`Dir::open_resolved`]), whose folders' owners
//! are not checked: there `openat2(RESOLVE_NO_SYMLINKS)` is the same check in one call, and
//! the walk decides whenever that call fails.
//!
//! Knows nothing of SQL or HTTP.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// Why a path was not opened. Its text names the path and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Nothing is there.
    Missing(PathBuf),
    /// A link is there (never followed).
    Link(PathBuf),
    /// Something else than what was asked for (a file where a folder should be, a FIFO, ...).
    NotA(PathBuf, &'static str),
    /// Owned by another uid than the one required.
    Owner { path: PathBuf, uid: u32, want: u32 },
    /// `..`, `.` or an absolute path where a name beneath was asked for.
    NotBeneath(PathBuf),
    /// The system said no to `doing` it ("open", "create", "write", "list", "remove", ...).
    Io {
        path: PathBuf,
        doing: &'static str,
        error: String,
    },
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Missing(p) => write!(f, "{} does not exist", p.display()),
            Refused::Link(p) => write!(f, "{} is a symbolic link (not followed)", p.display()),
            Refused::NotA(p, what) => write!(f, "{} is not {what}", p.display()),
            Refused::Owner { path, uid, want } => write!(
                f,
                "{} is owned by uid {uid}, not by uid {want}",
                path.display()
            ),
            Refused::NotBeneath(p) => write!(f, "{} does not name a place beneath", p.display()),
            Refused::Io { path, doing, error } => {
                write!(f, "cannot {doing} {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for Refused {}

impl Refused {
    fn io(path: PathBuf, doing: &'static str, e: impl fmt::Display) -> Refused {
        Refused::Io {
            path,
            doing,
            error: e.to_string(),
        }
    }
}

/// A folder opened without following a link anywhere on its path, and its owner as checked
/// on its descriptor.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
    owner: u32,
}

/// Folders are opened `O_PATH`: enough to open beneath them and to `fstat` them, and a folder
/// the shim may cross but not list (mode 0711) still opens.
const DIR_FLAGS: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// `path` is absolute and plain names written as `realpath` writes them: no `.`, no `..`, no
/// doubled or trailing `/` (`/` itself is not). Such a path is what a walk that refuses every
/// link (`openat2(RESOLVE_NO_SYMLINKS)`) and a walk by name both see alike.
pub(crate) fn is_plain(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    match path.as_os_str().as_bytes().split_first() {
        Some((b'/', rest)) => rest
            .split(|b| *b == b'/')
            .all(|name| !matches!(name, b"" | b"." | b"..")),
        _ => false,
    }
}

impl Dir {
    /// The folder at the absolute path `path`, whose links were resolved before (by the
    /// operator's choice, at start): walked from `/` without following any link, so a link
    /// swapped in since is refused.
    ///
    /// In one system call where the kernel has `openat2`, which refuses a link anywhere on the
    /// way (`RESOLVE_NO_SYMLINKS`): the kanban root is opened so at each request that reads
    /// `kanban/current` (a walk of a 4-folder path was 11 system calls). Should it fail, for
    /// any reason (a link, nothing there, no `openat2`), the walk below decides, and its error
    /// says which folder.
    pub fn open_resolved(path: &Path) -> Result<Dir, Refused> {
        if !path.is_absolute() {
            return Err(Refused::NotBeneath(path.to_path_buf()));
        }
        // Plain names only (no `..`: the walk refuses it), written as the walk names them.
        if is_plain(path) {
            let flags = rustix::fs::ResolveFlags::NO_SYMLINKS;
            if let Ok(fd) =
                rustix::fs::openat2(rustix::fs::CWD, path, DIR_FLAGS, Mode::empty(), flags)
            {
                return Dir::checked(fd, path.to_path_buf(), None);
            }
        }
        Dir::walk_resolved(path)
    }

    /// [`open_resolved`](Self::open_resolved) by a walk from `/`, one folder at a time.
    fn walk_resolved(path: &Path) -> Result<Dir, Refused> {
        let fd = rustix::fs::open("/", DIR_FLAGS, Mode::empty())
            .map_err(|e| Refused::io(PathBuf::from("/"), "open", e))?;
        let root = Dir::checked(fd, PathBuf::from("/"), None)?;
        let rel = path.strip_prefix("/").unwrap_or(path);
        root.dir(rel, None)
    }

    /// The folder `rel` beneath this one (one or more plain names, no `..`), each folder on
    /// the way opened without following a link and, when `owner` is given, owned by it.
    pub fn dir(&self, rel: &Path, owner: Option<u32>) -> Result<Dir, Refused> {
        let mut at: Option<Dir> = None;
        for part in rel.components() {
            let name = match part {
                Component::Normal(name) => name,
                Component::CurDir => continue,
                _ => return Err(Refused::NotBeneath(rel.to_path_buf())),
            };
            let from = at.as_ref().unwrap_or(self);
            let path = from.path.join(name);
            let fd = rustix::fs::openat(&from.fd, name, DIR_FLAGS, Mode::empty())
                .map_err(|e| from.refused(name.as_ref(), e, "a folder"))?;
            at = Some(Dir::checked(fd, path, owner)?);
        }
        match at {
            Some(dir) => Ok(dir),
            None => Ok(Dir {
                fd: self
                    .fd
                    .try_clone()
                    .map_err(|e| Refused::io(self.path.clone(), "open", e))?,
                path: self.path.clone(),
                owner: self.owner,
            }),
        }
    }

    /// The regular file `name` in this folder, opened for reading without following a link
    /// and without blocking (a FIFO there is refused, never waited on), owned by `owner`.
    pub fn file(&self, name: &str, owner: u32) -> Result<File, Refused> {
        let path = self.beneath(name)?;
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty())
            .map_err(|e| self.refused(Path::new(name), e, "a regular file"))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| Refused::io(path.clone(), "open", e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(Refused::NotA(path, "a regular file"));
        }
        if st.st_uid != owner {
            return Err(Refused::Owner {
                path,
                uid: st.st_uid,
                want: owner,
            });
        }
        Ok(File::from(fd))
    }

    /// The identity (device, inode) of what is at `name` in this folder now, no link
    /// followed: a rotation shows as another inode.
    pub fn id_at(&self, name: &str) -> Option<(u64, u64)> {
        let st = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        Some((st.st_dev, st.st_ino))
    }

    /// What is at `name` in this folder now, looked at without following a link (a link is
    /// itself); `None` when nothing is there.
    pub fn stat_at(&self, name: &str) -> Result<Option<Stat>, Refused> {
        let path = self.beneath(name)?;
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(Refused::io(path, "look at", e)),
        }
    }

    /// The names in this folder (`.` and `..` left out), in the order the system gives them.
    /// The folder is opened for reading as `.` beneath its own descriptor: the folder walked,
    /// whatever its path names now.
    pub fn names(&self) -> Result<Vec<OsString>, Refused> {
        let list = |e: Errno| Refused::io(self.path.clone(), "list", e);
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, ".", flags, Mode::empty()).map_err(list)?;
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::new(fd).map_err(list)? {
            let name = entry.map_err(list)?.file_name().to_bytes().to_vec();
            if name != b"." && name != b".." {
                names.push(OsString::from(std::ffi::OsStr::from_bytes(&name)));
            }
        }
        Ok(names)
    }

    /// The folder `name` in this one, made (`mode` less the umask) when missing, then opened
    /// as [`Dir::dir`] does: a link there is refused, and so is a folder `owner` does not own.
    pub fn make_dir(&self, name: &str, mode: u32, owner: u32) -> Result<Dir, Refused> {
        let path = self.beneath(name)?;
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(mode)) {
            Ok(()) | Err(Errno::EXIST) => self.dir(Path::new(name), Some(owner)),
            Err(e) => Err(Refused::io(path, "create", e)),
        }
    }

    /// Write `bytes` as the file `name` in this folder (`mode` less the umask): to a new
    /// temporary name beside it (`O_CREAT | O_EXCL | O_NOFOLLOW`: never through a name that
    /// exists), then renamed into place (`renameat`), so a file there is replaced, never
    /// written through, and a link there is replaced, never followed. The temporary name is
    /// removed when this fails. Not synced to disk.
    pub fn write_new(&self, name: &str, bytes: &[u8], mode: u32) -> Result<(), Refused> {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let path = self.beneath(name)?;
        let tmp = format!(
            ".{name}.kanban-workers-{}-{}.tmp",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let failed = |e: &dyn fmt::Display| Refused::io(path.clone(), "write", e);
        let flags = OFlags::WRONLY
            | OFlags::CREATE
            | OFlags::EXCL
            | OFlags::NOFOLLOW
            | OFlags::NOCTTY
            | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, tmp.as_str(), flags, Mode::from_raw_mode(mode))
            .map_err(|e| failed(&e))?;
        let written = File::from(fd)
            .write_all(bytes)
            .map_err(|e| failed(&e))
            .and_then(|()| {
                rustix::fs::renameat(&self.fd, tmp.as_str(), &self.fd, name).map_err(|e| failed(&e))
            });
        if written.is_err() {
            // The name this call just made, and no other.
            let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
        }
        written
    }

    /// Remove the file (or link: itself, never its target) `name` from this folder; gone
    /// already is fine.
    pub fn remove_file(&self, name: &str) -> Result<(), Refused> {
        self.unlink(name, AtFlags::empty())
    }

    /// Remove the empty folder `name` from this one (a link there is refused by the system,
    /// never followed); gone already is fine.
    pub fn remove_dir(&self, name: &str) -> Result<(), Refused> {
        self.unlink(name, AtFlags::REMOVEDIR)
    }

    /// The uid that owns this folder, as checked on its descriptor.
    pub fn owner(&self) -> u32 {
        self.owner
    }

    /// The path walked (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptor, for `*at` calls beneath it.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// `name` as a path beneath this folder (for messages) when it is one plain name.
    fn beneath(&self, name: &str) -> Result<PathBuf, Refused> {
        let path = self.path.join(name);
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(Refused::NotBeneath(path));
        }
        Ok(path)
    }

    fn unlink(&self, name: &str, flags: AtFlags) -> Result<(), Refused> {
        let path = self.beneath(name)?;
        match rustix::fs::unlinkat(&self.fd, name, flags) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(Refused::io(path, "remove", e)),
        }
    }

    fn checked(fd: OwnedFd, path: PathBuf, owner: Option<u32>) -> Result<Dir, Refused> {
        let st = rustix::fs::fstat(&fd).map_err(|e| Refused::io(path.clone(), "open", e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return Err(Refused::NotA(path, "a folder"));
        }
        if let Some(want) = owner {
            if st.st_uid != want {
                return Err(Refused::Owner {
                    path,
                    uid: st.st_uid,
                    want,
                });
            }
        }
        Ok(Dir {
            fd,
            path,
            owner: st.st_uid,
        })
    }

    /// What a failed `openat` of `name` here means: a link (`ELOOP`, or `ENOTDIR` on a link
    /// where a folder was asked for), nothing there, something else, or the system's error.
    fn refused(&self, name: &Path, e: Errno, what: &'static str) -> Refused {
        let path = self.path.join(name);
        let is_link = || {
            rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
        };
        match e {
            Errno::NOENT => Refused::Missing(path),
            Errno::LOOP => Refused::Link(path),
            Errno::NOTDIR if is_link() => Refused::Link(path),
            Errno::NOTDIR => Refused::NotA(path, what),
            e => Refused::io(path, "open", e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_link_anywhere_on_the_way_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(real.join("a/b")).unwrap();
        std::fs::write(real.join("a/b/f"), "x").unwrap();
        symlink(real.join("a"), real.join("l")).unwrap();
        symlink(real.join("a/b/f"), real.join("a/b/g")).unwrap();
        let me = rustix::process::geteuid().as_raw();

        let top = Dir::open_resolved(&real).unwrap();
        assert_eq!(top.owner(), me);
        let b = top.dir(Path::new("a/b"), Some(me)).unwrap();
        assert!(b.file("f", me).is_ok());
        assert_eq!(
            b.file("g", me).unwrap_err(),
            Refused::Link(real.join("a/b/g"))
        );
        assert_eq!(
            top.dir(Path::new("l/b"), None).unwrap_err(),
            Refused::Link(real.join("l"))
        );
        assert_eq!(
            Dir::open_resolved(&real.join("l/b")).unwrap_err(),
            Refused::Link(real.join("l"))
        );
        assert_eq!(
            top.dir(Path::new("a/../a"), None).unwrap_err(),
            Refused::NotBeneath(PathBuf::from("a/../a"))
        );
        assert_eq!(
            top.dir(Path::new("a/b/f"), None).unwrap_err(),
            Refused::NotA(real.join("a/b/f"), "a folder")
        );
        assert_eq!(
            top.dir(Path::new("a/x"), None).unwrap_err(),
            Refused::Missing(real.join("a/x"))
        );
        assert!(matches!(
            b.file("f", me + 1).unwrap_err(),
            Refused::Owner { uid, .. } if uid == me
        ));
        assert!(matches!(
            top.dir(Path::new("a"), Some(me + 1)).unwrap_err(),
            Refused::Owner { .. }
        ));
        assert_eq!(
            b.file("../f", me).unwrap_err(),
            Refused::NotBeneath(real.join("a/b/../f"))
        );
    }

    /// An operator's folder is opened alike in one call (`openat2`) and by the walk from `/`:
    /// the same folder, path and owner; and what one call cannot open (a link on the way or at
    /// the end, nothing, a file, `..`) is refused as the walk refuses it, naming the folder.
    #[test]
    fn an_operators_folder_opens_alike_in_one_call_and_by_the_walk() {
        let t = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(real.join("a/b")).unwrap();
        std::fs::write(real.join("a/f"), "x").unwrap();
        symlink(real.join("a"), real.join("l")).unwrap();
        let id = |d: &Dir| {
            let st = rustix::fs::fstat(&d.fd).unwrap();
            (st.st_dev, st.st_ino, d.path.clone(), d.owner)
        };
        for path in [
            PathBuf::from("/"),
            real.clone(),
            real.join("a/b"),
            real.join("a//b/"),
        ] {
            let one = Dir::open_resolved(&path).unwrap();
            let walked = Dir::walk_resolved(&path).unwrap();
            assert_eq!(id(&one), id(&walked), "{path:?}");
        }
        for path in [
            real.join("l"),
            real.join("l/b"),
            real.join("a/x"),
            real.join("a/f"),
            real.join("a/b/../b"),
        ] {
            let refused = Dir::open_resolved(&path).unwrap_err();
            assert_eq!(refused, Dir::walk_resolved(&path).unwrap_err(), "{path:?}");
        }
        assert_eq!(
            Dir::open_resolved(&real.join("l/b")).unwrap_err(),
            Refused::Link(real.join("l"))
        );
    }

    /// Made, written, listed and removed from the folder's descriptor, by plain names: a link
    /// at the name is refused or replaced, never followed, and a folder swapped away after it
    /// was opened is still the one written in.
    #[test]
    fn makes_writes_lists_and_removes_beneath_without_following_a_link() {
        let t = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(t.path()).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("f"), "theirs").unwrap();
        symlink(outside.path(), real.join("l")).unwrap();
        symlink(outside.path().join("f"), real.join("lf")).unwrap();
        let me = rustix::process::geteuid().as_raw();
        let top = Dir::open_resolved(&real).unwrap();

        // make_dir: made, again (there already) fine, a link refused.
        let a = top.make_dir("a", 0o755, me).unwrap();
        assert_eq!(a.path(), real.join("a"));
        assert!(top.make_dir("a", 0o755, me).is_ok());
        assert_eq!(
            top.make_dir("l", 0o755, me).unwrap_err(),
            Refused::Link(real.join("l"))
        );
        assert!(matches!(
            top.make_dir("a", 0o755, me + 1).unwrap_err(),
            Refused::Owner { .. }
        ));
        assert_eq!(
            top.make_dir("a/b", 0o755, me).unwrap_err(),
            Refused::NotBeneath(real.join("a/b"))
        );

        // write_new: written, replaced; a link at the name replaced, its target untouched.
        a.write_new("f", b"one", 0o644).unwrap();
        a.write_new("f", b"two", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(real.join("a/f")).unwrap(), "two");
        top.write_new("lf", b"ours", 0o644).unwrap();
        assert_eq!(
            std::fs::read_to_string(outside.path().join("f")).unwrap(),
            "theirs"
        );
        assert!(
            !std::fs::symlink_metadata(real.join("lf"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(real.join("lf")).unwrap(), "ours");
        // Over a folder: refused, and no temporary name left.
        std::fs::create_dir(real.join("a/d")).unwrap();
        assert!(matches!(
            a.write_new("d", b"x", 0o644).unwrap_err(),
            Refused::Io { doing: "write", .. }
        ));
        let mut names = a.names().unwrap();
        names.sort();
        assert_eq!(names, ["d", "f"]);

        // stat_at: a link is itself; nothing there is None.
        let st = top.stat_at("l").unwrap().unwrap();
        assert_eq!(FileType::from_raw_mode(st.st_mode), FileType::Symlink);
        assert_eq!(st.st_uid, me);
        assert!(top.stat_at("nope").unwrap().is_none());
        assert_eq!(
            top.stat_at("..").unwrap_err(),
            Refused::NotBeneath(real.join(".."))
        );

        // The folder opened, then swapped for a link: still the folder opened.
        std::fs::rename(real.join("a"), real.join("moved")).unwrap();
        symlink(outside.path(), real.join("a")).unwrap();
        a.write_new("g", b"x", 0o644).unwrap();
        assert!(real.join("moved/g").is_file());
        assert!(!outside.path().join("g").exists());
        let mut names = a.names().unwrap();
        names.sort();
        assert_eq!(names, ["d", "f", "g"]);

        // remove_file: a link removed itself, its target kept; gone already fine.
        top.remove_file("l").unwrap();
        assert!(outside.path().join("f").is_file());
        top.remove_file("l").unwrap();
        a.remove_file("g").unwrap();
        assert!(!real.join("moved/g").exists());
        // remove_dir: only an empty folder, never through a link.
        symlink(real.join("moved/d"), real.join("ld")).unwrap();
        assert!(matches!(
            top.remove_dir("ld").unwrap_err(),
            Refused::Io {
                doing: "remove",
                ..
            }
        ));
        assert!(real.join("moved/d").is_dir());
        assert!(matches!(
            top.remove_dir("moved").unwrap_err(),
            Refused::Io {
                doing: "remove",
                ..
            }
        ));
        a.remove_dir("d").unwrap();
        a.remove_dir("d").unwrap();
        assert!(!real.join("moved/d").exists());
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let t = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(t.path()).unwrap();
        let ok = std::process::Command::new("mkfifo")
            .arg(real.join("p"))
            .status()
            .unwrap();
        assert!(ok.success());
        let dir = Dir::open_resolved(&real).unwrap();
        let me = rustix::process::geteuid().as_raw();
        assert_eq!(
            dir.file("p", me).unwrap_err(),
            Refused::NotA(real.join("p"), "a regular file")
        );
    }
}
