//! Every request head on a connection, checked before hyper sees it, so that the answers hyper
//! would give with an empty body (400 for a malformed head, 431 for oversized headers) and a
//! silent close (slow headers) become JSON `detail` answers like every other error, on the
//! first request of a connection and on every later one.
//!
//! [`HeadGuard`] sits between the socket and hyper and hands hyper one request at a time: a
//! head that passes, then exactly its body (`Content-Length` bytes, or a chunked body framed
//! by its chunk-size lines and ended by its trailer section), then the next head. A head that
//! fails is never shown to hyper: the guard records why in the connection's [`Refusal`] slot
//! and hands hyper a fixed, well-formed request carrying [`REFUSAL_HEADER`] and
//! `connection: close` instead. The service answers that request with the recorded status and
//! detail, and hyper closes the connection. Only a chunked body whose framing is itself broken
//! (a chunk-size line that is not hex, or longer than 4 KiB) makes the guard step aside for the
//! rest of that connection; hyper then refuses it in its own way. (The routes read no body.)
//!
//! The header timeout runs from the moment the guard waits for a head, and from the start of
//! each response while hyper polls for the next head during a request: a connection that
//! sends part of a head and stalls gets 408; one that sends nothing at all is closed quietly;
//! a request that takes longer than the timeout to answer is still answered.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The header on the stand-in request that tells the service to answer with the refusal.
pub const REFUSAL_HEADER: &str = "x-kanban-workers-refusal";

/// What the stand-in request looks like to hyper.
const STAND_IN: &[u8] =
    b"GET / HTTP/1.1\r\nconnection: close\r\nx-kanban-workers-refusal: 1\r\n\r\n";

/// What comes after the bytes being forwarded.
#[derive(Clone, Copy)]
enum Next {
    Head,
    ChunkSizeLine,
    TrailerLine,
}

/// The longest chunk-size or trailer line the guard frames.
const MAX_LINE: usize = 4096;

/// The most one read from the socket asks for.
const READ_CHUNK: usize = 4096;

/// hyper's own default limit on the number of headers.
const MAX_HEADERS: usize = 100;

/// Why this connection's last head was refused: (status, detail). Set at most once.
pub type Refusal = Arc<OnceLock<(u16, String)>>;

enum State {
    /// The next bytes must be a request head.
    AwaitingHead,
    /// Hand this many more bytes of the current request to hyper, then expect `then`.
    Forwarding { left: u64, then: Next },
    /// The next bytes are a chunk-size line of a chunked body.
    ChunkSizeLine,
    /// The next bytes are a trailer line, or the empty line that ends a chunked body.
    TrailerLine,
    /// A chunked body's framing was broken: every byte goes to hyper unchecked from now on.
    PassThrough,
    /// Hand over the stand-in request, then nothing more: hyper answers it and, as it asks,
    /// closes the connection. (An end of stream here would make hyper drop the answer.)
    Refused,
    /// End of stream: the connection is closed without an answer.
    Closed,
}

/// The guard over a connection `S` (a `TcpStream` in the server).
pub struct HeadGuard<S> {
    inner: S,
    /// Bytes read from the socket and not yet handed to hyper: `buf[pos..end]`. Allocated and
    /// zeroed once per connection, large enough for the longest head allowed plus one read.
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    state: State,
    deadline: Pin<Box<Sleep>>,
    /// A request was handed to hyper and its response has not started: the deadline waits.
    answering: bool,
    max_head: usize,
    timeout: Duration,
    refusal: Refusal,
}

/// What the buffered bytes hold.
enum Head {
    Partial,
    /// A well-formed head of `len` bytes, followed by `body` bytes, or by a chunked body.
    Complete {
        len: usize,
        body: u64,
        chunked: bool,
    },
    Bad(u16, String),
}

impl<S: AsyncRead + Unpin> HeadGuard<S> {
    pub fn new(inner: S, max_head: usize, timeout: Duration, refusal: Refusal) -> Self {
        HeadGuard {
            inner,
            buf: vec![0; max_head + READ_CHUNK].into_boxed_slice(),
            pos: 0,
            end: 0,
            state: State::AwaitingHead,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            answering: false,
            max_head,
            timeout,
            refusal,
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Moves up to `limit` buffered bytes into `out`; returns how many.
    fn hand_over(&mut self, out: &mut ReadBuf<'_>, limit: u64) -> usize {
        let n = self
            .buffered()
            .len()
            .min(out.remaining())
            .min(usize::try_from(limit).unwrap_or(usize::MAX));
        out.put_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        n
    }

    /// Reads more from the socket into the buffer; `Ok(0)` is the end of the stream. Called
    /// only with fewer than `max_head` bytes buffered, so there is room for `READ_CHUNK` more.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.pos == self.end {
            (self.pos, self.end) = (0, 0);
        } else if self.buf.len() - self.end < READ_CHUNK {
            self.buf.copy_within(self.pos..self.end, 0);
            (self.pos, self.end) = (0, self.end - self.pos);
        }
        let mut read = ReadBuf::new(&mut self.buf[self.end..]);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut read))?;
        let n = read.filled().len();
        self.end += n;
        Poll::Ready(Ok(n))
    }

    fn refuse(&mut self, status: u16, detail: String) {
        // Set once per connection: the stand-in request is the last one hyper gets.
        let _ = self.refusal.set((status, detail));
        self.buf[..STAND_IN.len()].copy_from_slice(STAND_IN);
        (self.pos, self.end) = (0, STAND_IN.len());
        self.state = State::Refused;
    }

    /// Closes the connection without an answer (it never started a request).
    fn end_quietly(&mut self) {
        (self.pos, self.end) = (0, 0);
        self.state = State::Closed;
    }

    fn await_next_head(&mut self) {
        self.restart_deadline();
        self.answering = true;
        self.state = State::AwaitingHead;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeadGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this.state {
                State::Forwarding { left, then } => {
                    if left == 0 {
                        match then {
                            Next::Head => this.await_next_head(),
                            Next::ChunkSizeLine => this.state = State::ChunkSizeLine,
                            Next::TrailerLine => this.state = State::TrailerLine,
                        }
                        continue;
                    }
                    if this.buffered().is_empty() && ready!(this.fill(cx))? == 0 {
                        return Poll::Ready(Ok(())); // the client left mid-request
                    }
                    let n = this.hand_over(out, left);
                    this.state = State::Forwarding {
                        left: left - n as u64,
                        then,
                    };
                    return Poll::Ready(Ok(()));
                }
                State::ChunkSizeLine | State::TrailerLine => {
                    let Some(end) = this.buffered().iter().position(|b| *b == b'\n') else {
                        if this.buffered().len() > MAX_LINE {
                            this.state = State::PassThrough;
                        } else if ready!(this.fill(cx))? == 0 {
                            return Poll::Ready(Ok(())); // the client left mid-body
                        }
                        continue;
                    };
                    let line = &this.buffered()[..=end];
                    let len = line.len() as u64;
                    this.state = if matches!(this.state, State::TrailerLine) {
                        let last = line == b"\r\n" || line == b"\n";
                        let then = if last { Next::Head } else { Next::TrailerLine };
                        State::Forwarding { left: len, then }
                    } else {
                        match chunk_size(line) {
                            Some(0) => State::Forwarding {
                                left: len,
                                then: Next::TrailerLine,
                            },
                            // The line, the chunk's data and the CRLF after it.
                            Some(size) => {
                                match len.checked_add(size).and_then(|n| n.checked_add(2)) {
                                    Some(left) => State::Forwarding {
                                        left,
                                        then: Next::ChunkSizeLine,
                                    },
                                    None => State::PassThrough,
                                }
                            }
                            None => State::PassThrough,
                        }
                    };
                }
                State::PassThrough => {
                    if this.buffered().is_empty() {
                        return Pin::new(&mut this.inner).poll_read(cx, out);
                    }
                    this.hand_over(out, u64::MAX);
                    return Poll::Ready(Ok(()));
                }
                State::Refused => {
                    if this.hand_over(out, u64::MAX) == 0 {
                        return Poll::Pending;
                    }
                    return Poll::Ready(Ok(()));
                }
                State::Closed => return Poll::Ready(Ok(())),
                State::AwaitingHead => {
                    match parse_head(this.buffered()) {
                        Head::Complete { len, body, chunked } => {
                            this.state = State::Forwarding {
                                left: len as u64 + body,
                                then: if chunked {
                                    Next::ChunkSizeLine
                                } else {
                                    Next::Head
                                },
                            };
                            continue;
                        }
                        Head::Bad(status, detail) => {
                            this.refuse(status, detail);
                            continue;
                        }
                        Head::Partial => {}
                    }
                    if this.buffered().len() > this.max_head {
                        let detail =
                            format!("request line and headers exceed {} bytes", this.max_head);
                        this.refuse(431, detail);
                        continue;
                    }
                    if this.deadline.as_mut().poll(cx).is_ready() {
                        if this.answering {
                            // The service is still working on the last request: its time
                            // is not the client's. Wait on.
                            this.restart_deadline();
                            continue;
                        }
                        if this.buffered().is_empty() {
                            this.end_quietly(); // an idle connection, not a request
                        } else {
                            let detail = format!(
                                "request headers not received within {} s",
                                this.timeout.as_secs()
                            );
                            this.refuse(408, detail);
                        }
                        continue;
                    }
                    if ready!(this.fill(cx))? == 0 {
                        return Poll::Ready(Ok(())); // the client left
                    }
                }
            }
        }
    }
}

/// Parses the head at the start of `bytes`, as strictly as hyper will.
fn parse_head(bytes: &[u8]) -> Head {
    if bytes.is_empty() {
        return Head::Partial;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(bytes) {
        Ok(httparse::Status::Partial) => return Head::Partial,
        Ok(httparse::Status::Complete(len)) => len,
        Err(httparse::Error::TooManyHeaders) => {
            return Head::Bad(431, format!("more than {MAX_HEADERS} request headers"));
        }
        Err(e) => {
            let detail = request_line_problem(bytes)
                .unwrap_or_else(|| format!("malformed request head: {e}"));
            return Head::Bad(400, detail);
        }
    };
    // httparse lets through target bytes that hyper's URI parser then refuses (empty 400).
    let printable = |t: &str| t.bytes().all(|b| (0x21..0x7f).contains(&b));
    if !request.path.is_some_and(printable) {
        let detail = request_line_problem(&bytes[..len])
            .unwrap_or_else(|| "malformed request target".to_owned());
        return Head::Bad(400, detail);
    }
    let mut body: Option<u64> = None;
    let mut coding: Option<&[u8]> = None; // the last transfer coding named
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            coding = header.value.rsplit(|b| *b == b',').next();
        } else if header.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            match (value, body) {
                (Some(v), None) => body = Some(v),
                (Some(v), Some(earlier)) if v == earlier => {}
                _ => {
                    return Head::Bad(
                        400,
                        "invalid content-length: not one non-negative integer".to_owned(),
                    );
                }
            }
        }
    }
    // Framing a request two ways is how requests are smuggled past a proxy: refuse it, as
    // RFC 9112 (6.1) allows, and refuse what hyper would refuse with an empty body.
    let chunked = match coding {
        None => false,
        Some(_) if body.is_some() => {
            return Head::Bad(
                400,
                "both Transfer-Encoding and Content-Length: send one".to_owned(),
            );
        }
        Some(_) if request.version == Some(0) => {
            return Head::Bad(400, "Transfer-Encoding needs HTTP/1.1".to_owned());
        }
        Some(last) if last.trim_ascii().eq_ignore_ascii_case(b"chunked") => true,
        Some(_) => {
            return Head::Bad(
                400,
                "Transfer-Encoding of a request must end with chunked".to_owned(),
            );
        }
    };
    Head::Complete {
        len,
        body: body.unwrap_or(0),
        chunked,
    }
}

/// The size in a chunk-size line (`1a;ext=x\r\n`), if it is one.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line
        .split(|b| *b == b';' || *b == b'\r' || *b == b'\n')
        .next()?
        .trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// Why the request line is not `METHOD SP TARGET SP HTTP/1.x`, if it is not.
fn request_line_problem(head: &[u8]) -> Option<String> {
    // Empty lines before the request line are allowed (RFC 9112, 2.2), as hyper allows them.
    let start = head
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(head.len());
    let head = &head[start..];
    let line_end = head
        .iter()
        .position(|b| *b == b'\r' || *b == b'\n')
        .unwrap_or(head.len());
    let line = &head[..line_end];
    if let Some(bad) = line.iter().find(|b| !(0x20..0x7f).contains(*b)) {
        return Some(format!(
            "malformed request line: byte 0x{bad:02x} is not printable ASCII (percent-encode it)"
        ));
    }
    let text = String::from_utf8_lossy(line);
    let parts: Vec<&str> = text.split(' ').collect();
    match parts.as_slice() {
        [method, target, version]
            if !method.is_empty()
                && method
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                && !target.is_empty()
                && (*version == "HTTP/1.1" || *version == "HTTP/1.0") =>
        {
            None
        }
        _ => Some(format!(
            "malformed request line '{}': expected METHOD /path HTTP/1.1",
            super::routes::shown(&text)
        )),
    }
}

impl<S> HeadGuard<S> {
    fn restart_deadline(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.timeout);
    }

    /// hyper writes: the response has started, and the client's time runs again from here.
    fn answered(&mut self) {
        if self.answering {
            self.answering = false;
            self.restart_deadline();
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeadGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.answered();
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.answered();
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn bad(bytes: &[u8]) -> (u16, String) {
        match parse_head(bytes) {
            Head::Bad(status, detail) => (status, detail),
            Head::Partial => panic!("partial: {bytes:?}"),
            Head::Complete { .. } => panic!("accepted: {bytes:?}"),
        }
    }

    #[test]
    fn complete_heads_and_their_bodies() {
        let first = b"GET /workers/active HTTP/1.1\r\nHost: x\r\n\r\n";
        let pipelined = [&first[..], b"GET /next"].concat();
        assert!(matches!(
            parse_head(&pipelined),
            Head::Complete { len, body: 0, chunked: false } if len == first.len()
        ));
        assert!(matches!(
            parse_head(b"\r\nGET / HTTP/1.1\r\n\r\n"),
            Head::Complete { len: 20, .. }
        ));
        let head = b"POST /runs/1 HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello";
        assert!(matches!(
            parse_head(head),
            Head::Complete {
                body: 5,
                chunked: false,
                ..
            }
        ));
        let head = b"POST /runs/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
        assert!(matches!(
            parse_head(head),
            Head::Complete {
                body: 0,
                chunked: true,
                ..
            }
        ));
        assert!(matches!(
            parse_head(b"HEAD /runs/1?x=%ff HTTP/1.0\r\n\r\n"),
            Head::Complete { .. }
        ));
        assert!(matches!(parse_head(b"GET /workers/act"), Head::Partial));
        assert!(matches!(parse_head(b""), Head::Partial));
    }

    /// What hyper would read through the guard from `sent`: `expect` bytes, or less if the
    /// guard ends the stream first.
    fn through_guard(sent: &[u8], expect: usize) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (mut client, server) = tokio::io::duplex(64 * 1024);
            client.write_all(sent).await.expect("write");
            drop(client); // the end of the stream comes after the bytes
            let refusal: Refusal = Arc::new(OnceLock::new());
            let mut guard = HeadGuard::new(server, 16 * 1024, Duration::from_secs(5), refusal);
            let mut got = vec![0; expect];
            let mut n = 0;
            while n < expect {
                // Small reads, as hyper's may be: framing must not depend on read sizes.
                let end = (n + 7).min(expect);
                match guard.read(&mut got[n..end]).await.expect("read") {
                    0 => break,
                    k => n += k,
                }
            }
            got.truncate(n);
            got
        })
    }

    #[test]
    fn chunked_bodies_are_framed_to_the_next_head() {
        let data = "NOT-HTTP\r\n\r\nGET / HTTP/1.1\r\n";
        let request = format!(
            "POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n\
             4;x=y\r\nGET \r\n{:X}\r\n{data}\r\n0\r\nX-Trailer: GET /\r\n\r\n",
            data.len()
        );
        let good = "GET /workers/active HTTP/1.1\r\n\r\n";
        // Every byte of both requests, in order, then the stand-in for the bad third head.
        let sent = format!("{request}{good}NOT-HTTP\r\n\r\n");
        let expected = [request.as_bytes(), good.as_bytes(), STAND_IN].concat();
        assert_eq!(
            String::from_utf8_lossy(&through_guard(sent.as_bytes(), expected.len())),
            String::from_utf8_lossy(&expected)
        );
        // Broken framing: the guard steps aside and hands over the rest as it is.
        let sent = "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nNOT-HTTP\r\n\r\n";
        assert_eq!(
            through_guard(sent.as_bytes(), sent.len() + 10),
            sent.as_bytes()
        );
    }

    #[test]
    fn chunk_size_lines() {
        assert_eq!(chunk_size(b"0\r\n"), Some(0));
        assert_eq!(chunk_size(b"1a\r\n"), Some(26));
        assert_eq!(chunk_size(b"FF;name=value\r\n"), Some(255));
        assert_eq!(chunk_size(b"10 \n"), Some(16));
        assert_eq!(chunk_size(b"\r\n"), None);
        assert_eq!(chunk_size(b"+5\r\n"), None);
        assert_eq!(chunk_size(b"zz\r\n"), None);
        assert_eq!(chunk_size(b"11111111111111111\r\n"), None); // over 64 bits
    }

    #[test]
    fn malformed_heads_say_what_is_wrong() {
        let (status, detail) = bad(b"GET /w\xffx HTTP/1.1\r\n\r\n");
        assert_eq!(status, 400);
        assert!(detail.contains("0xff"), "{detail}");
        assert!(bad(b"NOT-HTTP\r\n\r\n").1.contains("expected METHOD"));
        assert_eq!(bad(b"GET / HTTP/2\r\n\r\n").0, 400);
        assert_eq!(bad(b"GET  / HTTP/1.1\r\n\r\n").0, 400);
        let (status, detail) = bad(b"GET / HTTP/1.1\r\nbad name: x\r\n\r\n");
        assert_eq!(status, 400);
        assert!(detail.contains("header name"), "{detail}");
        let (status, detail) =
            bad(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(status, 400);
        assert!(detail.contains("content-length"), "{detail}");
        assert_eq!(bad(b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").0, 400);
        for (head, words) in [
            (
                &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"[..],
                "both",
            ),
            (
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                "HTTP/1.1",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                "end with chunked",
            ),
        ] {
            let (status, detail) = bad(head);
            assert_eq!(status, 400);
            assert!(detail.contains(words), "{detail}");
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("h{i}: v\r\n")).collect();
        let (status, detail) = bad(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes());
        assert_eq!(status, 431);
        assert!(detail.contains("more than 100"), "{detail}");
    }
}
