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
    /// Threads waiting for work.
    idle: usize,
    /// Threads running a job (the others take the next queued one before they wait).
    running: usize,
    closed: bool,
}

/// A queued job, and where it is (to prune the ones given up). Run, it gives back the
/// delivery of its value, which its thread makes once it counts itself free again: a request
/// answered and followed at once by the next one finds the thread free, not a reason to
/// start another.
struct Job {
    state: Arc<AtomicU8>,
    run: Box<dyn FnOnce() -> Delivery + Send>,
}

type Delivery = Box<dyn FnOnce() + Send>;

/// Past this many queued jobs, the ones given up are dropped from the queue at the next push
/// (a request that ends or is dropped gives its job up: while every thread is held, the queue
/// holds no more than the requests still waiting, about one a connection).
const PRUNE_AT: usize = 64;

/// Where a queued job is: waiting, begun by a thread, or given up by its request.
const WAITING: u8 = 0;
const BEGUN: u8 = 1;
const GIVEN_UP: u8 = 2;

/// A queued job's end, as its request sees it. Dropped (the request ended, or its client went
/// away), it gives the job up: a job nobody waits for is never begun.
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
        let run = Box::new(move || -> Delivery {
            // Past its deadline, or given up: never begun (`Busy`).
            if Instant::now() > deadline
                || mine
                    .compare_exchange(WAITING, BEGUN, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                return Box::new(move || {
                    let _ = tx.send(None);
                });
            }
            let value = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            Box::new(move || {
                // A panic drops the sender: `Panicked`.
                if let Ok(value) = value {
                    let _ = tx.send(Some(value));
                }
            })
        });
        let mut inner = self.shared.lock();
        if inner.queue.len() >= PRUNE_AT {
            inner
                .queue
                .retain(|job| job.state.load(Ordering::Acquire) != GIVEN_UP);
        }
        inner.queue.push_back(Job {
            state: Arc::clone(&state),
            run,
        });
        // A thread for each queued job beyond the threads not running one (idle, or about to
        // take the next), up to the class's number.
        let wake = inner.idle > 0;
        let free = inner.threads - inner.running;
        if inner.queue.len() > free && inner.threads < self.shared.max && self.start() {
            inner.threads += 1;
        }
        drop(inner);
        if wake {
            self.shared.ready.notify_one();
        }
        Queued { state, done }
    }

    /// One more thread; false when the system would not start one (the queued job then waits
    /// for a thread already running, or its deadline). Called from a request (on the async
    /// worker): the thread enters that runtime, as tokio's own blocking threads did, so that
    /// its work may start tasks (the OOM follower of a sample, `sample::oom`).
    fn start(&self) -> bool {
        let shared = Arc::clone(&self.shared);
        let runtime = tokio::runtime::Handle::try_current().ok();
        std::thread::Builder::new()
            .name(format!("kw-{}", self.shared.name))
            .spawn(move || {
                let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
                shared.work();
            })
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
                inner.running += 1;
                drop(inner);
                let deliver = (job.run)();
                self.lock().running -= 1;
                deliver();
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
            Ok(ended) => Ok(Self::value(ended)),
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
    pub(crate) async fn end(mut self) -> Result<T, Missed> {
        Self::value((&mut self.done).await)
    }

    fn value(
        ended: Result<Option<T>, tokio::sync::oneshot::error::RecvError>,
    ) -> Result<T, Missed> {
        match ended {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(Missed::Busy),
            Err(_) => Err(Missed::Panicked),
        }
    }
}

impl<T> Drop for Queued<T> {
    fn drop(&mut self) {
        self.give_up();
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

    /// The class's one thread, held by a job (returning 1) until the sender sends; returned
    /// once the job has begun.
    fn hold(threads: &Threads) -> (Queued<i32>, std::sync::mpsc::Sender<()>) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (began, begun) = std::sync::mpsc::channel::<()>();
        let first = threads.queue(later(), move || {
            began.send(()).unwrap();
            held.recv().unwrap();
            1
        });
        begun.recv().unwrap();
        (first, release)
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
        let (first, release) = hold(&threads);
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
    async fn a_job_whose_request_is_dropped_is_never_begun_and_the_queue_is_pruned() {
        let threads = Threads::new("test", 1);
        let (first, release) = hold(&threads);
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // Requests that went away while the one thread was held.
        for _ in 0..3 * PRUNE_AT {
            let mine = Arc::clone(&ran);
            drop(threads.queue(later(), move || {
                mine.fetch_add(1, Ordering::SeqCst);
            }));
        }
        assert!(
            threads.shared.lock().queue.len() <= PRUNE_AT + 1,
            "{} queued",
            threads.shared.lock().queue.len()
        );
        release.send(()).unwrap();
        assert_eq!(first.end().await, Ok(1));
        assert_eq!(threads.queue(later(), || 3).end().await, Ok(3));
        assert_eq!(ran.load(Ordering::SeqCst), 0, "a dropped request's job ran");
    }

    #[tokio::test]
    async fn a_burst_beyond_the_idle_threads_starts_more() {
        let threads = Threads::new("test", 2);
        // One thread, idle once its job has ended.
        assert_eq!(threads.queue(later(), || 1).end().await, Ok(1));
        // Two jobs at once, each held until released: both begin only on two threads (on the
        // one idle thread alone, the second would wait for the first to be released).
        let (began, begun) = std::sync::mpsc::channel::<i32>();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let jobs: Vec<_> = (0..2)
            .map(|i| {
                let (began, held) = (began.clone(), Arc::clone(&held));
                threads.queue(later(), move || {
                    began.send(i).unwrap();
                    held.lock().unwrap().recv().unwrap();
                    i
                })
            })
            .collect();
        // A bound on a failure, not a synchronisation: both have begun long before.
        for _ in 0..2 {
            begun
                .recv_timeout(Duration::from_secs(30))
                .expect("both jobs begin at once");
        }
        release.send(()).unwrap();
        release.send(()).unwrap();
        let mut ended = Vec::new();
        for job in jobs {
            ended.push(job.end().await.unwrap());
        }
        assert_eq!(ended, [0, 1]);
        assert_eq!(threads.shared.lock().threads, 2);
    }

    #[test]
    fn a_thread_started_from_a_request_is_inside_its_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let threads = Threads::new("test", 1);
        let inside = runtime.block_on(async {
            threads
                .queue(later(), || tokio::runtime::Handle::try_current().is_ok())
                .end()
                .await
        });
        assert_eq!(inside, Ok(true));
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
