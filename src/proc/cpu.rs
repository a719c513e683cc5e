//! CPU percentage without sleeping: each connection keeps its previous sample of each process.
//!
//! The first sample of a process (identified by pid *and* start time, so a reused pid starts
//! afresh) reports the lifetime average, as `ps` does: CPU seconds / seconds since start. Later
//! samples report the use since the previous sample, once at least [`MIN_INTERVAL`] has passed
//! (CPU time moves in clock ticks of 10 ms: a shorter window would mostly measure rounding);
//! within that window the previous figure is repeated. 100.0 is one core fully busy.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shortest window over which a new CPU percentage is computed.
pub const MIN_INTERVAL: Duration = Duration::from_millis(200);
/// Samples kept per connection before old ones are dropped.
const MAX_SAMPLES: usize = 4096;
/// A sample older than this is dropped when the table is full.
const MAX_AGE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy)]
struct Sample {
    cpu_ticks: u64,
    at: Instant,
    percent: f64,
}

/// The previous CPU sample of each process, keyed by (pid, start ticks), from which
/// `proc_stats` and `proc_tree` compute `cpu_percent`: one per connection with
/// [`register`](crate::register), or one shared by a pool's connections with
/// [`register_with`](crate::register_with).
#[derive(Debug, Default)]
pub struct CpuSampler {
    samples: Mutex<HashMap<(i32, u64), Sample>>,
}

impl CpuSampler {
    /// No samples yet: each process's first `cpu_percent` is its lifetime average.
    pub fn new() -> Self {
        Self::default()
    }

    /// CPU percent of the process `(pid, start_ticks)` that has used `cpu_ticks` so far and
    /// started at `start_ms` (Unix epoch milliseconds).
    pub(crate) fn percent(
        &self,
        pid: i32,
        start_ticks: u64,
        cpu_ticks: u64,
        start_ms: Option<u64>,
    ) -> f64 {
        let hz = crate::proc::info::host().ticks_per_second as f64;
        let now = Instant::now();
        // A poisoned lock only means another thread panicked mid-update: the map is still valid.
        let mut samples = match self.samples.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let key = (pid, start_ticks);
        let percent = match samples.get(&key).copied() {
            Some(prev) => {
                let elapsed = now.saturating_duration_since(prev.at);
                if elapsed < MIN_INTERVAL {
                    return prev.percent;
                }
                let used = cpu_ticks.saturating_sub(prev.cpu_ticks) as f64 / hz;
                round2(100.0 * used / elapsed.as_secs_f64())
            }
            None => {
                if samples.len() >= MAX_SAMPLES {
                    samples.retain(|_, s| now.saturating_duration_since(s.at) < MAX_AGE);
                    if samples.len() >= MAX_SAMPLES {
                        samples.clear();
                    }
                }
                lifetime_percent(cpu_ticks as f64 / hz, start_ms)
            }
        };
        let sample = Sample {
            cpu_ticks,
            at: now,
            percent,
        };
        samples.insert(key, sample);
        percent
    }
}

/// CPU seconds over wall seconds since start, as a percentage.
fn lifetime_percent(cpu_seconds: f64, start_ms: Option<u64>) -> f64 {
    let now_ms = super::clock::unix_millis() as f64;
    let Some(start_ms) = start_ms else {
        return 0.0;
    };
    // Boot time is whole seconds and can drift by one: never divide by less than a second.
    let wall = ((now_ms - start_ms as f64) / 1000.0).max(1.0);
    round2(100.0 * cpu_seconds / wall)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_is_lifetime_average_and_repeats_within_interval() {
        let s = CpuSampler::new();
        let hz = crate::proc::info::host().ticks_per_second;
        let now_ms = crate::proc::clock::unix_millis();
        // 5 CPU seconds over 10 wall seconds: 50 %.
        let p = s.percent(7, 1, 5 * hz, Some(now_ms - 10_000));
        assert!((p - 50.0).abs() < 1.0, "{p}");
        // Within MIN_INTERVAL the same figure comes back, whatever the counter says.
        assert_eq!(s.percent(7, 1, 9 * hz, Some(now_ms - 10_000)), p);
        // Another start time is another process: a fresh lifetime average.
        let q = s.percent(7, 2, 0, Some(now_ms - 10_000));
        assert_eq!(q, 0.0);
    }
}
