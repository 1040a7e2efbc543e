//! Hardening, round two (issue 16), over real sockets and the real binary: a half-sent request
//! is cut off after the client timeout, SIGTERM does not wait forever for stalled connections,
//! the Host header is required once and, on a loopback server, must name loopback (DNS
//! rebinding); `--demo` is refused on a public address unless forced; the SQLite files are
//! private also in a data directory made beforehand. Time bounds here are generous limits for
//! a hung server (30 s against timeouts of 1 s), never measurements.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::routing::post;
use cloud_otp_server::http::HostPolicy;
use cloud_otp_server::listen::{Limits, serve};
use common::binary::{self, Served};
use common::{Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// The bound for "the server acts on its own": far above the 1 s timeouts configured.
const BOUND: Duration = Duration::from_secs(30);

/// A server from `listen::serve`, in this process.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: JoinHandle<()>,
    /// Told when a request to the test route `POST /test/stall` starts, before it reads its
    /// body: then the request is certainly in flight.
    stall_started: Arc<Notify>,
    _app: TestApp,
}

async fn start(client_timeout: Duration, shutdown_timeout: Duration, hosts: HostPolicy) -> Running {
    let app = TestApp::with_config(Backend::Sqlite, |c| c.client_timeout = client_timeout).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let limits = Limits {
        header_timeout: client_timeout,
        shutdown_timeout,
        hosts,
    };
    let stall_started = Arc::new(Notify::new());
    let started = stall_started.clone();
    let router = app.router.clone().route(
        "/test/stall",
        post(move |req: Request| async move {
            started.notify_one();
            let _ = axum::body::to_bytes(req.into_body(), 1024).await;
        }),
    );
    let done = tokio::spawn(serve(listener, router, limits, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        done,
        stall_started,
        _app: app,
    }
}

/// Sends `request` and reads until the server closes the connection (or resets it); fails if
/// it has not within [`BOUND`].
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(BOUND, stream.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the server kept the connection open for {BOUND:?}"
    );
    String::from_utf8_lossy(&out).into_owned()
}

async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    until_closed(&mut stream).await
}

#[tokio::test(flavor = "multi_thread")]
async fn half_sent_requests_are_cut_off_after_the_client_timeout() {
    let server = start(Duration::from_secs(1), BOUND, HostPolicy::Any).await;
    // Headers that never end: the connection is closed.
    let answer = exchange(server.addr, "GET /v1/time HTTP/1.1\r\nHost: x\r\n").await;
    assert!(!answer.contains("200 OK"), "{answer}");
    // Complete headers, a body that stops after one of 100 bytes: 408 request_timeout.
    let answer = exchange(
        server.addr,
        "POST /v1/status HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    // An idle kept-alive connection is closed too.
    let answer = exchange(server.addr, "GET /v1/time HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_does_not_wait_for_stalled_connections() {
    // Client timeout far away: only the shutdown deadline can end the stalled connections.
    let mut server = start(
        Duration::from_secs(3600),
        Duration::from_secs(1),
        HostPolicy::Any,
    )
    .await;
    // Headers that never end, after a whole request (so the connection is certainly served).
    let mut half_head = TcpStream::connect(server.addr).await.unwrap();
    half_head
        .write_all(b"GET /v1/time HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = half_head.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    half_head
        .write_all(b"GET /v1/time HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A request in flight whose body stopped after 1 of 100 bytes: graceful shutdown waits for
    // it, and only the deadline ends it.
    let mut half_body = TcpStream::connect(server.addr).await.unwrap();
    half_body
        .write_all(b"POST /test/stall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    tokio::time::timeout(BOUND, server.stall_started.notified())
        .await
        .expect("the stalled request never started");
    server.stop.take().unwrap().send(()).unwrap();
    let stopped = tokio::time::timeout(BOUND, &mut server.done).await;
    assert!(
        stopped.is_ok(),
        "serve still waits for stalled clients after {BOUND:?}"
    );
    // New connections are refused once it stopped.
    assert!(TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn host_header_is_required_once_and_loopback_servers_answer_loopback_names_only() {
    let loopback = start(BOUND, BOUND, HostPolicy::Loopback).await;
    let any = start(BOUND, BOUND, HostPolicy::Any).await;
    let get = |host_lines: &str| {
        format!("GET /v1/time HTTP/1.1\r\n{host_lines}Connection: close\r\n\r\n")
    };
    let port = loopback.addr.port();
    for (server, hosts, status) in [
        (&loopback, format!("Host: 127.0.0.1:{port}\r\n"), "200"),
        (&loopback, format!("Host: localhost:{port}\r\n"), "200"),
        (&loopback, format!("Host: [::1]:{port}\r\n"), "200"),
        // A DNS name pointed at 127.0.0.1 by someone else's page: DNS rebinding.
        (&loopback, format!("Host: evil.example:{port}\r\n"), "421"),
        (&loopback, String::new(), "400"),
        (
            &loopback,
            "Host: 127.0.0.1\r\nHost: 127.0.0.1\r\n".into(),
            "400",
        ),
        (&any, "Host: otp.example.org\r\n".into(), "200"),
        (&any, String::new(), "400"),
        (
            &any,
            "Host: otp.example.org\r\nHost: evil.example\r\n".into(),
            "400",
        ),
    ] {
        let answer = exchange(server.addr, &get(&hosts)).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{hosts:?}: {answer}"
        );
    }
    // HTTP/1.0 without Host too.
    let answer = exchange(loopback.addr, "GET /v1/time HTTP/1.0\r\n\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.0 400") || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    let answer = exchange(
        loopback.addr,
        &get(&format!("Host: evil.example:{port}\r\n")),
    )
    .await;
    assert!(answer.contains("\"wrong_host\""), "{answer}");
}

/// `serve` through the real binary with a private data directory.
fn serve_command(data: &std::path::Path, args: &[&str]) -> Command {
    let mut c = binary::command(data);
    c.arg("serve").args(args);
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_binary_despite_a_stalled_client() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut c = serve_command(
        &data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--client-timeout",
            "3600",
            "--shutdown-timeout",
            "1",
        ],
    );
    // Debug logs say when a request started.
    c.env("RUST_LOG", "info,cloud_otp_server=debug");
    let mut server = Served::start(c);
    let addr = server.base.strip_prefix("http://").unwrap().to_owned();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let request = format!("GET /v1/time HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // A request in flight whose body stopped after 1 of 100 bytes: graceful shutdown waits
    // for it, and only the deadline ends it (the client timeout is an hour).
    let stalled = format!(
        "POST /v1/status HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{"
    );
    stream.write_all(stalled.as_bytes()).await.unwrap();
    server.wait_for_output("request started", 2);

    let sent = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + BOUND;
    while server.running() {
        assert!(
            Instant::now() < deadline,
            "still running {BOUND:?} after SIGTERM; output:\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = server.output();
    assert!(output.contains("stopped"), "{output}");
}

/// A server built without the cargo feature `demo` refuses `--demo` before it opens anything,
/// naming the feature.
#[cfg(not(feature = "demo"))]
#[test]
fn demo_needs_the_demo_feature() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = serve_command(&data, &["--demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + BOUND;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("serve --demo without the demo feature is still running after {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "it printed a URL: {stdout}");
    assert!(stderr.contains("cargo feature `demo`"), "{stderr}");
    assert!(!data.join("demo-api-key").exists());
}

#[cfg(feature = "demo")]
#[test]
fn demo_is_refused_on_a_public_address_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Spawned, not run to its end: a server that starts anyway must fail the test, not hang it.
    let mut child = serve_command(&data, &["--demo", "--listen", "0.0.0.0:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + BOUND;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("serve --demo on 0.0.0.0 is still running after {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "it printed a URL: {stdout}");
    assert!(stderr.contains("--demo-on-public-address"), "{stderr}");
    assert!(!data.join(cloud_otp_server::demo::KEY_FILE).exists());

    let mut server = Served::start(serve_command(
        &data,
        &[
            "--demo",
            "--demo-on-public-address",
            "--listen",
            "0.0.0.0:0",
        ],
    ));
    assert!(server.running());
    assert!(server.terminate().success());
}

#[cfg(unix)]
#[test]
fn database_files_are_private_in_a_data_directory_made_beforehand() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The same command under umask 022, whatever this process's umask is.
    let inner = serve_command(&data, &["--listen", "127.0.0.1:0"]);
    let mut c = Command::new("sh");
    c.args(["-c", "umask 022 && exec \"$0\" \"$@\""])
        .arg(inner.get_program())
        .args(inner.get_args());
    for (name, value) in inner.get_envs() {
        match value {
            Some(v) => c.env(name, v),
            None => c.env_remove(name),
        };
    }
    let mut server = Served::start(c);
    for name in ["cloud-otp.db", "cloud-otp.db-wal", "cloud-otp.db-shm"] {
        let mode = std::fs::metadata(data.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} has mode {:o}", mode & 0o777);
    }
    assert!(server.terminate().success());
}
