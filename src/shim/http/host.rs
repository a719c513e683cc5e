//! Which `Host` a request may name: the defence against DNS rebinding. A web page can make
//! its own host name resolve to 127.0.0.1 and then read a loopback server with the browser's
//! help, but the browser still sends the page's name as `Host`. So on a loopback listener only
//! loopback names are answered (`localhost`, `127.0.0.1` and the rest of 127/8, `[::1]`, with
//! any port), plus the names given with `--allow-host`. On a listener beyond loopback
//! (`--allow-remote`) every name is answered unless names are given.

use std::net::{IpAddr, SocketAddr};

use crate::shim::ApiError;
use crate::shim::http::routes::shown;

#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// Answer loopback names.
    loopback: bool,
    /// Answer every name (a remote listener without `--allow-host`).
    any: bool,
    /// Lower-case names without port, from `--allow-host`.
    names: Vec<String>,
}

impl HostPolicy {
    pub fn new(listen: SocketAddr, names: Vec<String>) -> HostPolicy {
        let loopback = listen.ip().is_loopback();
        HostPolicy {
            loopback,
            any: !loopback && names.is_empty(),
            names,
        }
    }

    /// `Ok` when a request naming `host` (the `Host` header, or the authority of an
    /// absolute request target) may be answered. A request without a host (HTTP/1.0) is
    /// answered: browsers always send one.
    pub fn check(&self, host: Option<&[u8]>) -> Result<(), ApiError> {
        let Some(raw) = host else {
            return Ok(());
        };
        if self.any {
            return Ok(());
        }
        let text = String::from_utf8_lossy(raw);
        let name = name_of(&text);
        let allowed = (self.loopback && is_loopback_name(&name)) || self.names.contains(&name);
        if allowed {
            Ok(())
        } else {
            Err(ApiError::new(
                400,
                format!(
                    "host '{}' is not answered here: this server answers loopback names \
                     (localhost, 127.0.0.1, [::1]); start it with --allow-host NAME to answer \
                     another name",
                    shown(&text)
                ),
            ))
        }
    }
}

/// The host name of a `Host` value, lower-case, without port and trailing dot; an IPv6
/// literal without its brackets.
fn name_of(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn is_loopback_name(name: &str) -> bool {
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn policy(listen: &str, names: &[&str]) -> HostPolicy {
        HostPolicy::new(
            listen.parse().unwrap(),
            names.iter().map(|n| n.to_string()).collect(),
        )
    }

    #[test]
    fn loopback_listener_answers_loopback_names_only() {
        let p = policy("127.0.0.1:8765", &[]);
        for ok in [
            "127.0.0.1:8765",
            "127.0.0.1",
            "localhost:8765",
            "LOCALHOST.",
            "[::1]:8765",
            "[::1]",
            "127.1.2.3:1",
        ] {
            assert!(p.check(Some(ok.as_bytes())).is_ok(), "{ok}");
        }
        assert!(p.check(None).is_ok());
        for bad in [
            "evil.example:8765",
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "",
            "[::2]",
            "10.0.0.1",
        ] {
            let e = p.check(Some(bad.as_bytes())).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
            assert!(e.detail.contains("--allow-host"), "{}", e.detail);
        }
        let named = policy("127.0.0.1:8765", &["dash.internal"]);
        assert!(named.check(Some(b"dash.internal:8765")).is_ok());
        assert!(named.check(Some(b"localhost")).is_ok());
    }

    #[test]
    fn remote_listener_answers_any_name_unless_names_are_given() {
        assert!(policy("0.0.0.0:80", &[]).check(Some(b"anything")).is_ok());
        let named = policy("0.0.0.0:80", &["dash.example"]);
        assert!(named.check(Some(b"dash.example")).is_ok());
        assert!(named.check(Some(b"other.example")).is_err());
        assert!(named.check(Some(b"localhost")).is_err());
    }
}
