//! The blocking threads of one class of reads (the lists, the one-run routes): a queue, and up
//! to `max` threads that take work from it in turn. Below `state`, which holds one per class.
//!
//! Why not tokio's `spawn_blocking` behind a semaphore, as before: then a job could be handed
//! out only when a thread had finished one, by way of the async worker (the permit's release
//! woke a waiting request, which spawned its work), so the thread that had finished went to
//! sleep in between and was woken again for the next job: two context switches and a futex
//! call a request, 14% of the shim's CPU time on `/inspect` over distinct runs. Here a thread
//! that finishes takes the next queued job at once, and sleeps only when there is none.
//!
//! A job not begun by its deadline is never run: it is answered `Missed` by whoever sees that
//! first (the thread that takes it, or the request that waited for it), and the request
//! answers 503.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// A class of blocking threads and their queue.
pub(crate) struct Threads {
    shared: Arc<Shared>,
}

struct Shared {
    /// The threads' names (`kw-<name>`).
    name: &'static str,
    max: usize,
    inner: Mutex<Inner>,
    ready: Condvar,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    closed: bool,
}

type Job = Box<dyn FnOnce() + Send>;

/// Where a queued job is: waiting, begun by a thread, or given up by its request.
const WAITING: u8 = 0;
const BEGUN: u8 = 1;
const GIVEN_UP: u8 = 2;

/// A queued job's end, as its request sees it.
pub(crate) struct Queued<T> {
    state: Arc<AtomicU8>,
    done: tokio::sync::oneshot::Receiver<Option<T>>,
}

/// Why a queued job has no value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Missed {
    /// No thread was free to begin it by its deadline: it never ran.
    Busy,
    /// It panicked.
    Panicked,
}

impl Threads {
    /// A class of at most `max` threads, started as work comes (none before).
    pub(crate) fn new(name: &'static str, max: usize) -> Threads {
        Threads {
            shared: Arc::new(Shared {
                name,
                max: max.max(1),
                inner: Mutex::new(Inner::default()),
                ready: Condvar::new(),
            }),
        }
    }

    /// Queue `work`, to be begun by `deadline` or never.
    pub(crate) fn queue<T: Send + 'static>(
        &self,
        deadline: Instant,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Queued<T> {
        let state = Arc::new(AtomicU8::new(WAITING));
        let (tx, done) = tokio::sync::oneshot::channel();
        let mine = Arc::clone(&state);
        let job: Job = Box::new(move || {
            // Past its deadline, or given up: never begun (the sender dropped: `Busy`).
            if Instant::now() > deadline
                || mine
                    .compare_exchange(WAITING, BEGUN, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                let _ = tx.send(None);
                return;
            }
            let value = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            // A panic drops the sender: `Panicked`.
            if let Ok(value) = value {
                let _ = tx.send(Some(value));
            }
        });
        let mut inner = self.shared.lock();
        inner.queue.push_back(job);
        if inner.idle > 0 {
            drop(inner);
            self.shared.ready.notify_one();
        } else if inner.threads < self.shared.max && self.start(&mut inner) {
            inner.threads += 1;
        }
        Queued { state, done }
    }

    /// One more thread; false when the system would not start one (the queued job then waits
    /// for a thread already running, or its deadline).
    fn start(&self, _inner: &mut MutexGuard<'_, Inner>) -> bool {
        let shared = Arc::clone(&self.shared);
        std::thread::Builder::new()
            .name(format!("kw-{}", self.shared.name))
            .spawn(move || shared.work())
            .is_ok()
    }
}

impl Drop for Threads {
    /// The threads end once the queue is empty.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A job never runs under the lock: a poisoned one only means a panic between two
        // statements of this file, and the queue is still whole.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A thread's life: take the next job, run it, and sleep only when there is none.
    fn work(&self) {
        let mut inner = self.lock();
        loop {
            if let Some(job) = inner.queue.pop_front() {
                drop(inner);
                job();
                inner = self.lock();
                continue;
            }
            if inner.closed {
                inner.threads -= 1;
                return;
            }
            inner.idle += 1;
            inner = self.ready.wait(inner).unwrap_or_else(|p| p.into_inner());
            inner.idle -= 1;
        }
    }
}

impl<T> Queued<T> {
    /// Its value, when it has ended by `until`; `Err(self)` when it has not.
    pub(crate) async fn by(mut self, until: Instant) -> Result<Result<T, Missed>, Queued<T>> {
        match tokio::time::timeout_at(until.into(), &mut self.done).await {
            Ok(Ok(Some(value))) => Ok(Ok(value)),
            Ok(Ok(None)) => Ok(Err(Missed::Busy)),
            Ok(Err(_)) => Ok(Err(Missed::Panicked)),
            Err(_) => Err(self),
        }
    }

    /// Give it up unless a thread has begun it: true when it will never run.
    pub(crate) fn give_up(&self) -> bool {
        match self
            .state
            .compare_exchange(WAITING, GIVEN_UP, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(now) => now == GIVEN_UP,
        }
    }

    /// Its value, however long it takes.
    pub(crate) async fn end(self) -> Result<T, Missed> {
        match self.done.await {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(Missed::Busy),
            Err(_) => Err(Missed::Panicked),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn a_job_past_its_deadline_is_never_begun() {
        let threads = Threads::new("test", 1);
        let ran = Arc::new(AtomicBool::new(false));
        let mine = Arc::clone(&ran);
        let past = Instant::now() - Duration::from_millis(1);
        let queued = threads.queue(past, move || mine.store(true, Ordering::SeqCst));
        assert_eq!(queued.end().await, Err(Missed::Busy));
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_job_given_up_while_queued_never_runs_and_the_next_one_does() {
        let threads = Threads::new("test", 1);
        // The one thread held by a job until released.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (began, begun) = std::sync::mpsc::channel::<()>();
        let first = threads.queue(later(), move || {
            began.send(()).unwrap();
            held.recv().unwrap();
            1
        });
        begun.recv().unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let mine = Arc::clone(&ran);
        let second = threads.queue(later(), move || mine.store(true, Ordering::SeqCst));
        assert!(second.give_up(), "nothing had begun it");
        assert!(!first.give_up(), "its thread had begun it");
        release.send(()).unwrap();
        assert_eq!(first.end().await, Ok(1));
        // The queue is taken in order: once the third has ended, the second was passed over.
        assert_eq!(threads.queue(later(), || 3).end().await, Ok(3));
        assert_eq!(second.end().await, Err(Missed::Busy));
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_job_that_panics_is_answered_and_its_thread_goes_on() {
        let threads = Threads::new("test", 1);
        let panicked = threads.queue(later(), || -> i32 { panic!("a test's panic") });
        assert_eq!(panicked.end().await, Err(Missed::Panicked));
        assert_eq!(threads.queue(later(), || 7).end().await, Ok(7));
    }

    #[tokio::test]
    async fn jobs_beyond_the_threads_wait_for_one_and_no_more_threads_start() {
        let threads = Threads::new("test", 2);
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let (began, begun) = std::sync::mpsc::channel::<()>();
        let jobs: Vec<_> = (0..5)
            .map(|i| {
                let (held, began) = (Arc::clone(&held), began.clone());
                threads.queue(later(), move || {
                    began.send(()).unwrap();
                    held.lock().unwrap().recv().unwrap();
                    i
                })
            })
            .collect();
        begun.recv().unwrap();
        begun.recv().unwrap();
        assert_eq!(threads.shared.lock().threads, 2);
        assert_eq!(threads.shared.lock().queue.len(), 3);
        for _ in 0..5 {
            release.send(()).unwrap();
        }
        let mut ended = Vec::new();
        for job in jobs {
            ended.push(job.end().await.unwrap());
        }
        assert_eq!(ended, [0, 1, 2, 3, 4]);
    }
}
