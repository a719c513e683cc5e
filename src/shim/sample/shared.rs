//! One sample shared by every request that can take it: a request waits for a sample that
//! began at or after it arrived (never older data than a sample of its own would give), at
//! most one sample runs at a time, and samples taken for requests begin at least `gap` apart
//! when requests come within half a gap of each other (so many viewers polling at once cost
//! one sample a gap, not one each, and a lone poller is never held), a request waiting for the
//! gap at most half its budget. Knows nothing of
//! `/proc`, SQL or HTTP: what a sample is, is the caller's `take`.

use std::future::Future;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::shim::ApiError;

/// One sample with its times: when it began, how long it took, and what it found (or why it
/// could not).
pub struct Timed<T> {
    pub began: Instant,
    /// How long it took.
    pub took: Duration,
    pub value: Result<T, ApiError>,
}

/// Who asks: a request (its samples keep the gap) or the history's timer (never delayed,
/// never delaying: it asks only when no sample began for a whole interval).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asker {
    Request,
    Timer,
}

pub struct Shared<T> {
    gap: Duration,
    slot: Mutex<Slot<T>>,
    done: Notify,
}

struct Slot<T> {
    running: bool,
    latest: Option<Arc<Timed<T>>>,
    /// When the last sample taken for a request began: the next begins `gap` after it.
    asked: Option<Instant>,
    /// When the latest request arrived: the gap is kept only among requests that arrive
    /// within half a gap of each other (a lone poller, even one polling every gap, is never
    /// held).
    arrived: Option<Instant>,
    /// Samples taken so far.
    taken: u64,
}

/// The sample could not be had within the request's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Late;

enum Next {
    Wait,
    Sleep(Instant),
    Start(Instant),
}

impl<T: Send + Sync + 'static> Shared<T> {
    pub fn new(gap: Duration) -> Shared<T> {
        Shared {
            gap,
            slot: Mutex::new(Slot {
                running: false,
                latest: None,
                asked: None,
                arrived: None,
                taken: 0,
            }),
            done: Notify::new(),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot<T>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Samples taken so far.
    pub fn taken(&self) -> u64 {
        self.slot().taken
    }

    /// The latest sample taken.
    pub fn latest(&self) -> Option<Arc<Timed<T>>> {
        self.slot().latest.as_ref().map(Arc::clone)
    }

    /// The latest sample, if it began at or after `since`.
    pub fn latest_since(&self, since: Instant) -> Option<Arc<Timed<T>>> {
        self.slot()
            .latest
            .as_ref()
            .filter(|t| t.began >= since)
            .map(Arc::clone)
    }

    /// A sample that began at or after `since`: the latest if it did, else the next one,
    /// begun by this call with `take` (on a task of its own, so it ends and is shared even
    /// when this caller stops waiting) when none is under way and the gap allows; `take` is
    /// called at most once. `Late` when none could be had by `deadline`.
    pub async fn get<F, Fut>(
        self: &Arc<Self>,
        since: Instant,
        asker: Asker,
        deadline: Instant,
        take: F,
    ) -> Result<Arc<Timed<T>>, Late>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ApiError>> + Send + 'static,
    {
        let crowded = self.arrive(since, asker);
        loop {
            // Registered before the slot is looked at: a sample ending in between still wakes it.
            let done = self.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            let next = match self.next(since, asker, deadline, crowded) {
                ControlFlow::Break(taken) => return Ok(taken),
                ControlFlow::Continue(next) => next,
            };
            match next {
                Next::Wait => {
                    if tokio::time::timeout_at(deadline.into(), done)
                        .await
                        .is_err()
                    {
                        return Err(Late);
                    }
                }
                Next::Sleep(until) => {
                    if until > deadline {
                        tokio::time::sleep_until(deadline.into()).await;
                        return Err(Late);
                    }
                    tokio::time::sleep_until(until.into()).await;
                }
                Next::Start(began) => {
                    let work = tokio::spawn(take());
                    let me = Arc::clone(self);
                    tokio::spawn(async move {
                        // A sample that panicked is an error, and the next one can begin.
                        let value = work.await.unwrap_or_else(|_| {
                            Err(ApiError::new(500, "internal error while sampling /proc"))
                        });
                        me.finish(began, value);
                    });
                    // The sample begun here (or a later one) ends it: `take` is called once.
                    return self.ended_since(since, deadline).await;
                }
            }
        }
    }

    /// A request arriving for a sample that began at or after `since`: whether it is crowded
    /// (another arrived within half the gap before it: the gap between samples is then kept).
    fn arrive(&self, since: Instant, asker: Asker) -> bool {
        if asker != Asker::Request {
            return false;
        }
        let mut slot = self.slot();
        let crowded = slot
            .arrived
            .is_some_and(|a| since.saturating_duration_since(a) < self.gap / 2);
        slot.arrived = Some(slot.arrived.map_or(since, |a| a.max(since)));
        crowded
    }

    /// What to do now, from the slot: `Break` with a sample that began at or after `since`;
    /// else wait for the one under way, sleep until the gap allows one, or start one now (the
    /// slot then says one is running).
    fn next(
        &self,
        since: Instant,
        asker: Asker,
        deadline: Instant,
        crowded: bool,
    ) -> ControlFlow<Arc<Timed<T>>, Next> {
        let mut slot = self.slot();
        if let Some(taken) = slot.latest.as_ref().filter(|t| t.began >= since) {
            return ControlFlow::Break(Arc::clone(taken));
        }
        let now = Instant::now();
        // The gap is kept for at most half the request's budget: a short budget
        // (`--busy-timeout`) gets its sample in time rather than a 503.
        let latest = since + deadline.saturating_duration_since(since) / 2;
        let ready = match slot.asked {
            Some(asked) if crowded => (asked + self.gap).min(latest).max(now),
            _ => now,
        };
        ControlFlow::Continue(if slot.running {
            Next::Wait
        } else if ready > now {
            Next::Sleep(ready)
        } else {
            slot.running = true;
            if asker == Asker::Request {
                slot.asked = Some(now);
            }
            Next::Start(now)
        })
    }

    fn finish(&self, began: Instant, value: Result<T, ApiError>) {
        {
            let mut slot = self.slot();
            slot.latest = Some(Arc::new(Timed {
                began,
                took: began.elapsed(),
                value,
            }));
            slot.running = false;
            slot.taken += 1;
        }
        self.done.notify_waiters();
    }
}

impl<T: Send + Sync + 'static> Shared<T> {
    /// The first sample that began at `since` or later, once one has ended: another sample's
    /// end (one in flight when the caller's began) may wake the caller first, and it then
    /// waits again, until `deadline` (found by CI under load: such a wake answered `Late`).
    async fn ended_since(&self, since: Instant, deadline: Instant) -> Result<Arc<Timed<T>>, Late> {
        loop {
            // Registered before the latest is looked at: an end in between still wakes it.
            let again = self.done.notified();
            tokio::pin!(again);
            again.as_mut().enable();
            if let Some(taken) = self.latest_since(since) {
                return Ok(taken);
            }
            if tokio::time::timeout_at(deadline.into(), again)
                .await
                .is_err()
            {
                return Err(Late);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Sixteen requests arriving while a sample they cannot take (it began before them) is
    /// under way share the next one: two samples for seventeen requests, each answered with
    /// a sample that began at or after it arrived. (Found flaky by a `make test` run: the
    /// first request may be answered with the second sample, which is as fresh.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_that_arrive_together_share_one_sample() {
        let shared: Arc<Shared<u64>> = Arc::new(Shared::new(Duration::ZERO));
        let count = Arc::new(AtomicU64::new(0));
        let (release, hold) = tokio::sync::watch::channel(false);
        let take = {
            let count = Arc::clone(&count);
            move || {
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let mut hold = hold.clone();
                async move {
                    // The first sample is held until every request has arrived.
                    if n == 1 {
                        let _ = hold.wait_for(|go| *go).await;
                    }
                    Ok(n)
                }
            }
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let first_arrived = Instant::now();
        let first = {
            let (shared, take) = (Arc::clone(&shared), take.clone());
            tokio::spawn(async move {
                shared
                    .get(first_arrived, Asker::Request, deadline, take)
                    .await
            })
        };
        while count.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let mut later = Vec::new();
        for _ in 0..16 {
            let (shared, take) = (Arc::clone(&shared), take.clone());
            let arrived = Instant::now();
            later.push((
                arrived,
                tokio::spawn(
                    async move { shared.get(arrived, Asker::Request, deadline, take).await },
                ),
            ));
        }
        release.send(true).unwrap();
        // The first request gets the first sample, or the second when that one ended before the
        // first request's task looked again (it too began after the first request arrived).
        let first = first.await.unwrap().unwrap();
        assert!(first.began >= first_arrived);
        assert!(matches!(first.value, Ok(1 | 2)), "{:?}", first.value);
        for (arrived, waiter) in later {
            let taken = waiter.await.unwrap().unwrap();
            assert!(taken.began >= arrived);
            assert_eq!(taken.value, Ok(2));
        }
        assert_eq!(count.load(Ordering::SeqCst), 2);
        assert_eq!(shared.taken(), 2);
    }

    /// A sample of the clock, asked for by `asker` arriving at `arrived` (a budget of 30 s).
    async fn clock(
        shared: &Arc<Shared<Instant>>,
        arrived: Instant,
        asker: Asker,
    ) -> Arc<Timed<Instant>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        shared
            .get(arrived, asker, deadline, || async { Ok(Instant::now()) })
            .await
            .unwrap()
    }

    /// Requests that come together keep the gap: a second request right after the first
    /// waits for a sample that begins a gap after the first began; the timer is not held to
    /// it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn samples_for_requests_keep_the_gap() {
        let gap = Duration::from_millis(200);
        let shared: Arc<Shared<Instant>> = Arc::new(Shared::new(gap));
        let a = clock(&shared, Instant::now(), Asker::Request).await;
        let b = clock(&shared, Instant::now(), Asker::Request).await;
        assert!(b.began >= a.began + gap);
        let arrived = Instant::now();
        let c = clock(&shared, arrived, Asker::Timer).await;
        assert!(c.began >= arrived);
        assert_eq!(shared.taken(), 3);
    }

    /// A lone poller is never held: a request more than half a gap after the one before gets a
    /// sample at once, even within a gap of the last one's beginning.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_poller_is_not_held() {
        let gap = Duration::from_secs(4);
        let shared: Arc<Shared<Instant>> = Arc::new(Shared::new(gap));
        let a = clock(&shared, Instant::now(), Asker::Request).await;
        tokio::time::sleep(gap / 2 + Duration::from_millis(100)).await;
        let arrived = Instant::now();
        let b = clock(&shared, arrived, Asker::Request).await;
        assert!(b.began >= arrived && b.began < a.began + gap);
    }

    /// A request whose budget is shorter than twice the gap waits for it only half its
    /// budget, and gets its sample in time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_budget_is_not_spent_on_the_gap() {
        let shared: Arc<Shared<u8>> = Arc::new(Shared::new(Duration::from_secs(60)));
        let take = || async { Ok(1) };
        let far = Instant::now() + Duration::from_secs(30);
        shared
            .get(Instant::now(), Asker::Request, far, take)
            .await
            .unwrap();
        let arrived = Instant::now();
        let deadline = arrived + Duration::from_secs(2);
        let taken = shared.get(arrived, Asker::Request, deadline, take).await;
        assert!(taken.is_ok_and(|t| t.began >= arrived && t.began < deadline));
    }

    /// A sample that fails is shared as its error; one that panics is an error too, and the
    /// next sample can still begin. A request past its deadline is `Late`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_are_shared_and_do_not_wedge_the_next_sample() {
        let shared: Arc<Shared<u8>> = Arc::new(Shared::new(Duration::ZERO));
        let deadline = Instant::now() + Duration::from_secs(30);
        let failed = shared
            .get(Instant::now(), Asker::Request, deadline, || async {
                Err(ApiError::new(503, "board gone"))
            })
            .await
            .unwrap();
        assert_eq!(failed.value, Err(ApiError::new(503, "board gone")));
        let panicked = shared
            .get(Instant::now(), Asker::Request, deadline, || async {
                if true {
                    panic!("a sample that panics");
                }
                Ok(0)
            })
            .await
            .unwrap();
        assert_eq!(panicked.value.as_ref().map_err(|e| e.status), Err(500));
        let ok = shared
            .get(Instant::now(), Asker::Request, deadline, || async { Ok(7) })
            .await
            .unwrap();
        assert_eq!(ok.value, Ok(7));
        let never = shared.get(Instant::now(), Asker::Request, Instant::now(), || {
            std::future::pending::<Result<u8, ApiError>>()
        });
        assert_eq!(never.await.err(), Some(Late));
    }
}
