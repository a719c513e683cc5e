//! A plain HTTP/1.1 client over loopback TCP; responses parsed with httparse.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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

/// One request with `Connection: close`, read to EOF. `Host` is the server's address unless
/// `headers` name one.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    http_raw(addr, head.as_bytes())
}

/// A connection with a read timeout long enough for any answer the tests wait for.
pub fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    stream
}

/// Send raw bytes as a request and parse the response (read to EOF).
pub fn http_raw(addr: &str, request: &[u8]) -> HttpResponse {
    let mut stream = connect(addr);
    stream.write_all(request).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let (mut response, head_len) =
        parse_head(&raw).unwrap_or_else(|| panic!("no response head in {:?}", lossy(&raw)));
    response.body = raw[head_len..].to_vec();
    response
}

/// Reads one response (head, then a `content-length` body) from a kept-alive connection, so
/// that the next request can go on the same connection.
pub fn read_one_response(stream: &mut TcpStream) -> HttpResponse {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    let (mut response, _) = loop {
        if let Some(parsed) = parse_head(&raw) {
            break parsed;
        }
        let n = stream.read(&mut byte).expect("read response head");
        assert_eq!(n, 1, "connection closed mid-head: {:?}", lossy(&raw));
        raw.push(byte[0]);
    };
    let length: usize = response
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .expect("content-length");
    response.body = vec![0; length];
    stream.read_exact(&mut response.body).expect("read body");
    response
}

/// The response head at the start of `raw` and its length; `None` while it is incomplete.
pub fn parse_head(raw: &[u8]) -> Option<(HttpResponse, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(raw) {
        Ok(httparse::Status::Complete(len)) => {
            let response = HttpResponse {
                status: parsed.code.expect("status code"),
                headers: parsed
                    .headers
                    .iter()
                    .map(|h| (h.name.to_owned(), lossy(h.value)))
                    .collect(),
                body: Vec::new(),
            };
            Some((response, len))
        }
        Ok(httparse::Status::Partial) => None,
        Err(e) => panic!("malformed response head ({e}): {:?}", lossy(raw)),
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
