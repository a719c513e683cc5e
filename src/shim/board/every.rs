//! Every board of the kanban root, for `?board=*` (issue 39 §2): what the owner's
//! `list_boards(include_archived=False)` lists, each found and checked as a request naming it
//! is ([`Boards::resolve`]: the slug rule, the folder and the file inside the root and of the
//! root's owner), then looked at beneath checked descriptors (`shim::beneath`), never by name
//! again:
//!
//! - `default` first (it always exists), then each folder of `<root>/kanban/boards/` whose
//!   name is a slug as it stands (the owner's rule; `_archived`, where the owner moves an
//!   archived board, is none), in the order of their names; at most [`MAX_ENTRIES`] entries
//!   of that folder are looked at.
//! - A folder without a `kanban.db` (a regular file of the board's owner) has no workers and
//!   is left out; so is an archived board: its `board.json` (read beneath the board's folder,
//!   a regular file of the owner, at most [`BOARD_JSON_MAX_BYTES`]) says `"archived"` with a
//!   value Python takes as true (the owner's tombstone, hermes-agent 0.20+).
//! - A board reached twice (a folder or a file that is a link to another board's, inside the
//!   root) is one file: counted once, under the first slug that reached it (device and inode
//!   of the file, read beneath its folder's descriptor).
//! - At most [`MAX_BOARDS`] boards (the shim keeps as many open at once); the others are
//!   counted in `left_out`.
//! - `--db` serves one file: it alone. `$HERMES_KANBAN_DB` pins every board to one file: it
//!   alone, as `default`.

use std::path::{Path, PathBuf};

use crate::shim::ApiError;
use crate::shim::beneath::Dir;
use crate::shim::board::resolve::{Boards, slug};

/// The most boards one answer reads: the pools kept open at once, so that a viewer of every
/// board keeps each one's samples and history.
pub const MAX_BOARDS: usize = crate::shim::board::pool::MAX_OPEN_BOARDS;
/// The most entries of `<root>/kanban/boards/` looked at (a board's writer may fill it).
pub const MAX_ENTRIES: usize = 4096;
/// The most of a `board.json` read; a larger one is read as not archived.
pub const BOARD_JSON_MAX_BYTES: u64 = 64 * 1024;

/// One board of the root: its slug, and its file and owner as [`Boards::resolve`] gives them
/// (or why the default board cannot be read: it is listed all the same, as the owner lists
/// it).
#[derive(Debug)]
pub struct Found {
    pub slug: String,
    pub at: Result<(PathBuf, Option<u32>), ApiError>,
}

/// The boards found, and how many more there were past [`MAX_BOARDS`].
#[derive(Debug, Default)]
pub struct Every {
    pub boards: Vec<Found>,
    pub left_out: usize,
}

impl Boards {
    /// Every board of the root (see the module's notes).
    pub fn every(&self) -> Every {
        let mut slugs = vec!["default".to_owned()];
        if self.only.is_none() {
            slugs.extend(self.listed());
        }
        let mut every = Every::default();
        let mut seen: Vec<(u64, u64)> = Vec::new();
        for slug in slugs {
            let at = self.resolve(Some(&slug));
            let found = match &at {
                Ok((path, owner)) => board_file(path, *owner),
                Err(_) => None,
            };
            match found {
                Some((id, _)) if seen.contains(&id) => continue,
                Some((_, dir)) if slug != "default" && archived(&dir, at_owner(&at)) => continue,
                Some((id, _)) => seen.push(id),
                // A named board with no file is no board; the default is listed with why.
                None if slug != "default" => continue,
                None => {}
            }
            if every.boards.len() == MAX_BOARDS {
                every.left_out += 1;
                continue;
            }
            every.boards.push(Found { slug, at });
        }
        every
    }

    /// The slugs of the folders of `<root>/kanban/boards/` (not `default`), sorted: a folder
    /// walked from the real root without following a link, of the root's owner.
    fn listed(&self) -> Vec<String> {
        let Some((root, owner)) = self.root_real() else {
            return Vec::new();
        };
        let boards =
            Dir::open_resolved(root).and_then(|r| r.dir(Path::new("kanban/boards"), Some(owner)));
        let mut slugs: Vec<String> = match boards {
            Ok(dir) => names(&dir)
                .into_iter()
                .filter(|n| n != "default" && slug(n).is_ok_and(|s| &s == n))
                .collect(),
            Err(_) => Vec::new(),
        };
        slugs.sort();
        slugs.dedup();
        slugs
    }
}

fn at_owner(at: &Result<(PathBuf, Option<u32>), ApiError>) -> Option<u32> {
    at.as_ref().ok().and_then(|(_, owner)| *owner)
}

/// The names (UTF-8 ones) of the first [`MAX_ENTRIES`] entries of `dir`, read from its
/// descriptor.
fn names(dir: &Dir) -> Vec<String> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(fd) = rustix::fs::openat(dir.fd(), ".", flags, Mode::empty()) else {
        return Vec::new();
    };
    let Ok(entries) = rustix::fs::Dir::new(fd) else {
        return Vec::new();
    };
    entries
        .take(MAX_ENTRIES + 2)
        .filter_map(Result::ok)
        .filter_map(|e| {
            std::str::from_utf8(e.file_name().to_bytes())
                .ok()
                .map(str::to_owned)
        })
        .filter(|n| n != "." && n != "..")
        .take(MAX_ENTRIES)
        .collect()
}

/// The identity (device, inode) of the board file at `path` (a real path, as resolved) and
/// its folder, opened from `/` without following a link: `None` unless the file is a regular
/// file (not a link) of `owner` when one was checked.
fn board_file(path: &Path, owner: Option<u32>) -> Option<((u64, u64), Dir)> {
    let name = path.file_name()?.to_str()?;
    let dir = Dir::open_resolved(path.parent()?).ok()?;
    let st = dir.stat_at(name).ok()??;
    let regular =
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile;
    let owned = owner.is_none_or(|o| st.st_uid == o);
    (regular && owned).then_some(((st.st_dev, st.st_ino), dir))
}

/// Whether the board in `dir` is archived: its `board.json` (a regular file of `owner`, not a
/// link, at most [`BOARD_JSON_MAX_BYTES`]) holds an object whose `archived` Python takes as
/// true (a UTF-8 byte order mark first is read as the owner reads it). Anything else is not.
fn archived(dir: &Dir, owner: Option<u32>) -> bool {
    use std::io::Read as _;
    let Some(owner) = owner else {
        return false;
    };
    let Ok(file) = dir.file("board.json", owner) else {
        return false;
    };
    let mut text = Vec::new();
    if file
        .take(BOARD_JSON_MAX_BYTES + 1)
        .read_to_end(&mut text)
        .is_err()
        || text.len() as u64 > BOARD_JSON_MAX_BYTES
    {
        return false;
    }
    let text = text.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&text);
    match serde_json::from_slice::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(meta)) => meta.get("archived").is_some_and(truthy),
        _ => false,
    }
}

/// A JSON value as Python's `bool()` takes it.
fn truthy(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root_with(boards: &[&str]) -> (tempfile::TempDir, PathBuf, Boards) {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        std::fs::write(root.join("kanban.db"), b"").unwrap();
        for b in boards {
            let dir = root.join("kanban/boards").join(b);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("kanban.db"), b"").unwrap();
        }
        let env_root = root.clone();
        let env =
            move |k: &str| (k == "HERMES_KANBAN_HOME").then(|| env_root.display().to_string());
        let boards = Boards::from_env(None, &env);
        (t, root, boards)
    }

    fn slugs(every: &Every) -> Vec<&str> {
        every.boards.iter().map(|f| f.slug.as_str()).collect()
    }

    #[test]
    fn every_board_once_archived_and_junk_left_out() {
        let (_t, root, boards) = root_with(&["ops", "dev", "gone", "_archived", "Caps"]);
        let b = root.join("kanban/boards");
        // A link to another board's folder, and a board's file linked to the default's.
        symlink(b.join("ops"), b.join("ops-link")).unwrap();
        std::fs::create_dir(b.join("twin")).unwrap();
        symlink(root.join("kanban.db"), b.join("twin/kanban.db")).unwrap();
        // Archived (the owner's tombstone), a board without its file, a plain file.
        std::fs::write(b.join("gone/board.json"), "\u{feff}{\"archived\": 1}").unwrap();
        std::fs::create_dir(b.join("empty")).unwrap();
        std::fs::write(b.join("file"), b"").unwrap();
        std::fs::write(b.join("dev/board.json"), "{\"archived\": \"\"}").unwrap();
        let every = boards.every();
        assert_eq!(slugs(&every), ["default", "dev", "ops"]);
        assert_eq!(every.left_out, 0);
        assert!(every.boards.iter().all(|f| f.at.is_ok()));
    }

    #[test]
    fn at_most_max_boards_the_rest_counted() {
        let names: Vec<String> = (0..MAX_BOARDS + 3).map(|i| format!("b{i:02}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (_t, _root, boards) = root_with(&refs);
        let every = boards.every();
        assert_eq!(every.boards.len(), MAX_BOARDS);
        assert_eq!(every.left_out, 4);
        assert_eq!(every.boards[1].slug, "b00");
    }

    #[test]
    fn python_truth() {
        for (v, t) in [
            ("true", true),
            ("false", false),
            ("null", false),
            ("0", false),
            ("0.0", false),
            ("2", true),
            ("\"\"", false),
            ("\"no\"", true),
            ("[]", false),
            ("{}", false),
            ("[0]", true),
        ] {
            assert_eq!(truthy(&serde_json::from_str(v).unwrap()), t, "{v}");
        }
    }
}
