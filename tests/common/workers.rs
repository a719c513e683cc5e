//! Real worker processes.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::proc_truth::proc_truth;

/// A real worker process (`sleep`), killed and reaped on drop.
pub struct Worker(pub Child);

impl Worker {
    /// `sleep 1000`, returned once it has exec'd and is asleep (state `S`), so that what
    /// the tests read of it no longer changes.
    pub fn sleep() -> Worker {
        let w = Worker::asleep(Command::new("sleep").arg("1000"));
        assert_eq!(proc_truth(w.pid()).cmdline, ["sleep", "1000"]);
        w
    }

    /// Spawn `cmd` and return once it has finished exec'ing and sleeps (state `S`, its argv in
    /// place: `spawn` returns while the kernel may still be setting up the new argv).
    pub fn asleep(cmd: &mut Command) -> Worker {
        let w = Worker(cmd.spawn().expect("spawn worker"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = proc_truth(w.pid());
            if t.state == 'S' && !t.cmdline.is_empty() {
                return w;
            }
            assert!(
                Instant::now() < deadline,
                "{cmd:?} never went to sleep: {t:?}"
            );
            std::thread::yield_now();
        }
    }

    pub fn busy() -> Worker {
        Worker(
            Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .expect("spawn busy loop"),
        )
    }

    pub fn pid(&self) -> i64 {
        i64::from(self.0.id())
    }

    /// Kill and reap: afterwards the pid names no process.
    pub fn end(mut self) -> i64 {
        let pid = self.pid();
        let _ = self.0.kill();
        let _ = self.0.wait();
        pid
    }

    /// Kill and wait until it has exited, without reaping it: a zombie until dropped.
    pub fn into_zombie(mut self) -> Worker {
        self.0.kill().expect("kill");
        // SAFETY: an all-zero siginfo_t is a valid value for waitid to overwrite.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child with a valid siginfo_t; WNOWAIT leaves it unreaped.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.0.id(),
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        assert_eq!(rc, 0, "waitid");
        self
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
