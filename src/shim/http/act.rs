//! `POST /runs/{id}/terminate`, `/stop` and `/reap` (the body read first), `/pause` and
//! `/resume`: each act on a thread of the terminators' own.

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::{Body, Bytes};

use crate::shim::ApiError;
use crate::shim::http::routes;
use crate::shim::http::state::{State, TERMINATORS};

/// What ends a run's processes: terminate (the task reclaimed), stop (the task blocked), reap
/// (what an ended run left behind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Act {
    Terminate,
    Stop,
    Reap,
}

/// `POST /runs/{id}/terminate`, `/stop` and `/reap`: the token (always), a body of at most a
/// few KiB, the board, then `terminate::run`, `terminate::stop::run` or `terminate::reap::run`
/// on a blocking thread of its own (each waits for processes to end).
pub(super) async fn terminate_or_reap<B>(
    state: &Arc<State>,
    id: i64,
    act: Act,
    req: Request<B>,
    query: Option<&str>,
) -> Result<Vec<u8>, ApiError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    state.auth.check_acting(req.headers())?;
    let body = read_body(state, req).await?;
    let ask = crate::shim::terminate::parse_body(&body)?;
    // Threads of its own: a termination waits out a grace period, and must never hold a
    // thread a read is waiting for. None free: 503 at once (each may take a minute).
    let Ok(permit) = Arc::clone(&state.terminators).try_acquire_owned() else {
        return Err(ApiError::new(
            503,
            format!("{TERMINATORS} terminations are under way; retry when one has ended"),
        ));
    };
    let (task_state, asked) = (Arc::clone(state), routes::board(query));
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // Which file, found off the async worker (it reads the kanban root).
        let (path, owner) = task_state.boards.resolve(asked.as_deref())?;
        let key = (path.clone(), id);
        let fresh = task_state
            .terminating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone());
        if !fresh {
            return Err(ApiError::new(
                409,
                format!("run {id} is being terminated or reaped by another request"),
            ));
        }
        let board = task_state.pools.get(&path, owner);
        let budget = board.busy_timeout();
        let stopping = &task_state.stopping;
        let result = match act {
            Act::Reap => crate::shim::terminate::reap::run(&board, id, &ask, budget, stopping),
            Act::Stop => crate::shim::terminate::stop::run(&board, id, &ask, budget, stopping),
            Act::Terminate => crate::shim::terminate::run(&board, id, &ask, budget, stopping),
        };
        task_state
            .terminating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        result
    });
    task.await.unwrap_or_else(|_| {
        Err(ApiError::new(
            500,
            "internal error while terminating the run",
        ))
    })
}

/// `POST /runs/{id}/pause` and `/resume`: the token (always), the board, then
/// `terminate::pause::run` on a terminator's thread (it waits for the kernel to freeze).
pub(super) async fn pause_or_resume(
    state: &Arc<State>,
    id: i64,
    freeze: bool,
    headers: &hyper::HeaderMap,
    query: Option<&str>,
) -> Result<Vec<u8>, ApiError> {
    state.auth.check_acting(headers)?;
    let Ok(permit) = Arc::clone(&state.terminators).try_acquire_owned() else {
        return Err(ApiError::new(
            503,
            format!("{TERMINATORS} actions are under way; retry when one has ended"),
        ));
    };
    let (task_state, asked) = (Arc::clone(state), routes::board(query));
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let (path, owner) = task_state.boards.resolve(asked.as_deref())?;
        let board = task_state.pools.get(&path, owner);
        crate::shim::terminate::pause::run(&board, id, freeze, board.busy_timeout())
    });
    task.await
        .unwrap_or_else(|_| Err(ApiError::new(500, "internal error while pausing the run")))
}

/// The request's body, at most [`crate::shim::terminate::MAX_BODY`] bytes (413 past it), not
/// waited for past the header timeout (408).
async fn read_body<B>(state: &State, req: Request<B>) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use http_body_util::Limited;
    let collect = Limited::new(req.into_body(), crate::shim::terminate::MAX_BODY).collect();
    let body = tokio::time::timeout(state.header_timeout, collect)
        .await
        .map_err(|_| ApiError::new(408, "terminate: the body did not arrive in time"))?
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::new(
                    413,
                    format!(
                        "terminate: the body is over {} bytes",
                        crate::shim::terminate::MAX_BODY
                    ),
                )
            } else {
                ApiError::new(400, format!("terminate: the body could not be read: {e}"))
            }
        })?;
    Ok(body.to_bytes())
}
