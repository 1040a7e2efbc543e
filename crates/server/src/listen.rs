//! Serving the app on a TCP listener, with bounds on slow and stalled clients: hyper's header
//! read timeout, the body timeout of [`crate::app`], a Host check before any route, and a
//! graceful shutdown that waits for requests in flight only up to a deadline (docs/security.md,
//! "Slow clients"). axum::serve offers neither timeouts nor a bounded shutdown. Also the
//! metrics listener of `--metrics-listen`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::middleware::from_fn_with_state;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::http::{HostPolicy, require_host};
use crate::metrics::{self, Metrics};

/// How `serve` treats connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest a client may take to send a request's headers (also the longest an idle
    /// kept-alive connection stays open).
    pub header_timeout: Duration,
    /// After the shutdown signal, the longest to wait for requests in flight before the
    /// remaining connections are dropped.
    pub shutdown_timeout: Duration,
    /// Which Host headers are answered.
    pub hosts: HostPolicy,
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets the
/// requests in flight finish for at most `limits.shutdown_timeout`, and returns. Every request
/// carries the peer address as `ConnectInfo<SocketAddr>`, as axum::serve's would.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let app = app.layer(from_fn_with_state(limits.hosts, require_host));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers go out at once: each is written whole, so Nagle's algorithm (RFC 896) could
        // only hold one back waiting for the client's delayed ACK of the one before.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let service = app.clone().map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let conn = http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let open = graceful.count();
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = open,
            "shutdown deadline passed: closing the connections still open"
        );
    }
}

/// Binds `address` and serves [`metrics::router`] there with `limits`' timeouts until the
/// process ends; the Host rule is the main listener's (loopback names only on a loopback
/// address). Returns the address bound.
pub async fn spawn_metrics(
    address: &str,
    metrics: Arc<Metrics>,
    limits: Limits,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address).await?;
    let addr = listener.local_addr()?;
    let hosts = if addr.ip().is_loopback() {
        HostPolicy::Loopback
    } else {
        HostPolicy::Any
    };
    let limits = Limits { hosts, ..limits };
    tokio::spawn(serve(
        listener,
        metrics::router(metrics),
        limits,
        std::future::pending(),
    ));
    Ok(addr)
}
