//! The processes of a tree, from procfs. Knows nothing of SQLite.
//!
//! A process's children are listed by the kernel in `/proc/<pid>/task/<tid>/children`, one
//! file per thread (a child belongs to the thread that forked it), so a tree is walked by
//! reading only its own members' files. Kernels built without `CONFIG_PROC_CHILDREN` have no
//! such files: then the parents of all processes are read in one pass over `/proc`, once per
//! walk, never once per member.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;

/// The most members one walk returns (a fork bomb must not make a query unbounded).
pub(crate) const MAX_MEMBERS: usize = 10_000;

/// One member of a tree: its pid, its parent's, and its depth below the root (root: 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub pid: i32,
    pub ppid: i32,
    pub depth: u32,
}

/// The members of the tree rooted at `root`, root first, then breadth first. Empty when
/// `root` does not exist. Processes that end during the walk may be listed or not; a pid is
/// listed once at most. Nothing of the root is read but its children lists (its `ppid` here is
/// 0: read its `stat` for the real one).
pub fn members(root: i32) -> Vec<Member> {
    if root < 1 {
        return Vec::new();
    }
    let mut by_scan: Option<HashMap<i32, Vec<i32>>> = None;
    let mut seen = HashSet::from([root]);
    let mut out = vec![Member {
        pid: root,
        ppid: 0,
        depth: 0,
    }];
    let mut queue = VecDeque::from([(root, 0u32)]);
    while let Some((pid, depth)) = queue.pop_front() {
        let children = match children_files(pid) {
            Children::Listed(children) => children,
            Children::Gone if pid == root => return Vec::new(),
            Children::Gone => Vec::new(),
            Children::Unlisted => by_scan
                .get_or_insert_with(children_by_scan)
                .get(&pid)
                .cloned()
                .unwrap_or_default(),
        };
        for child in children {
            if out.len() >= MAX_MEMBERS {
                return out;
            }
            if seen.insert(child) {
                out.push(Member {
                    pid: child,
                    ppid: pid,
                    depth: depth + 1,
                });
                queue.push_back((child, depth + 1));
            }
        }
    }
    out
}

/// What a process's `children` files say.
enum Children {
    Listed(Vec<i32>),
    /// No such process.
    Gone,
    /// The kernel has no `children` files (`CONFIG_PROC_CHILDREN` unset).
    Unlisted,
}

/// The children of `pid` from its threads' `children` files. Hand-written rather than the
/// `procfs` crate's `Process::tasks` + `Task::children`, which open each directory first and
/// cost 1.55x this on a walk (docs/design.md): this is the hot path of `live_workers`. The
/// `task/` folder is opened once and listed without the `fstat` std's `read_dir` adds, and each
/// thread's list is opened beneath it and read without std's `statx` (BENCHMARKS.md, issue 29).
/// A process of one thread (most workers: `sleep`, a shell) has its one list read without the
/// listing ([`only_thread`]): 4 system calls, not 7, for one without children (5, not 8, with).
/// A kernel without the lists pays a `statx` and a failed open for it, a member at a time.
fn children_files(pid: i32) -> Children {
    use rustix::fs::{Dir, Mode, OFlags, openat};
    if let Some(children) = only_thread(pid) {
        return Children::Listed(children);
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(fd) = openat(
        rustix::fs::CWD,
        format!("/proc/{pid}/task"),
        flags,
        Mode::empty(),
    ) else {
        return Children::Gone;
    };
    let Ok(mut dir) = Dir::new(fd) else {
        return Children::Gone;
    };
    let tids: Vec<i32> = dir
        .by_ref()
        .flatten()
        .filter_map(|e| e.file_name().to_str().ok()?.parse().ok())
        .collect();
    let Ok(at) = dir.fd() else {
        return Children::Gone;
    };
    let mut children = Vec::new();
    let mut any = false;
    let mut buf = Vec::new();
    for tid in tids {
        let list = openat(
            at,
            format!("{tid}/children"),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        );
        if let Ok(list) = list {
            if read_to_end(fs::File::from(list), &mut buf).is_ok() {
                any = true;
                children.extend(pids(&buf));
            }
        }
    }
    if any {
        Children::Listed(children)
    } else {
        Children::Unlisted
    }
}

/// The children of `pid` when it has one thread, from that thread's list: `None` when it has
/// more, or the list cannot be read (the listing then says why: gone, or no lists). The
/// kernel counts a process's threads in the links of its `task/` folder (2 + the threads,
/// a thread group leader that has ended among them while another thread runs), so 3 links
/// are the leader alone, whose list is `task/<pid>/children`. A thread started after the
/// count and its children are missed, as a child forked after the read would be.
fn only_thread(pid: i32) -> Option<Vec<i32>> {
    use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags, openat, statx};
    let task = format!("/proc/{pid}/task");
    let st = statx(rustix::fs::CWD, &task, AtFlags::empty(), StatxFlags::NLINK).ok()?;
    if st.stx_mask & StatxFlags::NLINK.bits() == 0 || st.stx_nlink != 3 {
        return None;
    }
    let list = openat(
        rustix::fs::CWD,
        format!("{task}/{pid}/children"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut buf = Vec::new();
    read_to_end(fs::File::from(list), &mut buf).ok()?;
    Some(pids(&buf).collect())
}

/// The pids of a `children` list (space-separated).
fn pids(list: &[u8]) -> impl Iterator<Item = i32> + '_ {
    list.split(u8::is_ascii_whitespace)
        .filter_map(|p| std::str::from_utf8(p).ok()?.parse::<i32>().ok())
}

/// The bytes of `file` into `buf` (cleared first), read until the end, without the `statx`
/// std's `read_to_end` spends sizing a file that /proc says is empty (a `children` list is a
/// record per child: a read may end early at a record's edge, so only an empty read is the end).
fn read_to_end(mut file: fs::File, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Read;
    buf.clear();
    let mut chunk = [0u8; 1024];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Every process's children, from one pass over `/proc` reading each `stat` (the `procfs`
/// crate's readers: this fallback is not the hot path, see docs/design.md).
fn children_by_scan() -> HashMap<i32, Vec<i32>> {
    let mut map: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(processes) = procfs::process::all_processes() else {
        return map;
    };
    // A process that ends during the pass is left out.
    for process in processes.flatten() {
        if let Ok(stat) = process.stat() {
            map.entry(stat.ppid).or_default().push(process.pid);
        }
    }
    for children in map.values_mut() {
        children.sort_unstable();
    }
    map
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_gone_root_has_no_members() {
        assert_eq!(members(0), vec![]);
        assert_eq!(members(-3), vec![]);
        assert_eq!(members(4_194_304), vec![]);
    }

    /// A shell of one thread with two children, ended with them (children first: the shell's
    /// `wait` reaps them, then it ends, and the test reaps it).
    struct Shell(std::process::Child);

    impl Shell {
        fn start() -> Shell {
            use std::io::BufRead;
            let mut child = std::process::Command::new("sh")
                .args(["-c", "sleep 100 & sleep 100 & echo ready; wait"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let out = child.stdout.take().unwrap();
            let shell = Shell(child);
            let mut line = String::new();
            std::io::BufReader::new(out).read_line(&mut line).unwrap();
            assert_eq!(line, "ready\n");
            shell
        }
    }

    impl Drop for Shell {
        fn drop(&mut self) {
            let pid = self.0.id() as i32;
            let list =
                std::fs::read(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
            for child in pids(&list) {
                let _ = rustix::process::kill_process(
                    rustix::process::Pid::from_raw(child).unwrap(),
                    rustix::process::Signal::KILL,
                );
            }
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_process_of_one_thread_has_its_children_read_without_the_listing() {
        let shell = Shell::start();
        let pid = shell.0.id() as i32;
        let mut by_list = only_thread(pid).expect("one thread: its own list");
        assert_eq!(by_list.len(), 2, "{by_list:?}");
        let Children::Listed(mut by_files) = children_files(pid) else {
            panic!("listed");
        };
        let mut by_scan = children_by_scan().remove(&pid).unwrap_or_default();
        by_list.sort_unstable();
        by_files.sort_unstable();
        by_scan.sort_unstable();
        assert_eq!(by_list, by_files);
        assert_eq!(by_list, by_scan);
        // The tests' own process has many threads: read by the listing.
        assert_eq!(only_thread(std::process::id() as i32), None);
        assert_eq!(only_thread(4_194_304), None, "no such process");
    }

    #[test]
    fn the_scan_and_the_children_files_agree_on_our_own_children() {
        let kids: Vec<crate::proc::Ended> = (0..3)
            .map(|_| {
                crate::proc::Ended(
                    std::process::Command::new("sleep")
                        .arg("100")
                        .spawn()
                        .unwrap(),
                )
            })
            .collect();
        let me = std::process::id() as i32;
        let Children::Listed(mut by_files) = children_files(me) else {
            panic!("this kernel lists children");
        };
        let mut by_scan = children_by_scan().remove(&me).unwrap_or_default();
        by_files.sort_unstable();
        by_scan.sort_unstable();
        for kid in &kids {
            let pid = kid.pid();
            assert!(by_files.contains(&pid) && by_scan.contains(&pid), "{pid}");
        }
    }
}
