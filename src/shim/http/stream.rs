//! `GET /runs/{id}/log?follow=1`: a place among the streams (the board's and the client's
//! shares), the run found, then the events of `answer::follow` as the body.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use http_body_util::BodyExt;
use hyper::Response;
use hyper::body::{Body, Bytes, Frame};
use hyper::header::{CONTENT_TYPE, HeaderValue};

use crate::shim::ApiError;
use crate::shim::board::resolve::Boards;
use crate::shim::http::routes;
use crate::shim::http::state::{State, on_reader, waited};

use super::respond::{ResponseBody, full};

/// `GET /runs/{id}/log?follow=1`: the parameters, a place among the streams (503 when none is
/// free), the board and the run found on a reader thread within the request's budget, then
/// the stream (`answer::follow`) on a task of its own, its events through a short channel.
pub(super) async fn follow_log(
    state: &Arc<State>,
    id: i64,
    query: Option<&str>,
    started: Instant,
    head: bool,
    peer: Option<std::net::IpAddr>,
) -> Result<Response<ResponseBody>, ApiError> {
    use crate::shim::answer::follow;
    let asked = Boards::asked(routes::board(query).as_deref())?;
    routes::follow(query)?;
    let tail = routes::follow_tail(query)?;
    let Ok(place) = Arc::clone(&state.log_streams).try_acquire_owned() else {
        return Err(ApiError::new(
            503,
            "every log stream is taken (--log-streams); retry when one has ended",
        ));
    };
    // A client address beyond loopback holds at most its share (on loopback every local user
    // is one address: there the board's share is what bounds one of them).
    let client = match peer.filter(|ip| !ip.is_loopback()) {
        Some(ip) => Some(
            state
                .client_streams
                .try_take(ip)
                .map_err(|share| share_taken("this client's", share))?,
        ),
        None => None,
    };
    let budget = state.pools.busy_timeout();
    let deadline = started + budget;
    let task_state = Arc::clone(state);
    let work = move || {
        let (path, owner) = task_state.boards.resolve(asked.as_deref())?;
        let dir = task_state.boards.logs_dir(asked.as_deref());
        let board = task_state.pools.get(&path, owner);
        let (task_id, _) = board.with_conn(deadline, |c| follow::run_task(c, id))?;
        Ok((board, dir, task_id))
    };
    let stuck = || Some(waited(budget));
    let (board, dir, task_id) = on_reader(
        &state.run_readers,
        deadline,
        budget,
        "finding the run",
        work,
        stuck,
    )
    .await?;
    let board_share = state
        .board_streams
        .try_take(board.path().to_path_buf())
        .map_err(|share| share_taken("this board's", share))?;
    let place = (place, board_share, client);
    let stream = (!head).then(|| follow::Follow {
        board,
        run_id: id,
        task_id,
        dir,
        tail,
        limits: follow::Limits {
            idle: state.log_idle,
            send: state.header_timeout,
        },
        stopping: Arc::clone(&state.stopping),
    });
    Ok(events(stream, place))
}

/// The answer of a followed log: Server-Sent Events from `stream` run on a task of its own
/// (holding `place` until it ends) through a short channel; none for a HEAD request.
fn events(
    stream: Option<crate::shim::answer::follow::Follow>,
    place: impl Send + 'static,
) -> Response<ResponseBody> {
    use crate::shim::answer::follow;
    let mut response = Response::new(match stream {
        None => full(Bytes::new()),
        Some(stream) => {
            let (tx, rx) = tokio::sync::mpsc::channel(follow::QUEUED_EVENTS);
            let dropped = Arc::new(AtomicBool::new(false));
            tokio::spawn(follow::stream(stream, tx, place, Arc::clone(&dropped)));
            Events { rx, dropped }.boxed_unsync()
        }
    });
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    response
}

/// The 503 of a stream past a board's or a client's share of `--log-streams` (`share`: what
/// it may hold now, see `Shares`).
pub(super) fn share_taken(whose: &str, share: usize) -> ApiError {
    ApiError::new(
        503,
        format!(
            "{whose} share of the log streams is taken ({share} now: half of the --log-streams \
             places the others leave); retry when one has ended"
        ),
    )
}

/// A followed log's body: the events its task sends, ending when the task drops its sender;
/// in an error when the client was dropped for not reading (hyper then closes the connection
/// rather than end the body cleanly).
pub(super) struct Events {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    dropped: Arc<AtomicBool>,
}

impl Body for Events {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.rx.poll_recv(cx).map(|event| match event {
            Some(bytes) => Some(Ok(Frame::data(bytes))),
            None if self.dropped.load(Ordering::Relaxed) => Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client did not read its log stream",
            ))),
            None => None,
        })
    }
}
