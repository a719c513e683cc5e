//! What the shim checks of a board file before SQLite opens it. Knows nothing of SQL.
//!
//! - The file is opened here first, non-blocking, and what was opened is checked: it must be a
//!   regular file. SQLite's own open of a FIFO put in the board's place would block a thread
//!   until a writer came (forever); this open returns at once, and a swap between this check
//!   and SQLite's open is caught by the request deadline (see `http::state::on_reader`).
//! - A board in WAL mode is read through its `-wal` and `-shm` files. When they do not exist,
//!   SQLite creates them, owned by whoever opens the board. Created by another user than the
//!   board's owner (another account, or root), they lock the owner out of writing ("attempt to
//!   write a readonly database") and outlive the shim. So the shim reads such a board only
//!   as its owner, or while both files exist (SQLite's documented read-only WAL access: a reader
//!   that cannot write them uses them as they are, and never deletes them).

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What a missing board file is said to be; a board refused for leaving its owner's reach
/// (`boards`) is said to be the same.
pub const DOES_NOT_EXIST: &str = "does not exist";

/// The identity of a board file: (device, inode).
pub type FileId = (u64, u64);

/// Why a board cannot be read now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// The identity of the file at `path`, by `stat` (cheap: for matching pooled connections).
pub fn id_of(path: &Path) -> Result<FileId, Unreadable> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok((m.dev(), m.ino())),
        Ok(_) => Err(not_regular()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Unreadable(DOES_NOT_EXIST.to_owned()))
        }
        Err(e) => Err(Unreadable(format!("cannot be read: {e}"))),
    }
}

/// Check the file SQLite is about to open (see the module's notes), owned by `owner` when
/// given (the uid the board was checked against); its identity.
///
/// Closing any descriptor of a file releases every POSIX lock this process holds on it,
/// SQLite's included. So the file is opened here with `O_PATH`, whose close releases nothing,
/// to see what it is; its header (is it WAL?) is read through a real descriptor only when
/// `unlocked` says no connection of this process has the board open, and only when that
/// header matters (the board is another user's and a side file is missing). While a
/// connection of ours is open, the side files exist anyway: it holds them.
pub fn check_before_open(
    path: &Path,
    unlocked: bool,
    owner: Option<u32>,
) -> Result<FileId, Unreadable> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::PATH.bits() as i32)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Unreadable(DOES_NOT_EXIST.to_owned()),
            _ => Unreadable(format!("cannot be opened: {e}")),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Unreadable(format!("cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    // Another uid's file where the board's checked owner had one: answered as missing (a
    // link swapped into the path's folders since the board was resolved).
    if owner.is_some_and(|o| o != meta.uid()) {
        return Err(Unreadable(DOES_NOT_EXIST.to_owned()));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && unlocked {
        let missing: Vec<String> = ["-wal", "-shm"]
            .iter()
            .map(|suffix| side_file(path, suffix))
            .filter(|side| !side.exists())
            .map(|side| side.display().to_string())
            .collect();
        if !missing.is_empty() && is_wal(path) {
            return Err(Unreadable(format!(
                "is in WAL mode and {} does not exist (the owner does not have the board \
                 open): reading it as uid {me} would create it owned by uid {me}, and the \
                 board's owner (uid {owner}) could no longer write to the board. Run \
                 kanban-workers as uid {owner}, or while the owner has the board open",
                missing.join(" and "),
                owner = meta.uid()
            )));
        }
    }
    Ok((meta.dev(), meta.ino()))
}

fn not_regular() -> Unreadable {
    Unreadable("is not a regular file".to_owned())
}

/// `<board>-wal`, `<board>-shm`: SQLite's names for the side files.
pub fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The database header says WAL: bytes 18 and 19 (file format write and read versions) are 2.
/// Opened without blocking (a FIFO swapped in meanwhile reads as not WAL).
fn is_wal(path: &Path) -> bool {
    let mut header = [0u8; 20];
    OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok()
        && header[18] == 2
        && header[19] == 2
}

/// Wake readers stuck opening a FIFO put in place of the board or one of its side files: open
/// each such FIFO for writing, without blocking, and close it at once. Their `open` then
/// returns, they read an empty file, and their query fails cleanly. Regular files are left
/// alone.
pub fn release_fifo_readers(path: &Path) {
    use std::os::unix::fs::FileTypeExt;
    for candidate in [
        path.to_path_buf(),
        side_file(path, "-wal"),
        side_file(path, "-shm"),
        side_file(path, "-journal"),
    ] {
        let is_fifo = std::fs::symlink_metadata(&candidate).is_ok_and(|m| m.file_type().is_fifo());
        if is_fifo {
            let _ = OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(&candidate);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn fifo(tag: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("kw-fifo-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kanban.db");
        let ok = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        (dir, path)
    }

    #[test]
    fn a_fifo_in_the_boards_place_is_refused_without_blocking() {
        let (dir, path) = fifo("refuse");
        assert_eq!(check_before_open(&path, true, None), Err(not_regular()));
        assert_eq!(id_of(&path), Err(not_regular()));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_reader_stuck_opening_a_fifo_is_released() {
        let (dir, path) = fifo("release");
        let reader_path = path.clone();
        // What SQLite's open does: a blocking open for reading, which waits for a writer.
        let reader = std::thread::spawn(move || std::fs::File::open(&reader_path).map(|_| ()));
        // Until the reader waits in open(), releasing finds no reader and does nothing.
        while !reader.is_finished() {
            release_fifo_readers(&path);
            std::thread::yield_now();
        }
        assert!(reader.join().unwrap().is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
