//! The shim's log lines on stderr. Logging never takes the server down: a line that cannot be
//! written (stderr closed by its reader, a full disk) is dropped, and after the first failure
//! logging stops, so a request or a shutdown never depends on stderr. `eprintln!` would panic
//! there instead (Rust ignores SIGPIPE, so the write fails with EPIPE, and `eprintln!` panics
//! on any failed write).

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static BROKEN: AtomicBool = AtomicBool::new(false);

/// Write one line to stderr, or nothing if stderr has failed before or fails now.
pub fn line(args: fmt::Arguments<'_>) {
    if BROKEN.load(Ordering::Relaxed) {
        return;
    }
    let mut err = std::io::stderr().lock();
    if err
        .write_fmt(args)
        .and_then(|()| err.write_all(b"\n"))
        .is_err()
    {
        BROKEN.store(true, Ordering::Relaxed);
    }
}

/// `log!("...", args)`: one line on stderr, as [`line`] writes it.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::shim::log::line(format_args!($($arg)*))
    };
}
