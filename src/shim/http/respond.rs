//! The response: its headers (content type, nosniff, the page's policy), its body kinds.

use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};

use crate::shim::answer;
use crate::shim::http::routes;

/// Every answer's body: a whole one (`Full`), or a log followed (`Events`).
pub type ResponseBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// A whole answer's body.
pub(super) fn full(bytes: Bytes) -> ResponseBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}
pub(super) fn to_json(body: &serde_json::Value) -> Bytes {
    Bytes::from(answer::to_bytes(body))
}

/// The content type of every answer but a route's own 200 (its row's `content_type`).
pub(super) use crate::shim::http::routes::JSON;

pub(super) fn respond(
    status: u16,
    bytes: Bytes,
    head: bool,
    content_type: &'static str,
    path: &str,
) -> Response<ResponseBody> {
    let length = bytes.len();
    let mut response = Response::new(if head {
        full(Bytes::new())
    } else {
        full(bytes)
    });
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    // Room for the usual three at once, not grown header by header.
    headers.reserve(4);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // hyper writes a whole body's length itself; a HEAD's body is empty, so its length is said
    // here (the length the GET would have).
    if head {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
    if status == 405 {
        headers.insert(ALLOW, HeaderValue::from_static(routes::allow_for(path)));
    }
    if status == 401 {
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    headers.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if content_type == routes::PAGE_CONTENT_TYPE {
        // The page's own script and style only, its requests to this server only, never in a
        // frame (it holds a token and a terminate button), no referrer (its address may carry
        // the token's fragment; browsers never send fragments, but say so anyway).
        headers.insert(
            hyper::header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
        headers.insert(
            hyper::header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        );
        headers.insert(
            hyper::header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    response
}

/// What the page may load and do.
pub(super) const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";
