//! Where the cgroup v2 hierarchy is mounted, from `/proc/self/mountinfo` (the line whose
//! filesystem type is `cgroup2`): `/sys/fs/cgroup` on a unified host, `/sys/fs/cgroup/unified`
//! on a hybrid one, anywhere in a container. Never assumed. Found once per process and kept
//! ([`v2`]); `find_v2` is the parser, for any mountinfo text.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use super::{Error, Result};

const MOUNTINFO: &str = "/proc/self/mountinfo";
/// The most of mountinfo read (a host with thousands of mounts has a few hundred KiB).
const MAX_MOUNTINFO: u64 = 16 << 20;

/// A cgroup v2 mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Its mount point.
    pub point: PathBuf,
    /// The part of the hierarchy it shows (mountinfo's 4th field): `/` but for a bind mount of
    /// a sub-cgroup (a container given its own part without a cgroup namespace).
    pub root: String,
}

impl Mount {
    /// A cgroup's path as `/proc/<pid>/cgroup` gives it (from the hierarchy's root as this
    /// process sees it), as a path below this mount's point (`/` for the mount's root); `None`
    /// when the cgroup is not in the part of the hierarchy this mount shows.
    pub fn beneath<'a>(&self, cgroup: &'a str) -> Option<&'a str> {
        if self.root == "/" {
            return Some(cgroup);
        }
        let rest = cgroup.strip_prefix(self.root.trim_end_matches('/'))?;
        match rest {
            "" => Some("/"),
            _ if rest.starts_with('/') => Some(rest),
            _ => None,
        }
    }

    /// The path of `cgroup` (a path below the mount, `/...`) as a file name, for messages.
    pub fn shown(&self, below: &str) -> String {
        let point = self.point.display().to_string();
        match below.trim_start_matches('/') {
            "" => point,
            rest => format!("{}/{rest}", point.trim_end_matches('/')),
        }
    }
}

/// The cgroup v2 mount of this process's mount namespace, found once (a mount made later is
/// seen by a process that found none before; a hierarchy moved after is not). `Ok(None)`
/// where no cgroup v2 hierarchy is mounted (a v1-only host).
pub fn v2() -> Result<Option<&'static Mount>> {
    static FOUND: OnceLock<Mount> = OnceLock::new();
    if let Some(m) = FOUND.get() {
        return Ok(Some(m));
    }
    let mut text = Vec::new();
    std::fs::File::open(MOUNTINFO)
        .and_then(|f| f.take(MAX_MOUNTINFO).read_to_end(&mut text))
        .map_err(|e| Error::io(MOUNTINFO, e))?;
    Ok(find_v2(&text).map(|m| FOUND.get_or_init(|| m)))
}

/// The cgroup v2 mount in mountinfo `text`: the first whose root is `/` (the whole hierarchy
/// as this process sees it), else the first.
pub(crate) fn find_v2(text: &[u8]) -> Option<Mount> {
    let mut first = None;
    for line in text.split(|b| *b == b'\n') {
        let Some(m) = parse_line(line) else { continue };
        if m.root == "/" {
            return Some(m);
        }
        first.get_or_insert(m);
    }
    first
}

/// One mountinfo line, when it is a cgroup2 mount: `36 25 0:30 / /sys/fs/cgroup rw,nosuid
/// shared:9 - cgroup2 cgroup2 rw,nsdelegate`. Optional fields (`shared:9`) end at `-`.
fn parse_line(line: &[u8]) -> Option<Mount> {
    let fields: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
    let dash = fields.iter().skip(6).position(|f| *f == b"-")? + 6;
    if fields.get(dash + 1).copied() != Some(b"cgroup2".as_slice()) {
        return None;
    }
    let root = String::from_utf8(unescape(fields.get(3)?)).ok()?;
    let point = PathBuf::from(OsString::from_vec(unescape(fields.get(4)?)));
    Some(Mount { point, root })
}

/// mountinfo's escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash) undone.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field.get(i + 1..i + 4).and_then(|d| {
            d.iter()
                .all(|c| (b'0'..=b'7').contains(c))
                .then(|| d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0')))
        });
        match octal {
            Some(n) if field[i] == b'\\' && n <= 0xff => {
                out.push(n as u8);
                i += 4;
            }
            _ => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn finds_the_v2_mount_of_a_hybrid_host_and_of_a_unified_one() {
        let m = find_v2(HYBRID.as_bytes()).unwrap();
        assert_eq!(m.point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(m.root, "/");
        let unified = "30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 \
                       master:1 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
        assert_eq!(
            find_v2(unified.as_bytes()).unwrap().point,
            PathBuf::from("/sys/fs/cgroup")
        );
        // v1 only: none. A `-` among the optional fields' look-alikes is not the separator.
        assert_eq!(
            find_v2(b"32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"),
            None
        );
        assert_eq!(find_v2(b"garbage\n\n- cgroup2\n"), None);
    }

    #[test]
    fn a_bind_mount_of_a_sub_cgroup_maps_paths_below_its_root() {
        let text = "\
50 1 0:38 /docker/abc /mnt/cg\\040x rw - cgroup2 cgroup2 rw
51 1 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
";
        // The whole hierarchy is preferred.
        assert_eq!(find_v2(text.as_bytes()).unwrap().root, "/");
        let sub = find_v2(text.lines().next().unwrap().as_bytes()).unwrap();
        assert_eq!(sub.point, PathBuf::from("/mnt/cg x"));
        assert_eq!(sub.beneath("/docker/abc/w.scope"), Some("/w.scope"));
        assert_eq!(sub.beneath("/docker/abc"), Some("/"));
        assert_eq!(sub.beneath("/docker/abcd/w.scope"), None);
        assert_eq!(sub.beneath("/other"), None);
        assert_eq!(sub.shown("/w.scope"), "/mnt/cg x/w.scope");
        assert_eq!(sub.shown("/"), "/mnt/cg x");
    }

    #[test]
    fn escapes_are_undone() {
        assert_eq!(unescape(b"a\\040b\\134c\\012"), b"a b\\c\n");
        assert_eq!(unescape(b"\\04"), b"\\04");
        assert_eq!(unescape(b"\\999"), b"\\999");
    }

    #[test]
    fn this_hosts_mount_is_found() {
        let mountinfo = std::fs::read("/proc/self/mountinfo").unwrap();
        assert_eq!(v2().unwrap().cloned(), find_v2(&mountinfo));
    }
}
