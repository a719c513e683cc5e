//! The accept loop: connections up to a cap, each served by hyper with the App answering its
//! requests, until `shutdown` completes; then the requests in flight get a bounded time.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;

use crate::shim::http::app::App;
pub use crate::shim::http::state::{Peer, READERS, TERMINATORS};

/// The most hyper buffers of a request head (request line + headers); a longer head is
/// answered 431 by hyper. hyper's minimum is 8 KiB.
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How long shutdown waits for requests in flight (the stop bound; a terminate in its grace
/// period ends it at once to answer within it: `terminate`).
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Serve `app` on `listener` until `shutdown` completes. `on_ready` is called with the bound
/// address.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()>,
    on_ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let header_timeout = app.header_timeout();
    let connections = Arc::new(Semaphore::new(app.max_connections()));
    let addr = listener.local_addr()?;
    app.listening_on(addr);
    on_ready(addr);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A connection slot first: past the cap, clients wait in the kernel's accept queue
        // (connected, not yet answered) rather than costing memory here.
        let slot = tokio::select! {
            slot = Arc::clone(&connections).acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of fds and the like: say so, back off briefly, keep serving.
                crate::log!("kanban-workers: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // A client that accepts no byte of its answer for the header timeout is closed, so an
        // answer is never held for a client that does not read.
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(header_timeout));
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Peer(peer.ip()));
                let app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(app.call(req).await) }
            });
            // Malformed, oversized and slow request heads are hyper's to answer: it refuses
            // them (400, 431) or closes the connection when a head is not complete within the
            // header timeout, which also bounds how long an idle kept-alive connection stays.
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(MAX_HEADER_BYTES)
                .keep_alive(true)
                .serve_connection(TokioIo::new(Box::pin(stream)), service);
            let _ = watcher.watch(conn).await;
        });
    }
    drop(listener);
    app.stop();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    Ok(())
}

/// Completes once SIGINT, SIGTERM or SIGHUP arrives. A closed terminal (SIGHUP) stops the
/// server as gracefully as SIGTERM: its default action would kill it mid-answer.
pub fn stop_signals() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
        }
    })
}
