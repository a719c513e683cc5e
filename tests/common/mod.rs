#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Shared helpers for the integration tests: the built extension, real board files, real
//! worker processes, and the tests' own reading of /proc (independent of the library's).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use rusqlite::Connection;

pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Path of the built `libkanban_workers.so`. `make test` builds it and passes it in
/// `KANBAN_WORKERS_SO`; a bare `cargo test` builds it here (once per test binary) so a stale
/// `.so` is never tested.
pub fn so_path() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        if let Ok(p) = std::env::var("KANBAN_WORKERS_SO") {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "KANBAN_WORKERS_SO={} does not exist",
                p.display()
            );
            return p;
        }
        let status = Command::new("make")
            .arg("ext")
            .current_dir(MANIFEST_DIR)
            .stdout(Stdio::null())
            .status()
            .expect("run `make ext` to build the extension");
        assert!(status.success(), "`make ext` failed");
        PathBuf::from(MANIFEST_DIR).join("target/release/libkanban_workers.so")
    })
}

/// The `.so` path without its suffix, as users write it in `.load`.
pub fn so_stem() -> String {
    so_path().with_extension("").display().to_string()
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kanban-workers-test-{}-{}-{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A board file with the kanban schema (WAL, as the owner runs it), in its own temp dir.
pub struct Board {
    pub dir: TempDir,
    pub path: PathBuf,
}

impl Board {
    pub fn new(tag: &str) -> Board {
        let dir = TempDir::new(tag);
        let path = dir.path().join("kanban.db");
        create_board(&path);
        Board { dir, path }
    }

    /// A plain connection (no extension) for writing fixtures.
    pub fn writer(&self) -> Connection {
        Connection::open(&self.path).expect("open board")
    }

    /// A connection with the built `.so` loaded through `load_extension`.
    pub fn with_extension(&self) -> Connection {
        open_with_extension(&self.path)
    }
}

/// Creates a board file at `path` with the kanban schema (WAL, as the owner runs it); returns
/// a plain connection to it for writing fixtures.
pub fn create_board(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("create board");
    conn.pragma_update(None, "journal_mode", "wal")
        .expect("wal");
    conn.execute_batch(include_str!("../../sql/kanban_schema.sql"))
        .expect("schema");
    conn
}

pub fn open_with_extension(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open db");
    load_extension(&conn);
    conn
}

pub fn load_extension(conn: &Connection) {
    // SAFETY: loading our own freshly built extension.
    unsafe {
        conn.load_extension_enable()
            .expect("enable extension loading");
        conn.load_extension(so_path(), None::<&str>)
            .expect("load libkanban_workers.so");
    }
    conn.load_extension_disable()
        .expect("disable extension loading");
}

/// Insert a task and a run; returns the run id.
pub struct RunSpec<'a> {
    pub task_id: &'a str,
    pub task_status: &'a str,
    pub pid: Option<i64>,
    pub ended_at: Option<i64>,
    pub started_at: i64,
    pub claim_lock: Option<&'a str>,
}

impl Default for RunSpec<'_> {
    fn default() -> Self {
        RunSpec {
            task_id: "t_1",
            task_status: "running",
            pid: None,
            ended_at: None,
            started_at: 1_700_000_000,
            claim_lock: Some("host-a:4242"),
        }
    }
}

/// `RunSpec::new("t_x").pid(123).ended(ts)`: an open run of a running task unless told.
impl<'a> RunSpec<'a> {
    pub fn new(task_id: &'a str) -> Self {
        RunSpec {
            task_id,
            ..Default::default()
        }
    }
    pub fn pid(mut self, pid: i64) -> Self {
        self.pid = Some(pid);
        self
    }
    pub fn ended(mut self, at: i64) -> Self {
        self.ended_at = Some(at);
        self
    }
    pub fn started(mut self, at: i64) -> Self {
        self.started_at = at;
        self
    }
    pub fn status(mut self, task_status: &'a str) -> Self {
        self.task_status = task_status;
        self
    }
    pub fn lock(mut self, claim_lock: Option<&'a str>) -> Self {
        self.claim_lock = claim_lock;
        self
    }
}

pub fn insert_run(conn: &Connection, spec: &RunSpec<'_>) -> i64 {
    conn.execute(
        "INSERT OR IGNORE INTO tasks (id, title, assignee, status, created_at, claim_lock, worker_pid)
         VALUES (?1, 'title of ' || ?1, 'agent-x', ?2, ?3, ?4, ?5)",
        rusqlite::params![spec.task_id, spec.task_status, spec.started_at, spec.claim_lock, spec.pid],
    )
    .expect("insert task");
    conn.execute(
        "INSERT INTO task_runs (task_id, profile, status, claim_lock, claim_expires, worker_pid,
                                max_runtime_seconds, last_heartbeat_at, started_at, ended_at, metadata)
         VALUES (?1, 'default', 'running', ?2, ?3 + 900, ?4, 3600, ?3 + 5, ?3, ?5, '{\"k\": 1}')",
        rusqlite::params![spec.task_id, spec.claim_lock, spec.started_at, spec.pid, spec.ended_at],
    )
    .expect("insert run");
    conn.last_insert_rowid()
}

/// A real worker process (`sleep`), killed and reaped on drop.
pub struct Worker(pub Child);

impl Worker {
    /// `sleep 1000`, returned once it has exec'd and is asleep (state `S`), so that what
    /// the tests read of it no longer changes.
    pub fn sleep() -> Worker {
        let w = Worker(
            Command::new("sleep")
                .arg("1000")
                .spawn()
                .expect("spawn sleep"),
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let t = proc_truth(w.pid());
            if t.state == 'S' && t.cmdline == ["sleep", "1000"] {
                return w;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "sleep never went to sleep: {t:?}"
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
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child; WNOWAIT leaves it unreaped (a zombie).
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

/// The test's own reading of `/proc/<pid>` (no library code involved).
#[derive(Debug)]
pub struct ProcTruth {
    pub state: char,
    pub ppid: i64,
    pub num_threads: i64,
    pub utime: u64,
    pub stime: u64,
    pub start_ticks: u64,
    pub rss_pages: u64,
    pub vms_pages: u64,
    pub cmdline: Vec<String>,
}

pub fn proc_truth(pid: i64) -> ProcTruth {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("stat has )") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state); field n is f[n - 3].
    let num = |n: usize| f[n - 3].parse::<u64>().expect("numeric stat field");
    let statm = fs::read_to_string(format!("/proc/{pid}/statm")).expect("read statm");
    let m: Vec<u64> = statm
        .split_whitespace()
        .map(|x| x.parse().expect("statm"))
        .collect();
    let raw = fs::read(format!("/proc/{pid}/cmdline")).expect("read cmdline");
    let cmdline = raw
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    ProcTruth {
        state: f[0].chars().next().expect("state"),
        ppid: num(4) as i64,
        num_threads: num(20) as i64,
        utime: num(14),
        stime: num(15),
        start_ticks: num(22),
        rss_pages: m[1],
        vms_pages: m[0],
        cmdline,
    }
}

pub fn boot_time() -> u64 {
    let stat = fs::read_to_string("/proc/stat").expect("read /proc/stat");
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .expect("btime in /proc/stat")
}

pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as u64
}

pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }) as u64
}

pub fn fd_count(pid: i64) -> i64 {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list fd/")
        .count() as i64
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// A file's bytes, to prove nothing was written to it.
pub fn file_bytes(path: &Path) -> Vec<u8> {
    fs::read(path).expect("read file")
}

/// Run a command and return stdout, failing the test with stderr when it fails.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The real `kanban-workers` binary serving a board on a free loopback port; SIGTERM on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// Lines printed on stdout before and including the "serving" line.
    pub banner: Vec<String>,
}

impl Server {
    pub fn start(db: &Path) -> Server {
        Server::start_with(
            Command::new(env!("CARGO_BIN_EXE_kanban-workers")),
            db,
            &["--quiet"],
        )
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
        use std::io::BufRead;
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kanban-workers");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let mut banner = Vec::new();
        let addr = loop {
            let line = match lines.next() {
                Some(Ok(l)) => l,
                _ => {
                    let out = child.wait_with_output().expect("wait");
                    panic!("server exited: {}", String::from_utf8_lossy(&out.stderr));
                }
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

    pub fn get(&self, path: &str) -> HttpResponse {
        http_request(&self.addr, "GET", path, &[])
    }

    pub fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.get(path);
        let v = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{path}: {e}: {:?}", String::from_utf8_lossy(&r.body)));
        (r.status, v)
    }

    /// SIGTERM, then wait for exit; returns (success, stderr).
    pub fn stop(mut self) -> (bool, String) {
        use std::io::Read;
        // SAFETY: signalling our own child.
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The JSON `detail` every error answer carries.
    pub fn detail(&self) -> String {
        match &self.json()["detail"] {
            serde_json::Value::String(d) => d.clone(),
            other => panic!("no string detail: {other}"),
        }
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// A plain HTTP/1.1 client over loopback TCP: one request, `Connection: close`, read to EOF.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    http_raw(addr, head.as_bytes())
}

/// Send raw bytes as a request and parse the response.
pub fn http_raw(addr: &str, request: &[u8]) -> HttpResponse {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    stream.write_all(request).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

/// Reads one response (head, then a `content-length` body) from a kept-alive connection, so
/// that the next request can go on the same connection.
pub fn read_one_response(stream: &mut std::net::TcpStream) -> HttpResponse {
    use std::io::Read;
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read response head");
        assert_eq!(
            n,
            1,
            "connection closed mid-head: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.push(byte[0]);
    }
    let mut response = parse_response(&raw);
    let length: usize = response
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .expect("content-length");
    response.body = vec![0; length];
    stream.read_exact(&mut response.body).expect("read body");
    response
}

pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// The columns of `active_workers`, in order: the reference's JSON keys plus `worker_host`.
pub const ACTIVE_WORKERS_COLUMNS: [&str; 13] = [
    "run_id",
    "task_id",
    "task_title",
    "task_status",
    "task_assignee",
    "profile",
    "worker_pid",
    "started_at",
    "claim_lock",
    "claim_expires",
    "last_heartbeat_at",
    "max_runtime_seconds",
    "worker_host",
];

/// A world-writable temp dir holding a copy of the binary that `nobody` may run.
pub fn dir_for_nobody(tag: &str) -> (TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new(tag);
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).expect("chmod dir");
    let bin = dir.path().join("kanban-workers");
    fs::copy(env!("CARGO_BIN_EXE_kanban-workers"), &bin).expect("copy binary");
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
