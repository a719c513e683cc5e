//! The real `kanban-workers` binary, serving a board on a free loopback port.

use super::binary::shim_bin;
use std::fs;
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::board::temp_dir;
use super::http::{HttpResponse, http_request};

/// The server as a child process; SIGKILLed on drop (with what it started), [`Server::stop`]
/// for a clean stop.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// Lines printed on stdout before and including the "serving" line.
    pub banner: Vec<String>,
}

impl Server {
    pub fn start(db: &Path) -> Server {
        Server::start_with(Command::new(shim_bin()), db, &["--quiet"])
    }

    /// Start `cmd` (the binary, possibly behind setpriv) as `serve --db <db> --listen 127.0.0.1:0`.
    pub fn start_with(mut cmd: Command, db: &Path, extra: &[&str]) -> Server {
        cmd.arg("serve")
            .arg("--db")
            .arg(db)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra);
        Server::spawn(cmd, "serving board")
    }

    /// Spawn and read stdout until the line containing `ready_marker` (which names the
    /// address): the server is listening once it has printed it.
    pub fn spawn(mut cmd: Command, ready_marker: &str) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kanban-workers");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let mut banner = Vec::new();
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                let out = child.wait_with_output().expect("wait");
                panic!("server exited: {}", String::from_utf8_lossy(&out.stderr));
            };
            banner.push(line.clone());
            if line.contains(ready_marker) {
                let at = line.find("http://").expect("address in banner") + "http://".len();
                let rest = &line[at..];
                let end = rest
                    .find(|c: char| c == '/' || c.is_whitespace())
                    .unwrap_or(rest.len());
                break rest[..end].to_owned();
            }
        };
        // Keep reading the rest of stdout in the background so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr,
            banner,
        }
    }

    /// Serving `board` with the token in a file beside it (`token`), and `extra` flags.
    pub fn with_token(board: &Path, token: &str, extra: &[&str]) -> Server {
        let file = board.with_file_name("token");
        fs::write(&file, token).expect("write the token file");
        let mut args = vec!["--quiet", "--token-file"];
        let path = file.to_str().expect("a UTF-8 path").to_owned();
        args.push(&path);
        args.extend_from_slice(extra);
        Server::start_with(Command::new(shim_bin()), board, &args)
    }

    pub fn pid(&self) -> i64 {
        i64::from(self.child.id())
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        http_request(&self.addr, "GET", path, &[])
    }

    /// `POST path` with a JSON `body`, and the token as a Bearer when given.
    pub fn post(&self, path: &str, body: &str, token: Option<&str>) -> HttpResponse {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(body);
        super::http::http_raw(&self.addr, head.as_bytes())
    }

    pub fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.get(path);
        (r.status, r.json())
    }

    /// SIGTERM, then wait for exit; returns (success, stderr).
    pub fn stop(mut self) -> (bool, String) {
        use std::io::Read;
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("wait");
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.success(), err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // With what it started (a shim behind a shell: the shell's child).
        super::end_child(&mut self.child);
    }
}

/// A world-writable temp dir holding a copy of the binary that `nobody` may run.
pub fn dir_for_nobody(tag: &str) -> (TempDir, PathBuf) {
    let dir = temp_dir(tag);
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).expect("chmod dir");
    let bin = dir.path().join("kanban-workers");
    fs::copy(shim_bin(), &bin).expect("copy binary");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod binary");
    (dir, bin)
}

/// The server running as `nobody` (needs root).
pub fn start_as_nobody(bin: &Path, db: &Path) -> Server {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin);
    Server::start_with(cmd, db, &["--quiet"])
}
