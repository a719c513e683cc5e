//! `?board=*` (issue 39 §2): `/workers/active`, `?live=1` and `/workers/lingering` for every
//! board of the kanban root at once. The boards are found on a reader thread
//! (`Boards::every`); each board's rows are read as a request naming it reads them (the plain
//! list's query on a reader thread; the live and lingering lists from the board's shared
//! samples, so a viewer of every board shares each board's sample with that board's own
//! viewers), at most [`AT_ONCE`] boards at a time, all within the request's budget; the
//! answer is written on a reader thread and holds its share of the answer budget. A board that
//! cannot be read is said so in `boards`, the others answered all the same.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Bytes;
use tokio::sync::Semaphore;

use crate::shim::ApiError;
use crate::shim::answer;
use crate::shim::board::file;
use crate::shim::http::routes::EveryRead;
use crate::shim::http::state::{ANSWER_BUDGET_KIB, State, UNBUDGETED_BYTES, on_reader, waited};
use crate::shim::sample::{Asker, Board, Sample, query_rows};

use super::sampled::{SampleKind, sample};

/// A request reads at most this many boards at once (the list readers are 12).
pub const AT_ONCE: usize = 4;

/// One board's rows, or why it has none.
type Read = (String, Result<Arc<Sample>, ApiError>);

/// The answer for every board (see the module's notes).
pub(super) async fn every_board(
    state: &Arc<State>,
    read: EveryRead,
    started: Instant,
) -> Result<Bytes, ApiError> {
    let budget = state.pools.busy_timeout();
    let deadline = started + budget;
    let finder = Arc::clone(state);
    let (boards, left_out) = on_reader(
        &state.list_readers,
        deadline,
        budget,
        "finding the boards",
        move || {
            let every = finder.boards.every();
            let boards: Vec<(String, Result<Arc<Board>, ApiError>)> = every
                .boards
                .into_iter()
                .map(|f| {
                    (
                        f.slug,
                        f.at.map(|(path, owner)| finder.pools.get(&path, owner)),
                    )
                })
                .collect();
            Ok((boards, every.left_out))
        },
        || Some(waited(budget)),
    )
    .await?;
    let reads = read_each(state, read, boards, started, deadline).await;
    let list: &'static [u8] = match read {
        EveryRead::Lingering => b"lingering",
        EveryRead::Active | EveryRead::Live => b"workers",
    };
    let write = move || {
        let parts: Vec<answer::boards::Part<'_>> = reads
            .iter()
            .map(|(board, got)| answer::boards::Part {
                board,
                rows: got.as_ref().map(|s| &s.rows),
                checked_at: got.as_ref().map_or(0, |s| s.checked_at),
            })
            .collect();
        answer::boards::every_board_json(list, &parts, left_out)
    };
    let body = on_reader(
        &state.list_readers,
        deadline,
        budget,
        "writing the answer",
        write,
        || None,
    )
    .await?;
    share(state, body, deadline).await
}

/// Each board's rows, in the boards' order, at most [`AT_ONCE`] read at a time.
async fn read_each(
    state: &Arc<State>,
    read: EveryRead,
    boards: Vec<(String, Result<Arc<Board>, ApiError>)>,
    started: Instant,
    deadline: Instant,
) -> Vec<Read> {
    let at_once = Arc::new(Semaphore::new(AT_ONCE));
    let tasks: Vec<_> = boards
        .into_iter()
        .map(|(slug, board)| {
            let (state, at_once) = (Arc::clone(state), Arc::clone(&at_once));
            let task = tokio::spawn(async move {
                let board = board?;
                let _turn = tokio::time::timeout_at(deadline.into(), at_once.acquire_owned())
                    .await
                    .map_err(|_| board.busy("waited for the other boards of the request"))?;
                rows_of(&state, read, &board, started, deadline).await
            });
            (slug, task)
        })
        .collect();
    let mut reads = Vec::with_capacity(tasks.len());
    for (slug, task) in tasks {
        let got = task
            .await
            .unwrap_or_else(|_| Err(ApiError::new(500, "internal error while reading a board")));
        reads.push((slug, got));
    }
    reads
}

/// One board's rows, as a request naming the board would have them.
async fn rows_of(
    state: &Arc<State>,
    read: EveryRead,
    board: &Arc<Board>,
    started: Instant,
    deadline: Instant,
) -> Result<Arc<Sample>, ApiError> {
    let kind = match read {
        EveryRead::Live => SampleKind::Live,
        EveryRead::Lingering => SampleKind::Lingering,
        EveryRead::Active => return listed(state, board, deadline).await,
    };
    board.samples().asked_now();
    sample(state, board, kind, started, Asker::Request, deadline)
        .await?
        .value
        .clone()
}

/// The board's plain list (`active_workers`), read on a reader thread.
async fn listed(
    state: &Arc<State>,
    board: &Arc<Board>,
    deadline: Instant,
) -> Result<Arc<Sample>, ApiError> {
    let budget = state.pools.busy_timeout();
    let reader = Arc::clone(board);
    let work = move || {
        let rows = reader.with_conn(deadline, |c| query_rows(c, &answer::WORKERS_ACTIVE_SQL))?;
        Ok(Arc::new(Sample::new(rows)))
    };
    let stuck = || {
        file::release_fifo_readers(board.path());
        Some(board.busy("waited for the board"))
    };
    on_reader(
        &state.list_readers,
        deadline,
        budget,
        "reading a board",
        work,
        stuck,
    )
    .await
}

/// The answer's bytes, holding their share of the answer budget until sent (a 503 when it
/// cannot be had within the budget).
async fn share(state: &State, body: Vec<u8>, deadline: Instant) -> Result<Bytes, ApiError> {
    if body.len() < UNBUDGETED_BYTES {
        return Ok(Bytes::from(body));
    }
    let kib = body.len().div_ceil(1024).clamp(1, ANSWER_BUDGET_KIB) as u32;
    match tokio::time::timeout_at(
        deadline.into(),
        Arc::clone(&state.answers).acquire_many_owned(kib),
    )
    .await
    {
        Ok(Ok(permit)) => Ok(Bytes::from_owner(Shared {
            body,
            _permit: permit,
        })),
        _ => Err(crate::shim::board::pool::busy(
            "kanban-workers",
            &format!(
                "{} MiB of answers were still being sent to other clients",
                ANSWER_BUDGET_KIB / 1024
            ),
            state.pools.busy_timeout(),
        )),
    }
}

/// Bytes holding their share of the answer budget.
struct Shared {
    body: Vec<u8>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}
