//! Who may be signalled (SECURITY.md): only processes whose real uid owns the board file;
//! never the shim, its ancestors, a process in the shim's session or process group, pid 1 of
//! any pid namespace, or a kernel thread. Knows nothing of SQL or HTTP; `signal` applies it to
//! each member before each signal.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::proc::marks::{self, Marks, WantMarks};

/// Who may be signalled: the board owner's processes, and nothing of the shim's own.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The uid that owns the board file.
    pub owner_uid: u32,
    /// The shim's pid, then its ancestors.
    lineage: Vec<i32>,
    session: i32,
    pgrp: i32,
}

impl Policy {
    /// The rules for the board at `board`, for this process. Its owner is the one the board
    /// was checked against when it was resolved (`checked`), and the file there must still be
    /// that owner's regular file, not followed: a link there, or in its folders (whoever
    /// writes the board may swap one in at any moment, to a file of root's), is refused, as
    /// is anything but a regular file.
    pub fn for_board(board: &Path, checked: Option<u32>) -> std::io::Result<Policy> {
        let meta = std::fs::symlink_metadata(board)?;
        if !meta.file_type().is_file() {
            return Err(std::io::Error::other(format!(
                "{} is not a regular file (a link, or something else, was put in its place)",
                board.display()
            )));
        }
        if checked.is_some_and(|uid| uid != meta.uid()) {
            return Err(std::io::Error::other(format!(
                "{} is no longer the file of the board's owner (something was put in its place)",
                board.display()
            )));
        }
        let owner_uid = checked.unwrap_or(meta.uid());
        let me = i32::try_from(std::process::id()).unwrap_or(0);
        let mut lineage = vec![me];
        let mut at = me;
        // Up to pid 1 (or the namespace's root, whose parent is 0).
        while let Some(m) = marks::read(at, WantMarks::default()) {
            if m.ppid < 1 || lineage.contains(&m.ppid) {
                break;
            }
            lineage.push(m.ppid);
            at = m.ppid;
        }
        let own = marks::read(me, WantMarks::default());
        Ok(Policy {
            owner_uid,
            lineage,
            session: own.as_ref().map_or(0, |m| m.session),
            pgrp: own.as_ref().map_or(0, |m| m.pgrp),
        })
    }

    /// Why `m` must not be signalled, or `None` when it may be. `m` must have been read with
    /// `status`.
    pub fn refusal(&self, m: &Marks) -> Option<String> {
        if m.kernel_thread {
            return Some("a kernel thread".into());
        }
        if m.namespace_init != Some(false) {
            return Some(match m.namespace_init {
                Some(true) => "pid 1 of a pid namespace (an init)".into(),
                _ => "not known not to be a namespace's init (its status is unreadable)".into(),
            });
        }
        if self.lineage.first() == Some(&m.pid) {
            return Some("the shim itself".into());
        }
        if self.lineage.contains(&m.pid) {
            return Some("an ancestor of the shim".into());
        }
        if m.session == self.session {
            return Some("in the shim's own session".into());
        }
        if m.pgrp == self.pgrp {
            return Some("in the shim's own process group".into());
        }
        match m.ruid {
            Some(uid) if uid == self.owner_uid => None,
            Some(uid) => Some(format!(
                "real uid {uid}, not the board owner's ({})",
                self.owner_uid
            )),
            None => Some("its real uid could not be read".into()),
        }
    }
}
