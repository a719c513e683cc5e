//! A short history of each live worker's CPU and memory, kept from the samples the shim
//! takes (for requests, or on its timer when nobody asks), so a page opened now draws the
//! past at once. At most one point an interval per run, for the window; a run's history is
//! dropped when it leaves the active workers, so memory is bounded by the number of workers
//! ([`POINT_BYTES`] × window / interval each).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one worker's point is, at an instant: its tree's CPU %, resident memory and size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Unix epoch seconds of the sample.
    pub t: u32,
    /// The tree's CPU use since the previous sample, in percent of one core.
    pub cpu_percent: f32,
    /// The tree's resident memory, in KiB (what /proc counts in: pages of 4 KiB).
    pub rss_kib: u32,
    /// Processes in the tree (escaped members included).
    pub processes: u16,
}

/// The memory one point takes.
pub const POINT_BYTES: usize = std::mem::size_of::<Point>();
/// Runs a board keeps a history of, at most: beyond them (a board with more live workers, or
/// one whose writer forged many runs on live processes) the runs listed later get none, so
/// a history never holds more than this many runs' points (36 MB at the default window).
pub const MAX_RUNS: usize = 5_000;

/// One sample's row, as the history reads it.
pub struct Seen {
    pub run_id: i64,
    /// `None` when the worker is not alive (or another host's): no point, its past is kept.
    pub point: Option<(f64, i64, i64)>,
}

pub struct History {
    interval: Duration,
    window: Duration,
    runs: Mutex<HashMap<i64, VecDeque<Point>>>,
    /// The OOM kills seen in each run's scope while it ran (`live_workers.scope_oom_kills`,
    /// the most seen, and what [`super::oom`] caught as the kernel counted them) and when last
    /// seen: kept after the run ends (the scope goes with it), for `GET /runs/endings`, for
    /// [`OOM_KEEP_S`] at most [`OOM_RUNS`] runs. Kept whatever the window, only for runs that
    /// had one.
    oom: Arc<OomSeen>,
}

/// The OOM kills seen in runs' scopes: run id to (the most seen, when last seen).
pub type OomSeen = Mutex<HashMap<i64, (i64, i64)>>;

/// `n` OOM kills seen in run `run`'s scope at `t` (epoch seconds): the most seen kept, and the
/// runs seen longer than [`OOM_KEEP_S`] before `t`, or beyond [`OOM_RUNS`], forgotten.
pub fn remember_oom_kills(seen: &OomSeen, run: i64, n: i64, t: i64) {
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    if n > 0 {
        let kept = seen.entry(run).or_insert((0, t));
        *kept = (n.max(kept.0), t);
    }
    forget_old(&mut seen, t);
}

fn forget_old(seen: &mut HashMap<i64, (i64, i64)>, t: i64) {
    seen.retain(|_, (_, at)| t - *at <= OOM_KEEP_S);
    if seen.len() > OOM_RUNS {
        let mut by_age: Vec<(i64, i64)> = seen.iter().map(|(id, (_, at))| (*at, *id)).collect();
        by_age.sort_unstable();
        for (_, id) in &by_age[..seen.len() - OOM_RUNS] {
            seen.remove(id);
        }
    }
}

/// How long an OOM kill seen in a run's scope is remembered (seconds).
pub const OOM_KEEP_S: i64 = 24 * 3600;
/// Runs whose OOM kills are remembered, at most (the oldest seen forgotten first).
pub const OOM_RUNS: usize = 10_000;

impl History {
    /// `window` zero: no history is kept.
    pub fn new(interval: Duration, window: Duration) -> History {
        History {
            interval: interval.max(Duration::from_secs(1)),
            window,
            runs: Mutex::new(HashMap::new()),
            oom: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The OOM kills a live sample's rows (taken at `t`) show in runs' scopes, remembered.
    pub fn saw_oom_kills(&self, rows: &super::Rows, t: i64) {
        use rusqlite::types::Value;
        let (Some(run), Some(oom)) = (rows.column("run_id"), rows.column("scope_oom_kills")) else {
            return;
        };
        let mut seen = self.oom.lock().unwrap_or_else(|p| p.into_inner());
        for row in &rows.rows {
            if let (Value::Integer(id), Value::Integer(n)) = (&row[run], &row[oom]) {
                if *n > 0 {
                    let kept = seen.entry(*id).or_insert((0, t));
                    *kept = ((*n).max(kept.0), t);
                }
            }
        }
        forget_old(&mut seen, t);
    }

    /// The OOM kills remembered, shared with what follows runs' scopes ([`super::oom`]).
    pub fn oom_seen(&self) -> &Arc<OomSeen> {
        &self.oom
    }

    /// The OOM kills remembered of run `run` (`None`: none seen).
    pub fn oom_kills(&self, run: i64) -> Option<i64> {
        let seen = self.oom.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&run).map(|(n, _)| *n)
    }

    /// `{"<run_id>": n}`: the OOM kills remembered ([`History::saw_oom_kills`]).
    pub fn oom_seen_json(&self) -> String {
        let seen = self.oom.lock().unwrap_or_else(|p| p.into_inner());
        let map: serde_json::Map<String, serde_json::Value> = seen
            .iter()
            .map(|(id, (n, _))| (id.to_string(), serde_json::Value::from(*n)))
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether a history is kept at all.
    pub fn on(&self) -> bool {
        !self.window.is_zero()
    }

    fn points_kept(&self) -> usize {
        (self.window.as_secs() / self.interval.as_secs().max(1)).max(1) as usize
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<i64, VecDeque<Point>>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A sample taken at `t` (epoch seconds) listing every active worker: a point for each
    /// live one (one an interval: a later sample in the same interval replaces it), and the
    /// history of runs no longer listed dropped.
    pub fn record(&self, t: u32, seen: impl IntoIterator<Item = Seen>) {
        if !self.on() {
            return;
        }
        let keep = self.points_kept();
        let step = self.interval.as_secs().max(1) as u32;
        let mut runs = self.runs();
        let mut old = std::mem::take(&mut *runs);
        for s in seen {
            if runs.len() >= MAX_RUNS {
                break;
            }
            let mut points = old.remove(&s.run_id).unwrap_or_default();
            if let Some((cpu, rss, processes)) = s.point {
                let point = Point {
                    t,
                    cpu_percent: cpu as f32,
                    rss_kib: u32::try_from(rss.max(0) / 1024).unwrap_or(u32::MAX),
                    processes: u16::try_from(processes.max(0)).unwrap_or(u16::MAX),
                };
                if points.back().is_some_and(|last| last.t / step == t / step) {
                    points.pop_back();
                }
                points.push_back(point);
                let horizon = t.saturating_sub(self.window.as_secs() as u32);
                while points.len() > keep || points.front().is_some_and(|p| p.t < horizon) {
                    points.pop_front();
                }
            }
            runs.insert(s.run_id, points);
        }
    }

    /// The points of one run, oldest first (none when it is not an active worker, or has had
    /// no live sample).
    pub fn of(&self, run_id: i64) -> Vec<Point> {
        self.runs()
            .get(&run_id)
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Points kept, all runs together.
    pub fn points(&self) -> usize {
        self.runs().values().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn live(run_id: i64, cpu: f64) -> Seen {
        Seen {
            run_id,
            point: Some((cpu, 8192, 2)),
        }
    }

    #[test]
    fn one_point_an_interval_for_the_window_and_gone_with_the_run() {
        let h = History::new(Duration::from_secs(2), Duration::from_secs(10));
        for t in [100, 101, 102, 104, 106, 108, 110, 112] {
            h.record(t, [live(1, f64::from(t)), live(2, 1.0)]);
        }
        let one = h.of(1);
        // 100 and 101 share an interval (the later kept); 5 points of 2 s for a 10 s window.
        assert_eq!(
            one.iter().map(|p| p.t).collect::<Vec<_>>(),
            [104, 106, 108, 110, 112]
        );
        assert_eq!(one[0].rss_kib, 8);
        assert_eq!(one[0].processes, 2);
        // A worker not alive keeps its past; a run no longer listed loses it.
        h.record(
            114,
            [Seen {
                run_id: 1,
                point: None,
            }],
        );
        assert_eq!(h.of(1).len(), 5);
        assert!(h.of(2).is_empty());
        assert_eq!(h.points(), 5);
    }

    #[test]
    fn at_most_max_runs_are_kept() {
        let h = History::new(Duration::from_secs(2), Duration::from_secs(10));
        h.record(100, (0..MAX_RUNS as i64 + 10).map(|r| live(r, 1.0)));
        assert_eq!(h.points(), MAX_RUNS);
        assert!(h.of(MAX_RUNS as i64).is_empty());
        assert_eq!(h.of(MAX_RUNS as i64 - 1).len(), 1);
    }

    /// OOM kills seen in a scope are kept after the run leaves the sample, the most seen.
    #[test]
    fn oom_kills_seen_are_remembered() {
        use rusqlite::types::Value;
        let h = History::new(Duration::from_secs(2), Duration::ZERO);
        let rows = |n: i64| super::super::Rows {
            columns: vec!["run_id".into(), "scope_oom_kills".into()],
            rows: vec![
                vec![Value::Integer(7), Value::Integer(n)],
                vec![Value::Integer(8), Value::Null],
            ],
        };
        h.saw_oom_kills(&rows(2), 100);
        h.saw_oom_kills(&rows(1), 101);
        assert_eq!(h.oom_seen_json(), r#"{"7":2}"#);
        h.saw_oom_kills(&rows(0), 100 + OOM_KEEP_S + 2);
        assert_eq!(h.oom_seen_json(), "{}");
    }

    #[test]
    fn a_zero_window_keeps_nothing() {
        let h = History::new(Duration::from_secs(2), Duration::ZERO);
        h.record(100, [live(1, 1.0)]);
        assert!(h.of(1).is_empty());
        assert!(!h.on());
    }
}
