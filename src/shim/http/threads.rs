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
//! One thread drains the queue while it keeps up: a job queued while a thread is awake (running
//! a job, or about to take the next) wakes no other, and is taken by that thread in turn. When
//! the awake threads are held (a lock waited for, a long list), another joins: at once for a
//! job queued when none has taken a job for [`HELP_AFTER`], and, by way of its request, for a
//! job that has waited HELP_AFTER without a thread (again at each HELP_AFTER), up to the
//! class's number. Waking a thread for each job, as this did before, spread a burst over the
//! threads, each of which slept and was woken again at its next job: with 8 connections asking
//! `/inspect` of distinct runs, one thread draining the queue spent less CPU time a request
//! and answered more requests a second (BENCHMARKS.md, "fourth pass"). A process with one CPU
//! keeps the old way, where it costs less ([`Shared::eager`]).
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
    /// The process has one CPU: each job queued wakes or starts a thread, as far as there are
    /// any. There, a thread that drains the queue is preempted by the async worker at each
    /// answer it hands over (woken, that worker has run less), where threads that each take a
    /// job and sleep hand the CPU over when they sleep: with the shim on one CPU and the load
    /// generator on the other, draining cost 1.2-1.5x the CPU a request, with 2x the
    /// involuntary context switches (BENCHMARKS.md, "fourth pass").
    eager: bool,
    inner: Mutex<Inner>,
    ready: Condvar,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Job>,
    threads: usize,
    /// Threads waiting for work, not yet woken.
    idle: usize,
    /// Threads woken (by [`Shared::add`], which counted them out of `idle`) that have not yet
    /// woken up: a thread that wakes without one (a spurious wake, the close) counts itself out.
    woken: usize,
    /// Threads started that have not yet looked at the queue.
    starting: usize,
    /// When a thread last took a job, or was woken or started to take one: the awake threads
    /// have all been held since (a lock, a long list) when it is [`HELP_AFTER`] old.
    last_taken: Option<Instant>,
    closed: bool,
}

/// A queued job, and where it is (to prune the ones given up). Run, it delivers its value.
struct Job {
    state: Arc<AtomicU8>,
    run: Box<dyn FnOnce() + Send>,
}

/// Past this many queued jobs, the ones given up are dropped from the queue at the next push
/// (a request that ends or is dropped gives its job up: while every thread is held, the queue
/// holds no more than the requests still waiting, about one a connection).
const PRUNE_AT: usize = 64;

/// How long a queued job waits for the awake threads before its request wakes or starts one
/// more. A job of `/inspect` takes about 0.1 ms of CPU, a burst of one for each of 8
/// connections about 1 ms; with the load generator on the same 2 cores, 1 ms and 2 ms woke
/// threads often enough to cost requests a second, 5 ms rarely (BENCHMARKS.md, "fourth pass").
pub(crate) const HELP_AFTER: std::time::Duration = std::time::Duration::from_millis(5);

/// Where a queued job is: waiting, begun by a thread, or given up by its request.
const WAITING: u8 = 0;
const BEGUN: u8 = 1;
const GIVEN_UP: u8 = 2;

/// A queued job's end, as its request sees it. Dropped (the request ended, or its client went
/// away), it gives the job up: a job nobody waits for is never begun.
pub(crate) struct Queued<T> {
    state: Arc<AtomicU8>,
    done: tokio::sync::oneshot::Receiver<Option<T>>,
    /// The class, for help ([`HELP_AFTER`]), and when the job was queued; `None` once helped.
    help: Option<(Arc<Shared>, Instant)>,
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
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Threads::for_cpus(name, max, cpus)
    }

    /// As [`new`](Self::new), for a process that may run on `cpus` CPUs (its affinity and
    /// CPU quota, as `available_parallelism` reads them): on one, each job queued wakes or
    /// starts a thread (see [`Shared::eager`]).
    pub(crate) fn for_cpus(name: &'static str, max: usize, cpus: usize) -> Threads {
        Threads {
            shared: Arc::new(Shared {
                name,
                max: max.max(1),
                eager: cpus <= 1,
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
        let run = Box::new(move || {
            // Past its deadline, or given up: never begun (`Busy`).
            if Instant::now() > deadline
                || mine
                    .compare_exchange(WAITING, BEGUN, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                let _ = tx.send(None);
                return;
            }
            // A panic drops the sender: `Panicked`.
            if let Ok(value) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
                let _ = tx.send(Some(value));
            }
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
        // No thread awake (running a job, or about to take the next one: woken, started), or
        // those awake all held (none has taken a job for HELP_AFTER, none is on its way): wake
        // or start one. Otherwise an awake one takes it in turn, or its request asks for help.
        let asleep = inner.threads == inner.idle;
        let wake = (asleep || self.shared.eager || inner.held()) && self.shared.add(&mut inner);
        drop(inner);
        if wake {
            self.shared.ready.notify_one();
        }
        Queued {
            state,
            done,
            help: Some((Arc::clone(&self.shared), Instant::now())),
        }
    }
}

impl Drop for Threads {
    /// The threads end once the queue is empty.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

impl Inner {
    /// The awake threads are all held: none has taken a job for [`HELP_AFTER`], and none is on
    /// its way to take one (woken, or started, and not yet at the queue).
    fn held(&self) -> bool {
        self.woken + self.starting == 0
            && self.last_taken.is_none_or(|at| at.elapsed() >= HELP_AFTER)
    }
}

impl Shared {
    /// One more awake thread for the queue, when it holds a job: an idle one (true: the caller
    /// wakes it, once the lock is released), else a new one up to the class's number. Either
    /// is about to take a job: the next one queued waits for it, not for another.
    fn add(self: &Arc<Self>, inner: &mut Inner) -> bool {
        if inner.queue.is_empty() || inner.closed {
            return false;
        }
        if inner.idle > 0 {
            inner.idle -= 1;
            inner.woken += 1;
            inner.last_taken = Some(Instant::now());
            return true;
        }
        if inner.threads < self.max && self.start() {
            inner.threads += 1;
            inner.starting += 1;
            inner.last_taken = Some(Instant::now());
        }
        false
    }

    /// A job has waited [`HELP_AFTER`]: one more thread for the queue, unless one is on its
    /// way (woken, or started, but slow to run: a loaded machine; another would only take
    /// memory of its own).
    fn help(self: &Arc<Self>) {
        let mut inner = self.lock();
        let wake = inner.woken + inner.starting == 0 && self.add(&mut inner);
        drop(inner);
        if wake {
            self.ready.notify_one();
        }
    }

    /// One more thread; false when the system would not start one (the queued job then waits
    /// for a thread already running, or its deadline). Called from a request (on the async
    /// worker): the thread enters that runtime, as tokio's own blocking threads did, so that
    /// its work may start tasks (the OOM follower of a sample, `sample::oom`).
    fn start(self: &Arc<Self>) -> bool {
        let shared = Arc::clone(self);
        let runtime = tokio::runtime::Handle::try_current().ok();
        std::thread::Builder::new()
            .name(format!("kw-{}", self.name))
            .spawn(move || {
                let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
                shared.work();
            })
            .is_ok()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A job never runs under the lock: a poisoned one only means a panic between two
        // statements of this file, and the queue is still whole.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A thread's life: take the next job, run it, and sleep only when there is none.
    fn work(&self) {
        let mut inner = self.lock();
        inner.starting -= 1;
        loop {
            if let Some(job) = inner.queue.pop_front() {
                inner.last_taken = Some(Instant::now());
                drop(inner);
                (job.run)();
                inner = self.lock();
                continue;
            }
            if inner.closed {
                inner.threads -= 1;
                return;
            }
            inner.idle += 1;
            inner = self.ready.wait(inner).unwrap_or_else(|p| p.into_inner());
            if inner.woken > 0 {
                inner.woken -= 1;
            } else {
                inner.idle -= 1;
            }
        }
    }
}

impl<T> Queued<T> {
    /// Its value, when it has ended by `until`; `Err(self)` when it has not. Not begun
    /// [`HELP_AFTER`] after it was queued, it asks for one more thread, and again at each
    /// HELP_AFTER while it waits (the thread it got may have been held by a job queued before
    /// it); at once when `until` comes sooner.
    pub(crate) async fn by(mut self, until: Instant) -> Result<Result<T, Missed>, Queued<T>> {
        if let Some((shared, queued)) = self.help.take() {
            let mut help_at = queued + HELP_AFTER;
            loop {
                if help_at < until {
                    let waited = tokio::time::timeout_at(help_at.into(), &mut self.done).await;
                    if let Ok(ended) = waited {
                        return Ok(Self::value(ended));
                    }
                }
                // Begun, given up, or its budget already spent (its request gives it up next):
                // no thread for it.
                if self.state.load(Ordering::Acquire) != WAITING || Instant::now() >= until {
                    break;
                }
                shared.help();
                help_at += HELP_AFTER;
                if help_at >= until {
                    break;
                }
            }
        }
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

    /// `f`'s value, or a failure after 30 s: a bound on a failure (a regression hangs no test),
    /// not a synchronisation.
    async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(30), f)
            .await
            .expect("done within 30 s")
    }

    /// Wait (yielding, 30 s at most) until `idle` of the class's threads sleep, not woken.
    fn until_idle(threads: &Threads, idle: usize) {
        let bound = Instant::now() + Duration::from_secs(30);
        while threads.shared.lock().idle != idle {
            assert!(Instant::now() < bound, "{idle} idle threads");
            std::thread::yield_now();
        }
    }

    /// Once every thread sleeps, nothing is said to be on its way: help is not switched off.
    fn at_rest(threads: &Threads) {
        let n = threads.shared.lock().threads;
        until_idle(threads, n);
        let inner = threads.shared.lock();
        assert_eq!((inner.woken, inner.starting), (0, 0));
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

    /// As if a thread had taken a job just now, however slow this machine is: `queue()` adds
    /// no thread for being held.
    fn just_taken(threads: &Threads) {
        threads.shared.lock().last_taken = Some(Instant::now() + Duration::from_secs(3600));
    }

    /// With the first thread held: a second one, started by a job's help (it waited past
    /// HELP_AFTER), asleep once that job has ended.
    async fn second_asleep(threads: &Threads) {
        let second = threads.queue(later(), || 2).by(later());
        assert_eq!(within(second).await.ok(), Some(Ok(2)));
        assert_eq!(threads.shared.lock().threads, 2);
        until_idle(threads, 1);
    }

    /// Jobs returning `ids`, each held once begun until the sender sends once; the receiver
    /// hears each one begin.
    fn held_jobs(
        threads: &Threads,
        ids: std::ops::Range<i32>,
    ) -> (
        Vec<Queued<i32>>,
        std::sync::mpsc::Sender<()>,
        std::sync::mpsc::Receiver<i32>,
    ) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let (began, begun) = std::sync::mpsc::channel::<i32>();
        let jobs = ids
            .map(|i| {
                let (held, began) = (Arc::clone(&held), began.clone());
                threads.queue(later(), move || {
                    began.send(i).unwrap();
                    held.lock().unwrap().recv().unwrap();
                    i
                })
            })
            .collect();
        (jobs, release, begun)
    }

    #[tokio::test]
    async fn a_job_past_its_deadline_is_never_begun() {
        let threads = Threads::for_cpus("test", 1, 2);
        let ran = Arc::new(AtomicBool::new(false));
        let mine = Arc::clone(&ran);
        let past = Instant::now() - Duration::from_millis(1);
        let queued = threads.queue(past, move || mine.store(true, Ordering::SeqCst));
        assert_eq!(queued.end().await, Err(Missed::Busy));
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_job_given_up_while_queued_never_runs_and_the_next_one_does() {
        let threads = Threads::for_cpus("test", 1, 2);
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
        let threads = Threads::for_cpus("test", 1, 2);
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
    async fn jobs_queued_while_a_thread_is_awake_wake_no_other_and_it_takes_them_in_turn() {
        let threads = Threads::for_cpus("test", 4, 2);
        let (first, release) = hold(&threads);
        just_taken(&threads);
        // Not waited for (no request asks for help): queued for the one thread.
        let jobs: Vec<_> = (2..5).map(|i| threads.queue(later(), move || i)).collect();
        assert_eq!(threads.shared.lock().threads, 1);
        assert_eq!(threads.shared.lock().queue.len(), 3);
        release.send(()).unwrap();
        assert_eq!(within(first.end()).await, Ok(1));
        let mut ended = Vec::new();
        for job in jobs {
            ended.push(within(job.end()).await.unwrap());
        }
        assert_eq!(ended, [2, 3, 4]);
        assert_eq!(threads.shared.lock().threads, 1, "no other thread started");
        at_rest(&threads);
    }

    #[tokio::test]
    async fn on_one_cpu_each_job_queued_wakes_or_starts_a_thread() {
        let threads = Threads::for_cpus("test", 2, 1);
        let (first, release_first) = hold(&threads);
        // Only the one-CPU rule adds a thread.
        just_taken(&threads);
        // Not waited for (no help): begun on a second thread while the first is held.
        assert_eq!(within(threads.queue(later(), || 2).end()).await, Ok(2));
        assert_eq!(threads.shared.lock().threads, 2);
        release_first.send(()).unwrap();
        assert_eq!(within(first.end()).await, Ok(1));
        at_rest(&threads);
    }

    #[tokio::test]
    async fn a_job_queued_while_the_awake_threads_are_all_held_wakes_an_idle_one_at_once() {
        let threads = Threads::for_cpus("test", 3, 2);
        let (first, release) = hold(&threads);
        second_asleep(&threads).await;
        // The held thread took its job HELP_AFTER ago (said so rather than waited for).
        threads.shared.lock().last_taken = Some(Instant::now() - HELP_AFTER);
        // Not waited for by a request (no help): begun by the sleeping thread, no third.
        assert_eq!(within(threads.queue(later(), || 3).end()).await, Ok(3));
        assert_eq!(threads.shared.lock().threads, 2);
        release.send(()).unwrap();
        assert_eq!(within(first.end()).await, Ok(1));
        at_rest(&threads);
    }

    #[tokio::test]
    async fn a_sleeping_thread_is_promised_to_one_job_and_the_next_gets_a_new_one() {
        let threads = Threads::for_cpus("test", 3, 2);
        let (first, release_first) = hold(&threads);
        second_asleep(&threads).await;
        // queue() adds nothing: help does.
        just_taken(&threads);
        let (jobs, release, begun) = held_jobs(&threads, 3..5);
        // Two helps at once, under one lock, as two requests' timers may fire together: the
        // sleeping thread is woken for one, a third started for the other.
        let wake = {
            let mut inner = threads.shared.lock();
            let (a, b) = (
                threads.shared.add(&mut inner),
                threads.shared.add(&mut inner),
            );
            assert_eq!((a, b), (true, false));
            assert_eq!(
                (inner.idle, inner.woken, inner.starting, inner.threads),
                (0, 1, 1, 3)
            );
            a
        };
        if wake {
            threads.shared.ready.notify_one();
        }
        for _ in 0..2 {
            begun
                .recv_timeout(Duration::from_secs(30))
                .expect("both begin while the first thread is held");
        }
        for _ in 0..2 {
            release.send(()).unwrap();
        }
        for job in jobs {
            assert!(within(job.end()).await.is_ok());
        }
        release_first.send(()).unwrap();
        assert_eq!(within(first.end()).await, Ok(1));
        at_rest(&threads);
    }

    #[tokio::test]
    async fn help_adds_no_thread_while_one_is_on_its_way() {
        let threads = Threads::for_cpus("test", 3, 2);
        let (first, release) = hold(&threads);
        second_asleep(&threads).await;
        just_taken(&threads);
        let queued = threads.queue(later(), || 3);
        // The sleeping thread woken for it, and not yet awake (a loaded machine): a help now
        // starts no third thread beside it (one more thread, one more malloc arena).
        assert!(threads.shared.add(&mut threads.shared.lock()));
        threads.shared.help();
        assert_eq!(threads.shared.lock().threads, 2);
        threads.shared.ready.notify_one();
        assert_eq!(within(queued.end()).await, Ok(3));
        release.send(()).unwrap();
        assert_eq!(within(first.end()).await, Ok(1));
        at_rest(&threads);
    }

    #[tokio::test]
    async fn a_job_with_less_than_help_after_left_asks_for_help_at_once() {
        let threads = Threads::for_cpus("test", 2, 2);
        let (first, release) = hold(&threads);
        just_taken(&threads);
        // Its request's budget ends before HELP_AFTER: help is asked before the wait.
        let until = Instant::now() + HELP_AFTER - Duration::from_micros(1);
        let queued = threads.queue(later(), || 2);
        assert_eq!(threads.shared.lock().threads, 1);
        let value = match queued.by(until).await {
            Ok(v) => v,
            Err(queued) => within(queued.end()).await,
        };
        assert_eq!(value, Ok(2));
        assert_eq!(threads.shared.lock().threads, 2);
        release.send(()).unwrap();
        assert_eq!(within(first.end()).await, Ok(1));
        at_rest(&threads);
    }

    #[tokio::test]
    async fn a_job_waiting_behind_a_held_thread_gets_another() {
        let threads = Threads::for_cpus("test", 3, 2);
        let (first, release) = hold(&threads);
        // Its request waits: past HELP_AFTER it asks for help, and a second thread runs it
        // while the first is still held.
        second_asleep(&threads).await;
        // The next one held up takes the second thread again (woken): no third.
        let third = threads.queue(later(), || 3).by(later());
        assert_eq!(within(third).await.ok(), Some(Ok(3)));
        assert_eq!(threads.shared.lock().threads, 2);
        release.send(()).unwrap();
        assert_eq!(within(first.end()).await, Ok(1));
        at_rest(&threads);
    }

    #[test]
    fn a_thread_started_from_a_request_is_inside_its_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let threads = Threads::for_cpus("test", 1, 2);
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
        let threads = Threads::for_cpus("test", 1, 2);
        let panicked = threads.queue(later(), || -> i32 { panic!("a test's panic") });
        assert_eq!(panicked.end().await, Err(Missed::Panicked));
        assert_eq!(threads.queue(later(), || 7).end().await, Ok(7));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_beyond_the_threads_wait_for_one_and_no_more_threads_start() {
        let threads = Threads::for_cpus("test", 2, 2);
        let (queued, release, begun) = held_jobs(&threads, 0..5);
        // Each waited for by its request (a task), which asks for help.
        let jobs: Vec<_> = queued
            .into_iter()
            .map(|q| tokio::spawn(async move { q.by(later()).await.ok() }))
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
            ended.push(job.await.unwrap().unwrap().unwrap());
        }
        assert_eq!(ended, [0, 1, 2, 3, 4]);
        assert_eq!(threads.shared.lock().threads, 2);
    }
}
