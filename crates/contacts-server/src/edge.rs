//! The connection edge: what a socket may cost before it reaches a handler.
//!
//! - **Headers and idle keep-alive**: hyper's header timer runs from the moment the
//!   server waits for a request (a new connection, or the next request on a kept-alive
//!   one) until its headers are complete; a connection that sends nothing, or sends its
//!   headers a byte at a time, is closed when it runs out (`--header-timeout`).
//! - **Bodies**: read with a deadline in the body extractor (`--body-timeout`, 408).
//! - **Connections**: at most `--max-connections` at once; one more is answered 503 with
//!   `Retry-After` and closed, so a flood of sockets cannot exhaust file descriptors the
//!   store needs.
//! - **Requests hyper cannot parse** (not HTTP/1.1, a URI or headers too large): hyper
//!   answers them itself; `unparsed.rs` puts the error envelope in those answers.
//! - **Shutdown**: on SIGTERM the listener closes, requests in flight finish, idle
//!   connections are closed; connections still open after `--shutdown-deadline` are
//!   dropped, so one stalled client cannot keep a stopping server alive.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::error::ApiError;

mod unparsed;

/// The edge's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// From waiting for a request to its complete headers (and so the longest a kept-
    /// alive connection may sit idle). Default 30 s.
    pub header_timeout: Duration,
    /// Connections open at once. Default 1,024.
    pub max_connections: usize,
    /// How long a stopping server waits for open connections. Default 30 s.
    pub shutdown_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(30),
            max_connections: 1024,
            shutdown_deadline: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then stops
/// as the module docs say; `open_connections` follows the number of connections.
///
/// # Errors
/// Never for a single connection (each is logged and dropped); only if the listener
/// itself fails in a way that cannot be waited out.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    open_connections: prometheus_client::metrics::gauge::Gauge,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let service = TowerToHyperService::new(router);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most often: wait for connections to
                    // close rather than spin, and keep serving those already open.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tokio::spawn(turn_away(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = graceful.watch(http.serve_connection(
            TokioIo::new(unparsed::Enveloped::new(stream)),
            service.clone(),
        ));
        let gauge = open_connections.clone();
        gauge.inc();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            gauge.dec();
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {
            tracing::info!("stopped: requests in flight have finished");
        }
        () = tokio::time::sleep(limits.shutdown_deadline) => {
            tracing::warn!(
                open = limits.max_connections - permits.available_permits(),
                deadline_s = limits.shutdown_deadline.as_secs_f64(),
                "stopped at the shutdown deadline: the connections still open are dropped"
            );
        }
    }
    Ok(())
}

/// Answers a connection over the limit with a 503 in the envelope, and closes it.
async fn turn_away(mut stream: TcpStream) {
    let body = ApiError::unavailable("Too many connections; retry shortly").envelope_bytes();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let answer = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await?;
        // Read what the client sent until it closes: closing a socket with unread
        // input sends a reset, and the client would see that instead of the 503.
        let mut sink = [0u8; 1024];
        while tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    // A client that does not read, or never closes, does not get to hold the socket.
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}
