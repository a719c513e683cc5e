//! A board writer's race, for every route that opens a file found on a board: a thread that
//! swaps pairs of names (a file, a folder, a link) with `renameat2(RENAME_EXCHANGE)` in a loop
//! while the test sends its requests, so that a path checked and then opened again by name is
//! caught holding the other thing. Each pair is swapped back before the next round, and the
//! thread is stopped and joined when the [`Flipper`] is dropped (on failure too): the names
//! are left as they were.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

pub struct Flipper {
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

fn exchange(a: &Path, b: &Path) {
    let a = CString::new(a.as_os_str().as_bytes()).unwrap();
    let b = CString::new(b.as_os_str().as_bytes()).unwrap();
    // SAFETY: two NUL-terminated paths that live across the call; no memory is shared.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    assert_eq!(rc, 0, "renameat2: {}", std::io::Error::last_os_error());
}

impl Flipper {
    /// Swap each pair, then swap each back, round after round, until dropped.
    pub fn start(pairs: &[(PathBuf, PathBuf)]) -> Flipper {
        let pairs = pairs.to_vec();
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicU64::new(0));
        let (s, r) = (Arc::clone(&stop), Arc::clone(&rounds));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                for (a, b) in &pairs {
                    exchange(a, b);
                }
                std::thread::yield_now();
                for (a, b) in &pairs {
                    exchange(a, b);
                }
                r.fetch_add(1, Ordering::Relaxed);
                std::thread::yield_now();
            }
        });
        Flipper {
            stop,
            rounds,
            thread: Some(thread),
        }
    }

    /// Stop and join; the rounds made (each swapped every pair and back).
    pub fn stop(mut self) -> u64 {
        self.end();
        self.rounds.load(Ordering::Relaxed)
    }

    fn end(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("the flipper thread panicked");
        }
    }
}

impl Drop for Flipper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
