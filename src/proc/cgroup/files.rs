//! The parsers of the cgroup v2 files read here, on the formats the kernel documents
//! (Documentation/admin-guide/cgroup-v2.rst, "Interface Files" and "Format"; PSI in
//! Documentation/accounting/psi.rst). Each takes the file's bytes and gives its values, or
//! what is wrong with them (the caller names the file). Keys the kernel adds later are
//! ignored; a value that is not a number is an error, never a zero.

use std::str::FromStr;

type Parsed<T> = std::result::Result<T, String>;

/// `cgroup.procs`: one pid a line ("newline separated", unordered, possibly repeated after a
/// process moved out and back in while being read).
pub fn procs(text: &[u8]) -> Parsed<Vec<i32>> {
    let text = utf8(text)?;
    let mut pids = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let pid: i32 = number(line.trim())?;
        if pid < 1 {
            return Err(format!("pid {pid}"));
        }
        if !pids.contains(&pid) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// A flat keyed file (`cgroup.events`, `cpu.stat`, `memory.events`): `<key> <value>` lines.
pub fn keyed(text: &[u8]) -> Parsed<Vec<(&str, u64)>> {
    let text = utf8(text)?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (key, value) = line
                .split_once(' ')
                .ok_or_else(|| format!("line {line:?} has no value"))?;
            Ok((key, number(value.trim())?))
        })
        .collect()
}

/// The value of `key` in a flat keyed file's pairs.
fn get(pairs: &[(&str, u64)], key: &str) -> Option<u64> {
    pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// `cgroup.events`: whether the cgroup or a sub-cgroup has live processes, and whether it is
/// frozen (kernel 5.2 on; `None` before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Events {
    pub populated: bool,
    pub frozen: Option<bool>,
}

pub fn events(text: &[u8]) -> Parsed<Events> {
    let pairs = keyed(text)?;
    let populated = get(&pairs, "populated").ok_or("no populated")?;
    Ok(Events {
        populated: populated != 0,
        frozen: get(&pairs, "frozen").map(|f| f != 0),
    })
}

/// `cpu.stat`: the three usage keys are always there (without the cpu controller too); the
/// throttling ones only with the cpu controller enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuStat {
    pub usage_usec: u64,
    pub user_usec: u64,
    pub system_usec: u64,
    pub nr_periods: Option<u64>,
    pub nr_throttled: Option<u64>,
    pub throttled_usec: Option<u64>,
}

pub fn cpu_stat(text: &[u8]) -> Parsed<CpuStat> {
    let pairs = keyed(text)?;
    let need = |key: &str| get(&pairs, key).ok_or_else(|| format!("no {key}"));
    Ok(CpuStat {
        usage_usec: need("usage_usec")?,
        user_usec: need("user_usec")?,
        system_usec: need("system_usec")?,
        nr_periods: get(&pairs, "nr_periods"),
        nr_throttled: get(&pairs, "nr_throttled"),
        throttled_usec: get(&pairs, "throttled_usec"),
    })
}

/// One line of a pressure file: the share of time (percent) some (or all, `full`) of the
/// cgroup's tasks stalled, averaged over 10, 60 and 300 seconds, and the total stall time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stall {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    /// Microseconds.
    pub total_us: u64,
}

/// `cpu.pressure`, `memory.pressure`, `io.pressure`: a `some` line and a `full` one (`full`
/// is missing from `cpu.pressure` before kernel 5.13).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pressure {
    pub some: Stall,
    pub full: Option<Stall>,
}

pub fn pressure(text: &[u8]) -> Parsed<Pressure> {
    let text = utf8(text)?;
    let (mut some, mut full) = (None, None);
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (kind, rest) = line
            .split_once(' ')
            .ok_or_else(|| format!("line {line:?}"))?;
        let stall = stall(rest)?;
        match kind {
            "some" => some = Some(stall),
            "full" => full = Some(stall),
            _ => {}
        }
    }
    Ok(Pressure {
        some: some.ok_or("no some line")?,
        full,
    })
}

/// `avg10=0.00 avg60=0.00 avg300=0.00 total=0`.
fn stall(text: &str) -> Parsed<Stall> {
    let mut values = [None; 4];
    for pair in text.split_whitespace() {
        let (key, value) = pair.split_once('=').ok_or_else(|| format!("{pair:?}"))?;
        let at = match key {
            "avg10" => 0,
            "avg60" => 1,
            "avg300" => 2,
            "total" => 3,
            _ => continue,
        };
        values[at] = Some(value);
    }
    let avg = |i: usize| -> Parsed<f64> {
        let v: f64 = number(values[i].ok_or("an average is missing")?)?;
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(format!("average {v}"))
        }
    };
    Ok(Stall {
        avg10: avg(0)?,
        avg60: avg(1)?,
        avg300: avg(2)?,
        total_us: number(values[3].ok_or("no total")?)?,
    })
}

/// A single value (`memory.current`, `memory.peak`, `pids.current`).
pub fn single(text: &[u8]) -> Parsed<u64> {
    number(utf8(text)?.trim())
}

/// A limit (`memory.max`, `pids.max`): `max` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Max,
    Value(u64),
}

pub fn limit(text: &[u8]) -> Parsed<Limit> {
    match utf8(text)?.trim() {
        "max" => Ok(Limit::Max),
        v => number(v).map(Limit::Value),
    }
}

/// `memory.events`: how often the cgroup (and its sub-cgroups) hit each memory boundary. Keys
/// missing from older kernels are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEvents {
    pub low: Option<u64>,
    pub high: Option<u64>,
    pub max: Option<u64>,
    pub oom: Option<u64>,
    /// Processes the OOM killer killed.
    pub oom_kill: Option<u64>,
    pub oom_group_kill: Option<u64>,
}

pub fn memory_events(text: &[u8]) -> Parsed<MemoryEvents> {
    let pairs = keyed(text)?;
    let at = |key: &str| get(&pairs, key);
    Ok(MemoryEvents {
        low: at("low"),
        high: at("high"),
        max: at("max"),
        oom: at("oom"),
        oom_kill: at("oom_kill"),
        oom_group_kill: at("oom_group_kill"),
    })
}

fn utf8(text: &[u8]) -> Parsed<&str> {
    std::str::from_utf8(text).map_err(|_| "not UTF-8".to_owned())
}

fn number<T: FromStr>(text: &str) -> Parsed<T> {
    text.parse().map_err(|_| {
        let shown: String = text.chars().take(40).collect();
        format!("{shown:?} is not a number")
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn procs_are_pids_a_line() {
        assert_eq!(procs(b"").unwrap(), Vec::<i32>::new());
        assert_eq!(procs(b"42\n7\n42\n").unwrap(), vec![42, 7]);
        assert!(procs(b"42\nx\n").is_err());
        assert!(procs(b"0\n").is_err());
        assert!(procs(b"-3\n").is_err());
    }

    #[test]
    fn cgroup_events_as_documented() {
        // cgroup-v2.rst: "populated 1 if the cgroup or its descendants contains any live
        // processes"; "frozen 1 if the cgroup is frozen".
        let e = events(b"populated 1\nfrozen 0\n").unwrap();
        assert_eq!(
            e,
            Events {
                populated: true,
                frozen: Some(false)
            }
        );
        assert_eq!(events(b"populated 0\n").unwrap().frozen, None);
        assert!(events(b"frozen 1\n").is_err());
        assert!(events(b"populated yes\n").is_err());
    }

    #[test]
    fn cpu_stat_with_and_without_the_cpu_controller() {
        let bare = cpu_stat(b"usage_usec 0\nuser_usec 0\nsystem_usec 0\nnice_usec 0\n").unwrap();
        assert_eq!((bare.usage_usec, bare.nr_throttled), (0, None));
        let full = b"usage_usec 5030000\nuser_usec 4000000\nsystem_usec 1030000\n\
            core_sched.force_idle_usec 0\nnr_periods 120\nnr_throttled 7\n\
            throttled_usec 350000\nnr_bursts 0\nburst_usec 0\n";
        let s = cpu_stat(full).unwrap();
        assert_eq!(
            (s.user_usec, s.system_usec, s.nr_periods, s.nr_throttled),
            (4_000_000, 1_030_000, Some(120), Some(7))
        );
        assert_eq!(s.throttled_usec, Some(350_000));
        assert!(cpu_stat(b"usage_usec 1\n").is_err());
    }

    #[test]
    fn pressure_as_psi_documents_it() {
        // psi.rst's example.
        let text = b"some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n\
                     full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        let p = pressure(text).unwrap();
        assert_eq!(p.some.total_us, 0);
        assert!(p.full.is_some());
        let busy = b"some avg10=12.34 avg60=5.60 avg300=1.02 total=98765432\n";
        let p = pressure(busy).unwrap();
        assert_eq!(
            (p.some.avg10, p.some.avg60, p.some.avg300, p.some.total_us),
            (12.34, 5.6, 1.02, 98_765_432)
        );
        assert_eq!(p.full, None);
        assert!(pressure(b"full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").is_err());
        assert!(pressure(b"some avg10=x avg60=0.00 avg300=0.00 total=0\n").is_err());
        assert!(pressure(b"some avg10=0.00 avg60=0.00 avg300=0.00\n").is_err());
        assert!(pressure(b"some avg10=NaN avg60=0.00 avg300=0.00 total=0\n").is_err());
    }

    #[test]
    fn memory_files_as_documented() {
        assert_eq!(single(b"8192\n").unwrap(), 8192);
        assert!(single(b"\n").is_err());
        assert_eq!(limit(b"max\n").unwrap(), Limit::Max);
        assert_eq!(limit(b"4294967296\n").unwrap(), Limit::Value(4 << 30));
        assert!(limit(b"lots\n").is_err());
        let e =
            memory_events(b"low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n").unwrap();
        assert_eq!((e.max, e.oom, e.oom_kill), (Some(12), Some(2), Some(1)));
        // Before 5.x, no oom_group_kill.
        let old = memory_events(b"low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n").unwrap();
        assert_eq!(old.oom_group_kill, None);
        assert!(memory_events(b"oom_kill many\n").is_err());
        // Keys a later kernel adds are not an error (6.x: `sock_throttled`), nor is
        // `memory.events.local`'s same format; a line without a value is.
        let later = memory_events(
            b"low 0\nhigh 3\nmax 40\noom 1\noom_kill 1\noom_group_kill 0\nsock_throttled 5\n",
        )
        .unwrap();
        assert_eq!((later.high, later.oom_kill), (Some(3), Some(1)));
        assert!(memory_events(b"oom_kill\n").is_err());
        assert_eq!(memory_events(b"").unwrap().oom_kill, None);
    }
}
