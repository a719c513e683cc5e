//! The shim's process, tuned before any thread starts: open-file limit, allocator, niceness.

/// Raise the soft limit on open files to the hard one (each connection costs a descriptor,
/// and the default soft limit, often 1024, is below `--max-connections` plus the board's);
/// return memory after bursts; lower the priority to `nice`. Call before any thread starts:
/// every thread inherits the main thread's niceness.
pub fn tune(nice: i32) {
    raise_fd_limit();
    no_sqlite_memory_statistics();
    return_memory_after_bursts();
    if nice > 0 {
        if let Err(e) = rustix::process::setpriority_process(None, nice) {
            crate::log!("kanban-workers: warning: cannot set niceness {nice}: {e}");
        }
    }
}

/// SQLite counts every allocation under one process-wide mutex (`SQLITE_CONFIG_MEMSTATUS`,
/// on by default in the bundled build) for `sqlite3_memory_used`, which nothing here reads:
/// every reader thread took that mutex at each of a query's allocations. Must precede
/// SQLite's initialization (the first connection); later, SQLite refuses it and nothing
/// changes.
fn no_sqlite_memory_statistics() {
    // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int; called before any connection is opened
    // (SQLite answers SQLITE_MISUSE, and changes nothing, if one was).
    unsafe {
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as libc::c_int);
    }
}

fn raise_fd_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            crate::log!("kanban-workers: warning: cannot raise the open-file limit: {e}");
        }
    }
}

/// glibc's allocator raises its mmap threshold each time a large block is freed, up to 32 MiB,
/// so after one burst of large answers every later one comes from the heap and stays there.
/// Fixed thresholds keep answers over 128 KiB in their own mappings, returned when freed, and
/// let the heap shrink: after bursts of 400 unread 1.3 MB answers and 250 read ones, RSS went
/// back to 26-31 MB instead of 47 MB (peak 50 MB instead of 66 MB; `BENCHMARKS.md`).
fn return_memory_after_bursts() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const THRESHOLD: libc::c_int = 128 * 1024;
        // SAFETY: mallopt only sets allocator parameters; it is called before any thread
        // starts, and an unknown or refused parameter only makes it return 0.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD);
        }
    }
}
