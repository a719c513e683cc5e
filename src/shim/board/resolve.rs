//! Which board file a request reads, as the board's owner resolves it. Pure path logic: knows
//! nothing of SQL or HTTP (errors carry the status the route answers).
//!
//! - The root: `$HERMES_KANBAN_HOME` when set and non-empty; else the Hermes root: `~/.hermes`
//!   when `$HERMES_HOME` is unset or lies under `~/.hermes` (profiles live in
//!   `~/.hermes/profiles/<name>`), `<x>` when `$HERMES_HOME` is `<x>/profiles/<name>`, and
//!   `$HERMES_HOME` itself otherwise (Docker and custom deployments).
//! - The `default` board is `<root>/kanban.db`; any other `<root>/kanban/boards/<slug>/kanban.db`.
//! - Without `?board=` (or with an empty one): the active board, `$HERMES_KANBAN_BOARD`, else the
//!   slug in `<root>/kanban/current` when that board exists, else `default`. That file is read
//!   only when it is a regular file (not a link, never a FIFO), and never past a few hundred
//!   bytes (see [`read_current`]).
//! - `?board=` is checked first, always: a slug is trimmed and lower-cased, then must match
//!   `^[a-z0-9][a-z0-9_-]{0,63}$` (400 otherwise); a board other than `default` must exist as
//!   the owner's `board_exists` says (hermes-agent 0.19.0 and the owner's current releases):
//!   its folder holding a `board.json` or a `kanban.db` (404 otherwise: an empty folder is no
//!   board). Then `$HERMES_KANBAN_DB` (or `--db`) pins the file: `--db` serves exactly that
//!   one file, so a `?board=` naming another board is a 404.
//! - A board found under the root stays inside what the root's owner can read alone: its
//!   folder and its file must resolve (links followed) to places under the real root, and be
//!   owned by the root's owner. Otherwise the board is answered exactly as a missing one (a
//!   folder, or its file where no `board.json` is beside it: 404 `board '<slug>' does not
//!   exist`; the default board's file, or one beside a `board.json`: 503 `board <path> does not
//!   exist`), so the answer never tells whether the file is there. A link out of the root, into another
//!   user's private folder, would otherwise have a root shim serve that user's rows to anyone on
//!   loopback, and terminate write to it and signal that user's processes. A file the operator
//!   names (`--db`, `$HERMES_KANBAN_DB`) is the operator's choice and is not checked: the
//!   board's writer cannot set either. Only `stat`s, `realpath`, and for a named file one
//!   `O_PATH` descriptor ([`Named::check`]), whose close releases none of SQLite's locks (see
//!   `board::file`).
//! - The file a request gets is the board's real path (an operator-named file's too, once it
//!   exists), which the pool opens without following links (see `board::pool`).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::shim::ApiError;

/// Where the boards are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boards {
    /// The kanban root (`None`: unknown, no `$HOME` either).
    pub root: Option<PathBuf>,
    /// `$HERMES_KANBAN_BOARD`.
    pub active: Option<String>,
    /// The file every board resolves to: `$HERMES_KANBAN_DB`.
    pub pinned: Option<Named>,
    /// `--db`: exactly this file, whatever the board.
    pub only: Option<Named>,
    /// The root's real path and owner, resolved once (the first time the root exists): a
    /// board writer who owns the folders above the root and swaps one for a link later does
    /// not change which root, or whose, is served.
    pub root_at: std::sync::OnceLock<(PathBuf, u32)>,
}

/// A board file the operator named (`--db`, `$HERMES_KANBAN_DB`), as it was at start: its
/// links resolved then (the operator's choice), and its owner then. Whoever writes the board
/// may own the folder it is in, and swap a link or another user's file into that path later:
/// each request finds the path as it was resolved at start, not followed again, and the file
/// there a regular one of the same owner (see [`Named::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// As given.
    pub given: PathBuf,
    /// Links resolved at start (the folder's, when the file was not there yet).
    pub path: PathBuf,
    /// The owner of the file at start, or of its folder when the file was not there yet.
    pub owner: Option<u32>,
}

impl Named {
    pub fn new(given: &Path) -> Named {
        use std::os::unix::fs::MetadataExt;
        let path = std::fs::canonicalize(given).unwrap_or_else(|_| {
            match (given.parent(), given.file_name()) {
                (Some(dir), Some(name)) => {
                    let dir = if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    };
                    std::fs::canonicalize(dir)
                        .map_or_else(|_| given.to_path_buf(), |d| d.join(name))
                }
                _ => given.to_path_buf(),
            }
        });
        let owner = std::fs::metadata(&path)
            .or_else(|_| std::fs::metadata(path.parent().unwrap_or(Path::new("/"))))
            .ok()
            .map(|m| m.uid());
        Named {
            given: given.to_path_buf(),
            path,
            owner,
        }
    }

    /// The path to open: as resolved at start, when what is there now is no link (anywhere in
    /// the path) and, when it exists, a file of the owner at start. Otherwise the answer a
    /// missing board gets, whatever is there.
    pub fn check(&self) -> Result<PathBuf, ApiError> {
        let missing = || {
            crate::shim::board::pool::unavailable(
                &self.path,
                crate::shim::board::file::DOES_NOT_EXIST,
            )
        };
        match found(&self.path) {
            // Not there (yet), or not to be looked at: the pool says so.
            Found::Absent => Ok(self.path.clone()),
            Found::Linked => Err(missing()),
            Found::Owned(uid) if self.owner.is_none_or(|o| o == uid) => Ok(self.path.clone()),
            Found::Owned(_) => Err(missing()),
        }
    }
}

/// What is at a named board's path now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// Nothing, or nothing this process may look at.
    Absent,
    /// A link, at the end of the path or on its way.
    Linked,
    /// Something of this uid, reached without a link.
    Owned(u32),
}

/// What is at `path`: in one walk of the path that refuses every link on its way
/// (`openat2(RESOLVE_NO_SYMLINKS)`, then the uid from the descriptor), or as [`found_by_name`]
/// finds it wherever that walk cannot say: a path not absolute or not plain names only (kept
/// as given when it did not resolve at start), `openat2` missing or filtered (kernels before
/// 5.6, container seccomp profiles), or any failure other than nothing there or no access
/// (no descriptor left, say: the by-name check needs none). One walk, not one for the `lstat`
/// and one for each folder of `realpath`: a request to a named board makes this check.
fn found(path: &Path) -> Found {
    use rustix::fs::{CWD, Mode, OFlags, ResolveFlags};
    if !crate::shim::beneath::is_plain(path) {
        return found_by_name(path);
    }
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    let opened = rustix::fs::openat2(CWD, path, flags, Mode::empty(), ResolveFlags::NO_SYMLINKS);
    decide(path, opened)
}

/// What [`found`] makes of its walk's outcome: the uid of what it opened (never a link: a link
/// at the end fails the walk too), a link, nothing; any other failure, by name.
fn decide(path: &Path, opened: rustix::io::Result<std::os::fd::OwnedFd>) -> Found {
    use rustix::fs::{AtFlags, StatxFlags};
    use rustix::io::Errno;
    match opened {
        Ok(fd) => {
            let what = StatxFlags::TYPE | StatxFlags::UID;
            match rustix::fs::statx(&fd, "", AtFlags::EMPTY_PATH, what) {
                Ok(st) if st.stx_mask & what.bits() == what.bits() => Found::Owned(st.stx_uid),
                _ => found_by_name(path),
            }
        }
        Err(Errno::LOOP) => Found::Linked,
        // As `lstat` says these (the pool then answers for the path).
        Err(Errno::NOENT | Errno::NOTDIR | Errno::ACCESS | Errno::NAMETOOLONG) => Found::Absent,
        Err(_) => found_by_name(path),
    }
}

/// [`found`] by name: the path's own `lstat`, then `realpath`, which is the path itself only
/// when no folder on the way is a link.
fn found_by_name(path: &Path) -> Found {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(path) {
        Err(_) => Found::Absent,
        Ok(meta) => {
            let unlinked = std::fs::canonicalize(path).is_ok_and(|r| r == path);
            if meta.file_type().is_symlink() || !unlinked {
                Found::Linked
            } else {
                Found::Owned(meta.uid())
            }
        }
    }
}

impl Boards {
    /// From the environment (`env`) and `--db`.
    pub fn from_env(flag: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Boards {
        let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        Boards {
            root: kanban_root(env),
            active: var("HERMES_KANBAN_BOARD"),
            pinned: var("HERMES_KANBAN_DB").map(|p| Named::new(Path::new(&p))),
            only: flag.map(Named::new),
            root_at: std::sync::OnceLock::new(),
        }
    }

    /// The kanban root's real path and its owner, resolved the first time it exists and kept
    /// (see `root_at`).
    pub fn root_real(&self) -> Option<(&Path, u32)> {
        use std::os::unix::fs::MetadataExt;
        if self.root_at.get().is_none() {
            let real = std::fs::canonicalize(self.root.as_ref()?).ok()?;
            let owner = std::fs::metadata(&real).ok()?.uid();
            let _ = self.root_at.set((real, owner));
        }
        self.root_at.get().map(|(p, o)| (p.as_path(), *o))
    }

    /// The file of the board a request names (`None`: no `?board=`), and the uid it was
    /// checked against (carried to every later check: the pool, the logs, the signals).
    pub fn resolve(&self, board: Option<&str>) -> Result<(PathBuf, Option<u32>), ApiError> {
        let asked = Boards::asked(board)?;
        if let Some(only) = &self.only {
            return match asked.as_deref() {
                None | Some("default") => only.check().map(|p| (p, only.owner)),
                Some(other) => Err(no_such_board(other)),
            };
        }
        let slug = match asked {
            Some(slug) => {
                if !self.exists(&slug) {
                    return Err(no_such_board(&slug));
                }
                slug
            }
            None => self.active_slug(),
        };
        if let Some(pinned) = &self.pinned {
            return pinned.check().map(|p| (p, pinned.owner));
        }
        let file = self.file_of(&slug).ok_or_else(|| {
            ApiError::new(503, "no kanban root: set $HERMES_KANBAN_HOME or $HOME")
        })?;
        // Missing and refused, one answer: the one a missing board file gets from the pool.
        let owner = self.root_real().map(|(_, o)| o);
        self.owners(&file).map(|p| (p, owner)).ok_or_else(|| {
            crate::shim::board::pool::unavailable(&file, crate::shim::board::file::DOES_NOT_EXIST)
        })
    }

    /// The logs folder of the board a request names (see `board::logs`). `?board=` has been
    /// checked by then ([`Boards::resolve`]). Its owner is the uid the board was checked
    /// against: the `--db` or `$HERMES_KANBAN_DB` file's owner at start, else the root's.
    pub fn logs_dir(&self, board: Option<&str>) -> crate::shim::board::logs::LogsDir {
        use crate::shim::board::logs::{self, LogsDir};
        if let Some(only) = &self.only {
            return LogsDir {
                shown: logs::named_board_root(&only.given).join("logs"),
                anchor: only.path.parent().map(Path::to_path_buf),
                rel: logs::named_logs_rel(&only.given),
                owner: only.owner,
            };
        }
        let slug = match Boards::asked(board).ok().flatten() {
            Some(slug) => slug,
            None => self.active_slug(),
        };
        let rel = if slug == "default" {
            PathBuf::from("kanban/logs")
        } else {
            Path::new("kanban/boards").join(&slug).join("logs")
        };
        let (Some(root), Some((real, root_owner))) = (&self.root, self.root_real()) else {
            return LogsDir::none(match &self.root {
                Some(root) => root.join(&rel),
                None => rel,
            });
        };
        LogsDir {
            shown: root.join(&rel),
            anchor: Some(real.to_path_buf()),
            rel,
            owner: match &self.pinned {
                Some(pinned) => pinned.owner,
                None => Some(root_owner),
            },
        }
    }

    /// The slug of the board a request names: `?board=` as checked, else the active board's
    /// (`default` for a file named by `--db`).
    pub fn slug_of(&self, board: Option<&str>) -> String {
        match Boards::asked(board).ok().flatten() {
            Some(slug) => slug,
            None if self.only.is_some() => "default".to_owned(),
            None => self.active_slug(),
        }
    }

    /// The Hermes machine id of this host's boards (`<kanban root>/kanban/machine-id`, written
    /// by the owner's distributed workers; for `--db`, beside the board), when it is there: a
    /// regular file of the board's owner, found beneath the root without following a link, one
    /// line of at most 64 letters, digits and `-`. `None` otherwise.
    pub fn machine_id(&self) -> Option<String> {
        use std::io::Read as _;
        let (anchor, owner) = match &self.only {
            Some(only) => (only.path.parent()?.to_path_buf(), only.owner?),
            None => {
                let (root, owner) = self.root_real()?;
                (root.to_path_buf(), owner)
            }
        };
        let dir = crate::shim::beneath::Dir::open_resolved(&anchor).ok()?;
        let kanban = dir.dir(Path::new("kanban"), Some(owner)).ok()?;
        let mut text = String::new();
        kanban
            .file("machine-id", owner)
            .ok()?
            .take(128)
            .read_to_string(&mut text)
            .ok()?;
        crate::surface::settings::machine_id(&text)
    }

    /// The board served when a request names none, as the start checks it: `--db`, else `$HERMES_KANBAN_DB`, else the
    /// active board under the kanban root (`$HERMES_KANBAN_HOME`, else the Hermes root derived
    /// from `$HERMES_HOME`, else `~/.hermes`; see the module's notes). An explicit path (flag or
    /// `$HERMES_KANBAN_DB`) is taken as given, even if the file is not there yet (the server
    /// answers 503 until it is); a board found under the root must exist. The error lists every
    /// place tried.
    pub fn at_start(&self) -> Result<PathBuf, String> {
        if let Some(p) = self.only.as_ref().or(self.pinned.as_ref()) {
            return Ok(p.given.clone());
        }
        let mut tried = vec![
            "--db (not given)".to_owned(),
            "$HERMES_KANBAN_DB (not set)".to_owned(),
        ];
        match self.active_file() {
            // A board refused for leaving its owner's reach is said not to exist, as a request
            // is told (see `boards`).
            Some(p) if self.owners(&p).is_some_and(|real| real.is_file()) => Ok(p),
            Some(p) => {
                tried.push(format!("{} (does not exist)", p.display()));
                tried.push(
                    "(the kanban root is $HERMES_KANBAN_HOME, else derived from $HERMES_HOME, \
                     else ~/.hermes; the board is $HERMES_KANBAN_BOARD, else <root>/kanban/current, \
                     else default)"
                        .to_owned(),
                );
                Err(no_board(&tried))
            }
            None => {
                tried.push("~/.hermes/kanban.db ($HOME not set)".to_owned());
                Err(no_board(&tried))
            }
        }
    }

    /// The real path of `path`, a board's file or folder under the root, when it is the
    /// root owner's: it exists, resolves (links followed) to a place under the real root, and
    /// it and the folder it resolves into are owned by the root's owner. `None` otherwise.
    pub fn owners(&self, path: &Path) -> Option<PathBuf> {
        use std::os::unix::fs::MetadataExt;
        let (root, owner) = self.root_real()?;
        let real = std::fs::canonicalize(path).ok()?;
        let folder = real.parent()?;
        let inside = real.starts_with(root) && real != root;
        let owned = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.uid() == owner);
        (inside && owned(&real) && owned(folder)).then_some(real)
    }

    /// The slug a request's `?board=` names (`None`: none, or empty), checked (400) without
    /// reading anything.
    pub fn asked(board: Option<&str>) -> Result<Option<String>, ApiError> {
        match board.map(str::trim) {
            None | Some("") => Ok(None),
            Some(raw) => slug(raw).map(Some),
        }
    }

    /// The board served when a request names none (what the banner shows).
    pub fn active_file(&self) -> Option<PathBuf> {
        self.only
            .as_ref()
            .or(self.pinned.as_ref())
            .map(|n| n.given.clone())
            .or_else(|| self.file_of(&self.active_slug()))
    }

    /// `$HERMES_KANBAN_BOARD`, else `<root>/kanban/current` when that board exists, else
    /// `default`.
    fn active_slug(&self) -> String {
        if let Some(active) = self.active.as_deref().and_then(|a| slug(a).ok()) {
            return active;
        }
        let current = self
            .root_real()
            .and_then(|(root, owner)| {
                let root = crate::shim::beneath::Dir::open_resolved(root).ok()?;
                let kanban = root.dir(Path::new("kanban"), Some(owner)).ok()?;
                read_current(&kanban, owner)
            })
            .and_then(|text| slug(&text).ok());
        match current {
            Some(s) if self.exists(&s) => s,
            _ => "default".to_owned(),
        }
    }

    /// `default` always exists; another board as the owner's `board_exists` says: its folder
    /// holds a `board.json` or a `kanban.db` (an empty folder is no board), the folder and
    /// that file the root owner's (see the module's notes: one out of reach is missing).
    fn exists(&self, slug: &str) -> bool {
        slug == "default"
            || self
                .board_dir(slug)
                .and_then(|d| self.owners(&d))
                .is_some_and(|d| d.is_dir() && self.holds_a_board(&d))
    }

    /// Whether the board folder `dir` (a real path, the root owner's) holds what the owner's
    /// `board_exists` looks for: `board.json` or `kanban.db`, each the root owner's and inside
    /// the root ([`Boards::owners`]: one that is not, or a link out of the root, is not
    /// there, whether or not its target exists).
    fn holds_a_board(&self, dir: &Path) -> bool {
        ["board.json", "kanban.db"]
            .iter()
            .any(|name| self.owners(&dir.join(name)).is_some())
    }

    fn board_dir(&self, slug: &str) -> Option<PathBuf> {
        Some(self.root.as_ref()?.join("kanban").join("boards").join(slug))
    }

    fn file_of(&self, slug: &str) -> Option<PathBuf> {
        if slug == "default" {
            Some(self.root.as_ref()?.join("kanban.db"))
        } else {
            Some(self.board_dir(slug)?.join("kanban.db"))
        }
    }
}

/// The most of `kanban/current` read. A slug is at most 64 bytes; a longer file is not a slug.
pub const CURRENT_MAX_BYTES: usize = 256;

/// The text of `current` in the folder `kanban` (walked from the root without following a
/// link), when it is a regular file of the root's owner `owner` of at most
/// [`CURRENT_MAX_BYTES`] (`None`, so `default`, otherwise: the answer the owner reaches for
/// anything longer, which is no slug either). It is read on every request that names no
/// board, so: opened without blocking (a FIFO there would hold the thread until a writer
/// came) and without following a link (it would lead the shim, as root perhaps, to read or
/// block on whatever file the board's writer points it at), then checked for what was opened,
/// and never read past the limit (a 300 MiB file was read whole, every request).
fn read_current(kanban: &crate::shim::beneath::Dir, owner: u32) -> Option<String> {
    let file = kanban.file("current", owner).ok()?;
    let mut text = Vec::with_capacity(CURRENT_MAX_BYTES + 1);
    file.take(CURRENT_MAX_BYTES as u64 + 1)
        .read_to_end(&mut text)
        .ok()?;
    if text.len() > CURRENT_MAX_BYTES {
        return None;
    }
    String::from_utf8(text).ok()
}

/// The kanban root (see the module's notes); `None` without `$HERMES_KANBAN_HOME`,
/// `$HERMES_HOME` or `$HOME`.
pub fn kanban_root(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let Some(home) = var("HERMES_KANBAN_HOME") {
        return Some(PathBuf::from(home));
    }
    let default = var("HOME").map(|h| PathBuf::from(h).join(".hermes"));
    let Some(hermes) = var("HERMES_HOME").map(PathBuf::from) else {
        return default;
    };
    if default.as_ref().is_some_and(|d| hermes.starts_with(d)) {
        return default;
    }
    // `<x>/profiles/<name>`: the root is `<x>`.
    if let (Some(parent), Some(_)) = (hermes.parent(), hermes.file_name()) {
        if parent.file_name().is_some_and(|n| n == "profiles") {
            if let Some(x) = parent.parent() {
                return Some(x.to_path_buf());
            }
        }
    }
    Some(hermes)
}

/// A board slug as the owner normalises it: trimmed, lower-cased, then checked.
pub fn slug(raw: &str) -> Result<String, ApiError> {
    let s = raw.trim().to_lowercase();
    let bytes = s.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_');
    if ok {
        Ok(s)
    } else {
        Err(ApiError::new(
            400,
            format!(
                "invalid board slug '{}': must be 1-64 chars, lowercase alphanumerics / hyphens / \
                 underscores, not starting with '-' or '_'",
                crate::shim::shown(raw)
            ),
        ))
    }
}

/// The real path of a file the operator named (links followed: the operator's choice), which
/// the pool opens without following links; the path as given while it does not resolve.
fn no_such_board(slug: &str) -> ApiError {
    ApiError::new(404, format!("board '{slug}' does not exist"))
}

fn no_board(tried: &[String]) -> String {
    format!(
        "no kanban board found. Tried:\n  {}\nPass --db PATH, or run `kanban-workers demo` for a demo board.",
        tried.join("\n  ")
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_root_follows_the_owners_rules() {
        let root = |pairs: &[(&str, &str)]| kanban_root(&env(pairs));
        let home = ("HOME", "/home/u");
        assert_eq!(root(&[home]), Some("/home/u/.hermes".into()));
        assert_eq!(
            root(&[home, ("HERMES_KANBAN_HOME", "/k")]),
            Some("/k".into())
        );
        assert_eq!(
            root(&[home, ("HERMES_HOME", "/home/u/.hermes/profiles/work")]),
            Some("/home/u/.hermes".into())
        );
        assert_eq!(
            root(&[home, ("HERMES_HOME", "/opt/data")]),
            Some("/opt/data".into())
        );
        assert_eq!(
            root(&[home, ("HERMES_HOME", "/srv/h/profiles/ops")]),
            Some("/srv/h".into())
        );
        assert_eq!(root(&[("HERMES_HOME", "")]), None);
        assert_eq!(
            root(&[home, ("HERMES_KANBAN_HOME", " ")]),
            Some("/home/u/.hermes".into())
        );
    }

    /// A named board's path is found alike in one walk (`openat2`) and by name (`lstat`, then
    /// `realpath`), the way taken where `openat2` is missing: a file, a folder, nothing, and a
    /// link at its end, on its way, or leading nowhere. Then the check's answers.
    #[test]
    fn a_named_boards_path_is_found_alike_in_one_walk_and_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        let me = rustix::process::geteuid().as_raw();
        let real = dir.join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("kanban.db"), "").unwrap();
        std::os::unix::fs::symlink(real.join("kanban.db"), real.join("link.db")).unwrap();
        std::os::unix::fs::symlink(dir.join("nowhere"), real.join("dangling.db")).unwrap();
        std::os::unix::fs::symlink(&real, dir.join("up")).unwrap();
        for (path, want) in [
            (
                PathBuf::from("relative.db"),
                found_by_name(Path::new("relative.db")),
            ),
            (dir.join("real/./kanban.db"), Found::Owned(me)),
            (dir.join("real/../real/kanban.db"), Found::Linked),
            (dir.join("real//kanban.db"), Found::Owned(me)),
            (real.join("kanban.db"), Found::Owned(me)),
            (real.clone(), Found::Owned(me)),
            (real.join("missing.db"), Found::Absent),
            (dir.join("no-folder/kanban.db"), Found::Absent),
            (real.join("link.db"), Found::Linked),
            (real.join("dangling.db"), Found::Linked),
            (dir.join("up/kanban.db"), Found::Linked),
        ] {
            assert_eq!(found(&path), want, "{path:?}");
            assert_eq!(found_by_name(&path), want, "{path:?}, by name");
        }
        // A walk that failed for any other reason (no descriptor left: a port held full of
        // connections) is decided by name: a link on the way is still refused.
        let linked = dir.join("up/kanban.db");
        for errno in [
            rustix::io::Errno::MFILE,
            rustix::io::Errno::NFILE,
            rustix::io::Errno::NOMEM,
        ] {
            assert_eq!(decide(&linked, Err(errno)), Found::Linked, "{errno:?}");
            assert_eq!(
                decide(&real.join("kanban.db"), Err(errno)),
                Found::Owned(me)
            );
        }
        let named = |path: PathBuf, owner| Named {
            given: path.clone(),
            path,
            owner,
        };
        let file = real.join("kanban.db");
        assert!(named(file.clone(), Some(me)).check().is_ok());
        assert!(named(file.clone(), None).check().is_ok());
        let theirs = named(file, Some(me + 1)).check().unwrap_err();
        let linked = named(dir.join("up/kanban.db"), Some(me))
            .check()
            .unwrap_err();
        for refused in [theirs, linked] {
            assert_eq!(refused.status, 503);
            assert!(
                refused.detail.ends_with("does not exist"),
                "{}",
                refused.detail
            );
        }
        assert!(
            named(real.join("missing.db"), Some(me)).check().is_ok(),
            "the pool says so"
        );
    }

    #[test]
    fn current_is_read_when_small_regular_and_not_a_link() {
        use crate::shim::beneath::Dir;
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        let me = rustix::process::geteuid().as_raw();
        let kanban = Dir::open_resolved(&dir).unwrap();
        let path = dir.join("current");
        let at_most = format!("ops{}", " ".repeat(CURRENT_MAX_BYTES - 3));
        std::fs::write(&path, &at_most).unwrap();
        assert_eq!(read_current(&kanban, me), Some(at_most.clone()));
        assert_eq!(read_current(&kanban, me + 1), None, "another uid's");
        std::fs::write(&path, format!("{at_most} ")).unwrap();
        assert_eq!(read_current(&kanban, me), None, "one byte past the limit");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read_current(&kanban, me), None, "missing");
        std::fs::write(dir.join("real"), "ops").unwrap();
        std::os::unix::fs::symlink(dir.join("real"), &path).unwrap();
        assert_eq!(read_current(&kanban, me), None, "a link");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert_eq!(read_current(&kanban, me), None, "a folder");
    }

    #[test]
    fn slugs_are_checked_as_the_owner_checks_them() {
        for ok in [
            "default",
            "a",
            "Work",
            " ops-2 ",
            "x_y",
            &"a".repeat(64),
            "0abc",
        ] {
            assert!(slug(ok).is_ok(), "{ok}");
        }
        assert_eq!(slug(" Work ").unwrap(), "work");
        for bad in [
            "..",
            "a/b",
            "-x",
            "_x",
            &"a".repeat(65),
            "",
            "é",
            "a.b",
            "a b",
        ] {
            let e = slug(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
            assert!(e.detail.starts_with("invalid board slug '"), "{}", e.detail);
            assert!(
                e.detail.ends_with("not starting with '-' or '_'"),
                "{}",
                e.detail
            );
        }
    }
    #[test]
    fn board_resolution_order_and_message() {
        let none = |_: &str| None;
        assert_eq!(
            Boards::from_env(Some(Path::new("/a.db")), &none).at_start(),
            Ok(PathBuf::from("/a.db"))
        );
        let env_db = |k: &str| (k == "HERMES_KANBAN_DB").then(|| "/b.db".to_owned());
        assert_eq!(
            Boards::from_env(None, &env_db).at_start(),
            Ok(PathBuf::from("/b.db"))
        );
        let home = |k: &str| match k {
            "HERMES_KANBAN_HOME" => Some("/nonexistent-kanban-home".to_owned()),
            _ => None,
        };
        let err = Boards::from_env(None, &home).at_start().unwrap_err();
        assert!(
            err.contains("/nonexistent-kanban-home/kanban.db (does not exist)"),
            "{err}"
        );
        let user = |k: &str| (k == "HOME").then(|| "/nonexistent-home".to_owned());
        let err = Boards::from_env(None, &user).at_start().unwrap_err();
        assert!(
            err.contains("/nonexistent-home/.hermes/kanban.db (does not exist)"),
            "{err}"
        );
        assert!(
            err.contains("$HERMES_KANBAN_DB (not set)") && err.contains("kanban-workers demo"),
            "{err}"
        );
    }
}
