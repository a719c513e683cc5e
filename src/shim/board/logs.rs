//! Worker logs: where a board's are (the owner's `worker_logs_dir`), and opening one safely.
//!
//! The owner writes each task's worker output to `<board root>/logs/<task_id>.log`, the board
//! root being `<root>/kanban/` for `default` and `<root>/kanban/boards/<slug>/` for others
//! (`$HERMES_KANBAN_DB` pins the board file, not the logs: they stay where the slug puts
//! them). A file named by `--db` is laid out as the owner lays out a root: `<dir>/kanban.db`
//! has its logs in `<dir>/kanban/logs/`, and `<x>/kanban/boards/<slug>/kanban.db` in
//! `<x>/kanban/boards/<slug>/logs/`.
//!
//! Logs can hold secrets, and the shim may run as root: a log is shown only when the board's
//! owner could read it alone. The owner is the uid that was checked when the board was
//! resolved (`board::resolve`), carried here, never read again from a path. The logs folder is
//! found beneath a folder resolved once (the kanban root; for `--db`, the board file's real
//! folder), walked component by component without following a link, each folder on the way
//! owned by the board's owner (`shim::beneath`); each log is opened from that folder's
//! descriptor without following a link, non-blocking, and kept only when it is a regular file
//! of the board's owner. Anything else is answered as a missing log.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::shim::beneath::Dir;

/// A board's logs folder, and whose logs may be shown from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsDir {
    /// The folder as the owner names it (its `path` key is built from this).
    pub shown: PathBuf,
    /// The folder it is found beneath: a real path, resolved once (`None`: nothing is shown).
    pub anchor: Option<PathBuf>,
    /// The logs folder beneath `anchor` (plain names only).
    pub rel: PathBuf,
    /// The board's owner, as checked (`None`: nothing is shown).
    pub owner: Option<u32>,
}

/// The board root of a file the operator named: `<x>/kanban/boards/<slug>` when the file is
/// `<x>/kanban/boards/<slug>/kanban.db`, else `<dir>/kanban` for `<dir>/<file>`.
pub(crate) fn named_board_root(board: &Path) -> PathBuf {
    let dir = match board.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if in_boards(&dir) {
        dir
    } else {
        dir.join("kanban")
    }
}

/// The logs folder of a file the operator named, relative to the file's folder: `logs` for
/// `<x>/kanban/boards/<slug>/kanban.db`, else `kanban/logs`.
pub(crate) fn named_logs_rel(board: &Path) -> PathBuf {
    match board.parent() {
        Some(dir) if in_boards(dir) => PathBuf::from("logs"),
        _ => PathBuf::from("kanban/logs"),
    }
}

/// `dir` is `<x>/kanban/boards/<slug>`.
fn in_boards(dir: &Path) -> bool {
    let boards = dir.parent();
    let kanban = boards.and_then(Path::parent);
    boards
        .and_then(Path::file_name)
        .is_some_and(|n| n == "boards")
        && kanban
            .and_then(Path::file_name)
            .is_some_and(|n| n == "kanban")
}

/// The file name of a task's log: `None` for a task id no file in the folder can have (a `/`
/// or a NUL in it), which is then answered as missing.
pub fn file_name(task_id: &str) -> Option<String> {
    (!task_id.is_empty() && !task_id.contains(['/', '\0'])).then(|| format!("{task_id}.log"))
}

impl LogsDir {
    /// A logs folder of which nothing is shown (no kanban root).
    pub fn none(shown: PathBuf) -> LogsDir {
        LogsDir {
            shown,
            anchor: None,
            rel: PathBuf::new(),
            owner: None,
        }
    }

    /// The log's path as the owner answers it (`str(worker_log_path(...))`).
    pub(crate) fn path_of(&self, task_id: &str) -> PathBuf {
        self.shown.join(format!("{task_id}.log"))
    }

    /// The folder, opened beneath its anchor without following a link, every folder beneath
    /// the anchor the board owner's. `None` otherwise (missing, or refused: the same answer).
    pub fn open(&self) -> Option<Dir> {
        let owner = self.owner?;
        let anchor = Dir::open_resolved(self.anchor.as_ref()?).ok()?;
        anchor.dir(&self.rel, Some(owner)).ok()
    }

    /// `name` in the opened folder `dir`, when it is a regular file of the board's owner.
    pub(crate) fn open_log(&self, dir: &Dir, name: &str) -> Option<File> {
        dir.file(name, self.owner?).ok()
    }
}

/// The identity (device, inode) of an open file.
pub(crate) fn id_of(file: &File) -> Option<(u64, u64)> {
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

/// The owner's tail of a log: the last `tail` bytes when the file is larger, the partial first
/// line dropped (everything up to and including the window's first newline) unless the window
/// holds no newline; the whole file otherwise. Read to the end of the file as it is then, at
/// most `limit` bytes (an error past it). Returns the bytes and the size then.
pub(crate) fn read_tail(
    file: &File,
    tail: Option<u64>,
    limit: u64,
) -> std::io::Result<(Vec<u8>, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let size = file.metadata()?.len();
    let start = match tail {
        Some(t) if size > t => size - t,
        _ => 0,
    };
    let mut reader = file;
    reader.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    reader.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other("over the limit"));
    }
    if start > 0 {
        if let Some(newline) = bytes.iter().position(|&b| b == b'\n') {
            bytes.drain(..=newline);
        }
    }
    Ok((bytes, size))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_named_file_is_laid_out_as_a_root() {
        assert_eq!(
            named_board_root(Path::new("/srv/h/kanban.db")),
            PathBuf::from("/srv/h/kanban")
        );
        assert_eq!(
            named_board_root(Path::new("/srv/h/kanban/boards/ops/kanban.db")),
            PathBuf::from("/srv/h/kanban/boards/ops")
        );
        assert_eq!(
            named_board_root(Path::new("board.db")),
            PathBuf::from("./kanban")
        );
    }

    #[test]
    fn names_with_a_slash_or_nul_have_no_file() {
        assert_eq!(file_name("t_1").as_deref(), Some("t_1.log"));
        assert_eq!(file_name("../x"), None);
        assert_eq!(file_name("a\0b"), None);
        assert_eq!(file_name(""), None);
        assert_eq!(file_name("..").as_deref(), Some("...log"));
    }

    #[test]
    fn the_tail_drops_the_partial_first_line_unless_it_is_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        let tail = |content: &[u8], t: Option<u64>| {
            std::fs::write(&path, content).unwrap();
            let f = File::open(&path).unwrap();
            String::from_utf8(read_tail(&f, t, 1 << 20).unwrap().0).unwrap()
        };
        assert_eq!(tail(b"one\ntwo\nthree\n", None), "one\ntwo\nthree\n");
        assert_eq!(tail(b"one\ntwo\nthree\n", Some(100)), "one\ntwo\nthree\n");
        assert_eq!(tail(b"one\ntwo\nthree\n", Some(8)), "three\n");
        // The window starts at a line's start: that line is dropped too, as the owner does.
        assert_eq!(tail(b"one\ntwo\nthree\n", Some(10)), "three\n");
        assert_eq!(tail(b"abcdefgh", Some(3)), "fgh");
        assert_eq!(tail(b"abc\ndefgh", Some(6)), "defgh");
        assert_eq!(tail(b"abcdef\n", Some(3)), "");
        let f = File::open(&path).unwrap();
        assert!(read_tail(&f, None, 2).is_err());
    }
}
