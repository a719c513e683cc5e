//! Headless chromium, driven over the DevTools protocol (the Workers tab, the live page).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A child killed and reaped on drop, with everything it started ([`super::end_child`]).
pub struct Killed(pub Child);
impl Drop for Killed {
    fn drop(&mut self) {
        super::end_child(&mut self.0);
    }
}

/// A line of `lines` containing `marker`, within `secs`.
/// Headless chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
/// commands on its fd 3, answers on its fd 4, each a JSON text ended by NUL).
pub struct Browser {
    child: Killed,
    to: std::fs::File,
    from: mpsc::Receiver<serde_json::Value>,
    next_id: u64,
    session: String,
}

impl Browser {
    pub fn start(profile: &Path) -> Browser {
        use std::os::fd::FromRawFd;
        use std::os::unix::process::CommandExt;
        let pipe = || {
            let mut fds = [0; 2];
            // SAFETY: fds is a valid array of two ints for pipe2 to fill.
            assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
            // Out of the way of 3 and 4, where the child wants them.
            // SAFETY: fcntl on descriptors this test just made.
            fds.map(|fd| unsafe {
                let high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
                libc::close(fd);
                high
            })
        };
        let [cmd_read, cmd_write] = pipe();
        let [answer_read, answer_write] = pipe();
        let mut cmd = Command::new(CHROMIUM);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--remote-debugging-pipe",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only dup2, which is async-signal-safe, between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(cmd_read, 3) < 0 || libc::dup2(answer_write, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = Killed(cmd.spawn().expect("start chromium"));
        // SAFETY: the parent's ends, owned from here on; the child's ends closed here.
        let (to, from_file) = unsafe {
            libc::close(cmd_read);
            libc::close(answer_write);
            (
                std::fs::File::from_raw_fd(cmd_write),
                std::fs::File::from_raw_fd(answer_read),
            )
        };
        let (tx, from) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from_file);
            loop {
                let mut buf = Vec::new();
                match reader.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        buf.pop();
                        if let Ok(v) = serde_json::from_slice(&buf) {
                            if tx.send(v).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        let mut b = Browser {
            child,
            to,
            from,
            next_id: 0,
            session: String::new(),
        };
        let target = b.call(
            "Target.createTarget",
            serde_json::json!({"url": "about:blank"}),
        );
        let attached = b.call(
            "Target.attachToTarget",
            serde_json::json!({"targetId": target["targetId"], "flatten": true}),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_owned();
        b.call("Page.enable", serde_json::json!({}));
        b
    }

    /// Send one command (to the page once attached) and wait for its answer.
    pub fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = serde_json::json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = self.session.clone().into();
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("chromium did not answer {method}: {e}"));
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    pub fn goto(&mut self, url: &str) {
        self.call("Page.navigate", serde_json::json!({"url": url}));
    }

    /// The value of a JavaScript expression in the page.
    pub fn eval(&mut self, expression: &str) -> serde_json::Value {
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({"expression": expression, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// The text of the first element `selector` finds once `ok` holds of it (within 60 s).
    pub fn text_when(&mut self, selector: &str, ok: impl Fn(&str) -> bool, what: &str) -> String {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); return e ? e.textContent : null; }})()",
            serde_json::Value::from(selector)
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.eval(&js);
            if let Some(text) = v.as_str() {
                if ok(text) {
                    return text.to_owned();
                }
            }
            if Instant::now() > deadline {
                let body = self.eval("document.body ? document.body.textContent : ''");
                panic!("{what}: {selector} is {v}; the page: {body}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Click the first element `selector` finds, once there is one (within 60 s): the page
    /// renders each of its parts as its own fetch answers, in no set order.
    pub fn click(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return false; e.click(); return true; }})()",
            serde_json::Value::from(selector)
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.eval(&js) != true {
            assert!(Instant::now() < deadline, "nothing to click at {selector}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.0.kill();
    }
}
