//! The first request head of each connection, read before hyper sees it, so that the answers
//! hyper would give with an empty body (400 for a malformed request line, 431 for oversized
//! headers) and a silent close (slow headers) become JSON `detail` answers like every other
//! error. A head that passes is handed to hyper with its bytes put back in front of the stream.
//! Later requests on a kept-alive connection are hyper's alone (its limits still apply).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// What the first head turned out to be.
pub enum Preflight {
    /// A well-formed head: serve it (the bytes read so far come first).
    Serve(Rewind),
    /// Answered here with a JSON error; the connection is closed. (status, detail) for the log.
    Refused(u16, String),
    /// The client went away before sending a head.
    Gone,
}

pub async fn check(mut stream: TcpStream, max_head: usize, timeout: Duration) -> Preflight {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + timeout;
    let refusal = loop {
        if let Some(end) = find_head_end(&buf) {
            match request_line_problem(&buf[..end]) {
                None => {
                    return Preflight::Serve(Rewind {
                        prefix: buf,
                        pos: 0,
                        inner: stream,
                    });
                }
                Some(problem) => break (400, problem),
            }
        }
        if buf.len() > max_head {
            break (
                431,
                format!("request line and headers exceed {max_head} bytes"),
            );
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Preflight::Gone,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) if buf.is_empty() => return Preflight::Gone, // an idle connection, not a request
            Err(_) => {
                break (
                    408,
                    format!(
                        "request headers not received within {} s",
                        timeout.as_secs()
                    ),
                );
            }
        }
    };
    let (status, detail) = refusal;
    let body = serde_json::json!({ "detail": detail }).to_string();
    let reason = match status {
        400 => "Bad Request",
        408 => "Request Timeout",
        _ => "Request Header Fields Too Large",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
    Preflight::Refused(status, detail)
}

/// Index just past the blank line that ends the head, if it has arrived.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Why the request line is not `METHOD SP TARGET SP HTTP/1.x`, if it is not.
fn request_line_problem(head: &[u8]) -> Option<String> {
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
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

/// A stream with bytes already read put back in front.
pub struct Rewind {
    prefix: Vec<u8>,
    pos: usize,
    inner: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = (this.prefix.len() - this.pos).min(out.remaining());
            out.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, out)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
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

    #[test]
    fn request_lines() {
        assert_eq!(
            request_line_problem(b"GET /workers/active HTTP/1.1\r\nHost: x\r\n\r\n"),
            None
        );
        assert_eq!(
            request_line_problem(b"HEAD /runs/1?x=%ff HTTP/1.0\r\n\r\n"),
            None
        );
        assert!(
            request_line_problem(b"GET /w\xffx HTTP/1.1\r\n\r\n")
                .is_some_and(|p| p.contains("0xff"))
        );
        assert!(
            request_line_problem(b"NOT-HTTP\r\n\r\n")
                .is_some_and(|p| p.contains("expected METHOD"))
        );
        assert!(request_line_problem(b"GET / HTTP/2\r\n\r\n").is_some());
        assert!(request_line_problem(b"GET  / HTTP/1.1\r\n\r\n").is_some());
    }
}
