//! A Prometheus-compatible query API (`/api/v1/query`: Prometheus, Thanos, VictoriaMetrics),
//! asked over plain HTTP with hyper's client: instant queries only, each bounded by a deadline
//! and by the size of its answer. Knows nothing of boards or of the shim's routes.

use std::collections::BTreeMap;
use std::time::Instant;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// The most bytes of one answer read (a fleet of 25,000 workers' series is a few MB).
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Where the query API is: `http://host[:port][/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prometheus {
    pub url: String,
    host: String,
    port: u16,
    prefix: String,
}

/// One series of an instant vector: its labels, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Why a query has no answer; its text names the query API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failed {
    /// No answer by the deadline (a 504).
    Late(String),
    /// No answer at all, or not one of a query API (a 502).
    Bad(String),
}

impl Prometheus {
    /// `url` as `--prometheus` takes it: `http://HOST[:PORT][/PREFIX]` (port 9090 by default).
    pub fn parse(url: &str) -> Result<Prometheus, String> {
        let bad = |why: &str| format!("--prometheus: '{url}' {why}");
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("is not an http:// address (https: put a local proxy before it)"))?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad("has a port that is not a number"))?,
            ),
            _ => (authority, 9090),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || authority.contains('@') {
            return Err(bad("names no host"));
        }
        Ok(Prometheus {
            url: url.trim_end_matches('/').to_owned(),
            host: host.to_owned(),
            port,
            prefix: prefix.to_owned(),
        })
    }

    /// The instant vector `promql` evaluates to now, by `deadline`.
    pub async fn query(&self, promql: &str, deadline: Instant) -> Result<Vec<Series>, Failed> {
        match tokio::time::timeout_at(deadline.into(), self.ask(promql)).await {
            Ok(answer) => answer,
            Err(_) => Err(Failed::Late(format!(
                "Prometheus at {} did not answer in time",
                self.url
            ))),
        }
    }

    async fn ask(&self, promql: &str) -> Result<Vec<Series>, Failed> {
        let bad = |why: String| Failed::Bad(format!("Prometheus at {}: {why}", self.url));
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| bad(e.to_string()))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| bad(e.to_string()))?;
        tokio::spawn(conn);
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", promql)
            .finish();
        let request = hyper::Request::get(format!("{}/api/v1/query?{query}", self.prefix))
            .header(hyper::header::HOST, format!("{}:{}", self.host, self.port))
            .header(hyper::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| bad(e.to_string()))?;
        let response = send
            .send_request(request)
            .await
            .map_err(|e| bad(e.to_string()))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| {
                bad(format!(
                    "its answer could not be read ({e}; at most {} MiB)",
                    MAX_ANSWER_BYTES >> 20
                ))
            })?
            .to_bytes();
        let answer: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| bad(format!("answered {status} without JSON")))?;
        if answer["status"] != "success" {
            let error = answer["error"].as_str().unwrap_or("no error given");
            return Err(bad(format!("answered {status}: {error}")));
        }
        let result = answer["data"]["result"]
            .as_array()
            .ok_or_else(|| bad("answered no vector".to_owned()))?;
        Ok(result.iter().filter_map(series).collect())
    }
}

/// One result of an instant vector (`{"metric": {...}, "value": [t, "v"]}`).
fn series(v: &serde_json::Value) -> Option<Series> {
    let labels = v["metric"]
        .as_object()?
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    let value = v["value"][1].as_str()?.parse::<f64>().ok()?;
    Some(Series { labels, value })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_an_http_url_with_an_optional_port_and_prefix() {
        let p = Prometheus::parse("http://prom.internal:9091/thanos/").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.prefix.as_str()),
            ("prom.internal", 9091, "/thanos")
        );
        let p = Prometheus::parse("http://127.0.0.1").unwrap();
        assert_eq!((p.port, p.prefix.as_str()), (9090, ""));
        let p = Prometheus::parse("http://[::1]:9090").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 9090));
        for bad in [
            "https://p:9090",
            "p:9090",
            "http://",
            "http://p:x",
            "http://u@p:1",
        ] {
            assert!(Prometheus::parse(bad).is_err(), "{bad}");
        }
    }
}
