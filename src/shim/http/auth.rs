//! Who may ask: a token, read from a file (never the command line), accepted as
//! `Authorization: Bearer <t>` or `X-Hermes-Session-Token: <t>` (what the existing dashboard
//! sends), compared in constant time (`subtle`) as SHA-256 digests, so that the comparison
//! takes as long whatever the token's length.
//!
//! Reads stay open on a loopback listener unless `--auth-reads`; a listener beyond loopback
//! requires the token on every route (the shim refuses to start there without one). The
//! check runs before routing and before any board is read, so a missing or wrong token
//! learns nothing (not even whether a run exists).
//!
//! The file is read again when it changes, so that a leaked token is revoked by rewriting the
//! file: each request that needs the token `stat`s it and compares (device, inode, size,
//! mtime, ctime) with what was read. A file written less than [`SETTLE`] before it was read is
//! read again on every such request until it is older (its timestamps may not tell a second
//! write within the filesystem's clock tick from the first). A file that is, or becomes, unfit
//! (missing, not a regular file, empty, over [`MAX_FILE_BYTES`], or holding a line break, a
//! NUL or another control byte, which no header can carry) is refused at start-up, and once
//! serving makes every request that needs the token a 503 until it is fixed: the server cannot
//! tell a right token from a wrong one then, and the client's credentials are not at fault.
//! The file is opened non-blocking and only a regular file is read, so a FIFO put in its
//! place never blocks.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hyper::HeaderMap;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::shim::ApiError;

/// The header the existing dashboard sends its session token in.
pub const SESSION_HEADER: &str = "x-hermes-session-token";
/// The largest token file read; a larger one is refused.
pub const MAX_FILE_BYTES: u64 = 4096;
/// How old a token file must be for its timestamps to be trusted to change on the next write.
pub const SETTLE: Duration = Duration::from_secs(2);

/// A token, as the server keeps it: its SHA-256 digest (fixed-size, whatever the token's
/// length).
type TokenDigest = [u8; 32];

fn digest(bytes: &[u8]) -> TokenDigest {
    Sha256::digest(bytes).into()
}

/// Whether `offered` is the token whose digest is `stored`, in constant time: both sides are
/// 32-byte digests, so neither the time nor the result depends on the token's length.
fn matches(stored: &TokenDigest, offered: &[u8]) -> subtle::Choice {
    digest(offered).ct_eq(stored)
}

/// Why the token file cannot be used. Its text names the problem, never the file's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfit {
    Missing,
    Unreadable(String),
    NotRegular(&'static str),
    TooLarge,
    Empty,
    Lines,
    Nul,
    Control,
}

impl std::fmt::Display for Unfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unfit::Missing => write!(f, "does not exist"),
            Unfit::Unreadable(e) => write!(f, "cannot be read: {e}"),
            Unfit::NotRegular(kind) => write!(f, "is {kind}, not a regular file"),
            Unfit::TooLarge => write!(f, "is over {MAX_FILE_BYTES} bytes"),
            Unfit::Empty => write!(f, "is empty"),
            Unfit::Lines => write!(f, "holds more than one line (one token, on one line)"),
            Unfit::Nul => write!(f, "holds a NUL byte"),
            Unfit::Control => write!(f, "holds a control character"),
        }
    }
}

impl Unfit {
    fn of_io(e: &std::io::Error) -> Unfit {
        match e.kind() {
            std::io::ErrorKind::NotFound => Unfit::Missing,
            _ => Unfit::Unreadable(e.to_string()),
        }
    }
}

/// The token in a file's bytes: surrounding white space trimmed; one line of bytes a header
/// can carry.
fn parse(bytes: &[u8]) -> Result<TokenDigest, Unfit> {
    let token = bytes.trim_ascii();
    if token.is_empty() {
        Err(Unfit::Empty)
    } else if token.iter().any(|&b| b == b'\n' || b == b'\r') {
        Err(Unfit::Lines)
    } else if token.contains(&0) {
        Err(Unfit::Nul)
    } else if token.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        Err(Unfit::Control)
    } else {
        Ok(digest(token))
    }
}

/// What identifies one content of the file: (device, inode, size, mtime, ctime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    file: (u64, u64),
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &Metadata) -> Stamp {
        Stamp {
            file: (m.dev(), m.ino()),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// Whether the file was last written more than [`SETTLE`] before `read_at`.
    fn settled(&self, read_at: SystemTime) -> bool {
        let newest = self.mtime.max(self.ctime);
        let Ok(read_at) = read_at.duration_since(SystemTime::UNIX_EPOCH) else {
            return false;
        };
        let written = Duration::new(
            u64::try_from(newest.0).unwrap_or(0),
            u32::try_from(newest.1).unwrap_or(0),
        );
        written + SETTLE < read_at
    }
}

fn kind(m: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "something else"
    }
}

/// One reading of the file.
#[derive(Debug, Clone)]
struct Reading {
    /// What was read (from `fstat` of the descriptor read); `None` when nothing was opened.
    stamp: Option<Stamp>,
    /// Whether `stamp` alone tells this content from the next (see [`SETTLE`]).
    settled: bool,
    token: Result<TokenDigest, Unfit>,
}

/// Read the token file: never blocking (`O_NONBLOCK`), only a regular file, at most
/// [`MAX_FILE_BYTES`].
fn read(path: &Path) -> Reading {
    let read_at = SystemTime::now();
    let unopened = |token| Reading {
        stamp: None,
        settled: false,
        token,
    };
    // Look first: a device is not even opened (its open may act).
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => return unopened(Err(Unfit::NotRegular(kind(&m)))),
        Ok(_) => {}
        Err(e) => return unopened(Err(Unfit::of_io(&e))),
    }
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => return unopened(Err(Unfit::of_io(&e))),
    };
    // What was opened counts: it may have been swapped since the look.
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return unopened(Err(Unfit::of_io(&e))),
    };
    let stamp = Stamp::of(&meta);
    let token = if meta.is_file() {
        read_bounded(file)
    } else {
        Err(Unfit::NotRegular(kind(&meta)))
    };
    Reading {
        stamp: Some(stamp),
        settled: stamp.settled(read_at),
        token,
    }
}

fn read_bounded(file: File) -> Result<TokenDigest, Unfit> {
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Unfit::of_io(&e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Unfit::TooLarge);
    }
    parse(&bytes)
}

/// The token file, and what it held when last read.
struct TokenFile {
    path: PathBuf,
    last: Mutex<Reading>,
}

impl TokenFile {
    /// The token's digest now: the last reading while the file is unchanged, else a new one.
    fn current(&self) -> Result<TokenDigest, Unfit> {
        let now = std::fs::metadata(&self.path).map(|m| Stamp::of(&m));
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let (Ok(now), Some(then)) = (&now, &last.stamp) {
            if last.settled && now == then {
                return last.token.clone();
            }
        }
        let fresh = read(&self.path);
        if fresh.token.as_ref().err() != last.token.as_ref().err() {
            match &fresh.token {
                Ok(_) => crate::log!(
                    "kanban-workers: the token file {} holds a token again",
                    self.path.display()
                ),
                Err(unfit) => crate::log!(
                    "kanban-workers: the token file {} {unfit}: refusing the requests that \
                     need the token until it is fixed",
                    self.path.display()
                ),
            }
        }
        *last = fresh;
        last.token.clone()
    }
}

/// The scope of a token (named as Hermes names its service tokens' scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `--token-file`'s: every route, acting (terminate, reap) and reading logs and trees
    /// included. Per host; never given to Prometheus.
    Admin,
    /// `--metrics-token-file`'s, `kanban.metrics`: `GET /metrics` and nothing else. What
    /// Prometheus holds, and so what every target it scrapes learns.
    Metrics,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Admin => "kanban.admin",
            Scope::Metrics => "kanban.metrics",
        }
    }
}

#[derive(Clone)]
pub struct Auth {
    token: Option<Arc<TokenFile>>,
    /// The token whose only scope is [`Scope::Metrics`].
    metrics: Option<Arc<TokenFile>>,
    /// Every request needs the token (`--auth-reads`, or a listener beyond loopback).
    required: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.debug_struct("Auth")
            .field("token_file", &self.token.as_ref().map(|t| t.path.clone()))
            .field(
                "metrics_token_file",
                &self.metrics.as_ref().map(|t| t.path.clone()),
            )
            .field("required", &self.required)
            .finish()
    }
}

/// What a request's headers offered, against the tokens configured.
enum Offered {
    /// A token of this scope.
    Token(Scope),
    /// A token, none of ours.
    Wrong,
    /// No token at all.
    Nothing,
}

impl Auth {
    /// No token: every request is answered (loopback only; see `config`).
    pub fn open() -> Auth {
        Auth {
            token: None,
            metrics: None,
            required: false,
        }
    }

    /// No admin token, every route needing one: only a scoped token added with
    /// [`Auth::with_metrics_token`] is accepted, where its scope reaches.
    pub fn none_but_scoped() -> Auth {
        Auth {
            token: None,
            metrics: None,
            required: true,
        }
    }

    /// The token in `file` (surrounding white space trimmed), read again whenever the file
    /// changes; `required`: on every route. An unfit file is an error naming the file and
    /// what is wrong with it.
    pub fn from_file(file: &Path, required: bool) -> Result<Auth, String> {
        Ok(Auth {
            token: Some(token_file(file)?),
            metrics: None,
            required,
        })
    }

    /// This policy, also accepting the token in `file` for `GET /metrics` only
    /// ([`Scope::Metrics`]). It must differ from the admin token (one credential, one job).
    pub fn with_metrics_token(mut self, file: &Path) -> Result<Auth, String> {
        let metrics = token_file(file)?;
        if let (Some(admin), Ok(m)) = (&self.token, metrics.current()) {
            if admin.current().is_ok_and(|a| bool::from(a.ct_eq(&m))) {
                return Err(format!(
                    "the metrics token file {} holds the same token as --token-file: a \
                     metrics token reads /metrics only, so it must be another token",
                    file.display()
                ));
            }
        }
        self.metrics = Some(metrics);
        Ok(self)
    }

    /// `Ok` when a request with `headers` may be answered; `metrics`: it asks for `/metrics`
    /// (which the metrics token may read).
    pub fn check(&self, headers: &HeaderMap, metrics: bool) -> Result<(), ApiError> {
        if !self.required {
            return Ok(());
        }
        match self.offered(headers)? {
            Offered::Token(Scope::Admin) => Ok(()),
            Offered::Token(Scope::Metrics) if metrics => Ok(()),
            Offered::Token(scope) => Err(out_of_scope(scope)),
            Offered::Wrong => Err(unauthorized("the token is wrong")),
            Offered::Nothing => Err(unauthorized(
                "a token is required: send it as Authorization: Bearer <token> or X-Hermes-Session-Token: <token>",
            )),
        }
    }

    /// `Ok` when a request that acts (terminate, reap) may: the admin token always, and none
    /// configured is a 403 saying how to configure one.
    pub fn check_acting(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.token.is_none() {
            return Err(ApiError::new(
                403,
                "terminate and reap need an access token: start kanban-workers with --token-file PATH \
                 (or $KANBAN_WORKERS_TOKEN_FILE) naming a file that holds it, and send it as \
                 Authorization: Bearer <token> or X-Hermes-Session-Token: <token>",
            ));
        }
        match self.offered(headers)? {
            Offered::Token(Scope::Admin) => Ok(()),
            Offered::Token(scope) => Err(out_of_scope(scope)),
            Offered::Wrong => Err(unauthorized("the token is wrong")),
            Offered::Nothing => Err(unauthorized(
                "a token is required: send it as Authorization: Bearer <token> or X-Hermes-Session-Token: <token>",
            )),
        }
    }

    /// Which of the tokens the headers offer (each candidate compared with each token in
    /// constant time). A token file that is unfit now is a 503 unless another token matched.
    fn offered(&self, headers: &HeaderMap) -> Result<Offered, ApiError> {
        let bearer = headers
            .get_all(hyper::header::AUTHORIZATION)
            .iter()
            .filter_map(|v| {
                let v = v.as_bytes();
                (v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer "))
                    .then(|| v[7..].trim_ascii())
            });
        let session = headers
            .get_all(SESSION_HEADER)
            .iter()
            .map(|v| v.as_bytes().trim_ascii());
        let candidates: Vec<&[u8]> = bearer.chain(session).collect();
        let mut unfit = None;
        for (file, scope) in [(&self.token, Scope::Admin), (&self.metrics, Scope::Metrics)] {
            let Some(file) = file else { continue };
            match file.current() {
                Ok(token) => {
                    let mut matched = subtle::Choice::from(0);
                    for candidate in &candidates {
                        matched |= matches(&token, candidate);
                    }
                    if bool::from(matched) {
                        return Ok(Offered::Token(scope));
                    }
                }
                Err(e) => unfit = unfit.or(Some(e)),
            }
        }
        if let Some(e) = unfit {
            return Err(unusable(e));
        }
        Ok(match candidates.is_empty() {
            true => Offered::Nothing,
            false => Offered::Wrong,
        })
    }
}

/// The token file at `file`, read once now: an error naming the file and what is wrong with
/// it when it is unfit.
fn token_file(file: &Path) -> Result<Arc<TokenFile>, String> {
    let first = read(file);
    if let Err(unfit) = &first.token {
        return Err(format!("the token file {} {unfit}", file.display()));
    }
    Ok(Arc::new(TokenFile {
        path: file.to_path_buf(),
        last: Mutex::new(first),
    }))
}

/// A right token asking beyond its scope: 403 (it is known; it may not do this).
fn out_of_scope(scope: Scope) -> ApiError {
    ApiError::new(
        403,
        format!(
            "this token's scope is {}: it reads GET /metrics only",
            scope.name()
        ),
    )
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(401, detail)
}

/// The token file is unfit: 503, not 401. No token can be checked now, whoever asks, and a
/// 401 would tell a client that holds the right token that it is wrong; the operator fixes
/// the file and the same request is answered. The detail names the problem, never the path
/// or the contents (the log line names the path).
fn unusable(unfit: Unfit) -> ApiError {
    ApiError::new(
        503,
        format!(
            "the token file {unfit}: the requests that need the token are refused until it \
             holds one token on one line (it is read again when it changes)"
        ),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// The token is kept as its SHA-256 digest only, and an offered token is compared by its
    /// digest: 32 bytes against 32 bytes, whatever either length (which is what keeps the
    /// comparison's time from depending on the token's length; timing itself is not tested).
    #[test]
    fn the_token_is_kept_and_compared_as_a_sha256_digest() {
        let stored: TokenDigest = parse(b"  s3cret\n").unwrap();
        let expected: [u8; 32] = Sha256::digest(b"s3cret").into();
        assert_eq!(stored, expected);
        assert!(bool::from(matches(&stored, b"s3cret")));
        let long = vec![b's'; 100_000];
        for other in [
            &b""[..],
            b"s3cre",
            b"s3cret!",
            b"S3CRET",
            b"s3cret\n",
            &long,
        ] {
            assert!(!bool::from(matches(&stored, other)), "{other:?}");
        }
    }

    #[test]
    fn token_files_hold_one_line_a_header_can_carry() {
        assert!(parse(b"tok\n").is_ok());
        assert!(parse(b"\t tok with inner space\r\n").is_ok());
        assert_eq!(parse(b"a\nb\n"), Err(Unfit::Lines));
        assert_eq!(parse(b"a\rb"), Err(Unfit::Lines));
        assert_eq!(parse(b"a\0b"), Err(Unfit::Nul));
        assert_eq!(parse(b"a\x1bb"), Err(Unfit::Control));
        assert_eq!(parse(b"a\x7fb"), Err(Unfit::Control));
        assert_eq!(parse(b" \n\t"), Err(Unfit::Empty));
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert_eq!(read(&big).token, Err(Unfit::TooLarge));
        std::fs::write(&big, vec![b'x'; MAX_FILE_BYTES as usize]).unwrap();
        assert!(read(&big).token.is_ok());
        assert_eq!(
            read(dir.path()).token,
            Err(Unfit::NotRegular("a directory"))
        );
        assert_eq!(read(&dir.path().join("none")).token, Err(Unfit::Missing));
    }

    /// A file written just now is not trusted to show its next write in its timestamps; one
    /// written long before it was read is.
    #[test]
    fn only_a_file_older_than_the_settle_time_is_judged_by_its_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "tok").unwrap();
        let reading = read(&path);
        assert!(!reading.settled);
        let stamp = reading.stamp.unwrap();
        assert!(stamp.settled(SystemTime::now() + SETTLE + Duration::from_secs(1)));
    }

    /// A settled reading is used while the file's stamp is unchanged (nothing is read), and
    /// a changed stamp (here its size) makes it read again.
    #[test]
    fn a_settled_reading_is_used_until_the_stamp_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first").unwrap();
        let mut reading = read(&path);
        reading.settled = true;
        // A marker no read of the file gives: seen only if the reading is reused.
        let marker = digest(b"the reading was reused");
        reading.token = Ok(marker);
        let file = TokenFile {
            path: path.clone(),
            last: Mutex::new(reading),
        };
        assert_eq!(file.current(), Ok(marker));
        std::fs::write(&path, "second, longer").unwrap();
        assert_eq!(file.current(), Ok(digest(b"second, longer")));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.current(), Err(Unfit::Missing));
    }
}
