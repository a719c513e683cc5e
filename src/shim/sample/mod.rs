//! One pass over `/proc` for every viewer of a board: `?live=1`, `/metrics`, the lingering
//! list and the history share samples (`shared`), and the history (`history`) is kept from
//! them. A sample is the rows of one query (`sql/route_workers_live.sql` or
//! `sql/route_workers_lingering.sql`), taken on a reader thread; each answer is written from
//! it (the JSON list once a sample, whoever asks).

pub mod history;
pub mod oom;
pub(crate) mod shared;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};

use crate::shim::ApiError;
use crate::shim::board::pool::query_error;

pub use history::History;
pub use shared::{Asker, Late, Shared, Timed};

/// Samples for requests begin at least this far apart: 16 viewers polling every second cost
/// about one sample a second, and a request waits at most this long for its own.
pub(crate) const GAP: Duration = Duration::from_secs(1);
/// The history's interval (the page's): a sample is taken on the timer when none was for
/// this long.
pub(crate) const INTERVAL: Duration = Duration::from_secs(2);
/// The history's timer spends at most 1/`TIMER_SHARE` of a core on a board: a board whose
/// sample takes longer than `INTERVAL / TIMER_SHARE` (0.1 s: about 700 workers here) is
/// sampled by the timer every `TIMER_SHARE` times its sample's duration instead.
pub(crate) const TIMER_SHARE: u32 = 20;
/// The history kept by default (`--history`).
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);

/// A query's rows, owned: what a sample holds.
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    /// The index of a column (`None` when the query has no such column).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

/// Every row of `sql` on `conn`.
pub fn query_rows(conn: &Connection, sql: &str) -> Result<Rows, ApiError> {
    query_rows_with(conn, sql, [])
}

/// Every row of `sql` on `conn`, with its parameters.
pub(crate) fn query_rows_with(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Rows, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(sql).map_err(err)?;
    let n = stmt.column_count();
    let mut rows = Vec::new();
    let mut cursor = stmt.query(params).map_err(err)?;
    while let Some(row) = cursor.next().map_err(err)? {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(owned(row.get_ref(i).map_err(err)?));
        }
        rows.push(values);
    }
    drop(cursor);
    // Names after the steps: a schema change seen during them prepared the statement again.
    let columns = stmt
        .column_names()
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
    Ok(Rows { columns, rows })
}

/// A value owned; text that is not UTF-8 read as the board's owner reads it (each invalid
/// sequence one U+FFFD), never an error that would lose the whole answer.
fn owned(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// One sample: its rows, when it was taken, and its answer once a request has asked.
pub struct Sample {
    pub rows: Rows,
    /// Unix epoch seconds when it was taken (`checked_at`).
    pub checked_at: i64,
    answer: OnceLock<Result<Bytes, crate::shim::ApiError>>,
}

impl Sample {
    pub fn new(rows: Rows) -> Sample {
        Sample {
            rows,
            checked_at: epoch_secs(),
            answer: OnceLock::new(),
        }
    }

    /// The answer written from this sample by `write` (given the rows and when they were
    /// taken), written once and shared by every request that takes this sample (or the error
    /// `write` gave). The writer is the caller's: this layer knows no answer's format.
    pub fn answer(
        &self,
        write: impl FnOnce(&Rows, i64) -> Result<Bytes, crate::shim::ApiError>,
    ) -> Result<Bytes, crate::shim::ApiError> {
        self.answer
            .get_or_init(|| write(&self.rows, self.checked_at))
            .clone()
    }
}

pub(crate) use crate::proc::clock::unix_secs as epoch_secs;

/// A board as the shim opens it: its pool of connections, holding its samples.
pub type Board = crate::shim::board::pool::BoardPool<Samples>;

/// The boards open now, each holding its samples.
pub(crate) type OpenBoards = crate::shim::board::pool::BoardPools<Samples>;

impl Board {
    /// The samples its viewers share, and its history.
    pub fn samples(&self) -> &Samples {
        self.extra()
    }

    /// A live sample's rows into its history, and the scopes of its runs followed for OOM
    /// kills ([`oom`], with the board's owner).
    pub fn record(&self, sample: &Sample) {
        let samples = self.samples();
        samples.record(sample);
        if let Some(owner) = self.owner() {
            samples
                .oom
                .watch(&sample.rows, owner, samples.history.oom_seen());
        }
    }
}

/// A board's samples and history (one per open board: see [`Board`]).
pub struct Samples {
    /// `live_workers`' rows (`?live=1`, `/metrics`, the history).
    pub live: Arc<Shared<Arc<Sample>>>,
    /// `lingering_workers`' rows (`/workers/lingering`, `/metrics`).
    pub lingering: Arc<Shared<Arc<Sample>>>,
    pub history: History,
    /// The scopes of its live runs followed for OOM kills, into the history.
    oom: oom::OomWatch,
    /// When a request last asked for this board (the timer samples a board for a window
    /// after that, the default board always).
    asked: Mutex<Option<Instant>>,
    /// When the timer may sample the board next (see [`TIMER_SHARE`]).
    timer_next: Mutex<Option<Instant>>,
}

impl Samples {
    pub fn new(window: Duration) -> Samples {
        Samples {
            live: Arc::new(Shared::new(GAP)),
            lingering: Arc::new(Shared::new(GAP)),
            history: History::new(INTERVAL, window),
            oom: oom::OomWatch::default(),
            asked: Mutex::new(None),
            timer_next: Mutex::new(None),
        }
    }

    /// Whether the timer may sample the board at `now`.
    pub(crate) fn timer_due(&self, now: Instant) -> bool {
        self.timer_next
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|next| now >= next)
    }

    /// The timer took `sample`: the next may begin an interval after it began, or
    /// [`TIMER_SHARE`] times its duration after, whichever is later.
    pub(crate) fn timer_took<T>(&self, sample: &Timed<T>) {
        let wait = INTERVAL.max(sample.took * TIMER_SHARE);
        // Half a second early: a tick that comes just before the wait is over is not skipped.
        let next = (sample.began + wait).checked_sub(INTERVAL / 4);
        *self.timer_next.lock().unwrap_or_else(|p| p.into_inner()) = next;
    }

    pub(crate) fn asked_now(&self) {
        *self.asked.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Whether a request asked for the board within the history's window.
    pub(crate) fn asked_within_window(&self) -> bool {
        self.asked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at.elapsed() <= self.history.window())
    }

    /// A live sample's rows into the history.
    pub fn record(&self, sample: &Sample) {
        let rows = &sample.rows;
        self.history.saw_oom_kills(rows, sample.checked_at);
        let (Some(run), Some(alive), Some(cpu), Some(rss), Some(n)) = (
            rows.column("run_id"),
            rows.column("alive"),
            rows.column("tree_cpu_percent"),
            rows.column("tree_rss_bytes"),
            rows.column("tree_processes"),
        ) else {
            return;
        };
        let real = |v: &Value| match v {
            Value::Real(r) => Some(*r),
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        };
        let int = |v: &Value| match v {
            Value::Integer(i) => Some(*i),
            _ => None,
        };
        let seen = rows.rows.iter().filter_map(|r| {
            let run_id = int(&r[run])?;
            let point = match (int(&r[alive]), real(&r[cpu]), int(&r[rss]), int(&r[n])) {
                (Some(1), Some(cpu), Some(rss), Some(n)) => Some((cpu, rss, n)),
                _ => None,
            };
            Some(history::Seen { run_id, point })
        });
        self.history
            .record(u32::try_from(sample.checked_at).unwrap_or(0), seen);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn taken(took: Duration) -> Timed<()> {
        Timed {
            began: Instant::now(),
            took,
            value: Ok(()),
        }
    }

    /// A fast board is sampled by the timer at every tick; a board whose sample takes a
    /// second, every 20 s (the timer spends at most 1/20 of a core on it).
    #[test]
    fn the_timer_spends_at_most_its_share_on_a_slow_board() {
        let samples = Samples::new(WINDOW);
        let fast = taken(Duration::from_millis(40));
        samples.timer_took(&fast);
        assert!(samples.timer_due(fast.began + INTERVAL));
        let slow = taken(Duration::from_secs(1));
        samples.timer_took(&slow);
        assert!(!samples.timer_due(slow.began + INTERVAL));
        assert!(!samples.timer_due(slow.began + Duration::from_secs(19)));
        assert!(samples.timer_due(slow.began + Duration::from_secs(20)));
    }
}
