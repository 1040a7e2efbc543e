//! The `cloud-otp` binary as an operator runs it: `tenant create` prints the API key alone on
//! the last line, `tenant update` (PIN, open/close) and `tenant rotate-api-key` against a
//! running server, `serve` prints its URL, `serve --demo` runs the whole flow through the demo
//! training site and its institution-admin panel, `user show|unlock`, graceful shutdown with a
//! request in flight, key files, and two server processes sharing one PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Device;
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_cloud-otp");

/// The command with a private data directory and quiet, colourless logs.
fn command(data_dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("CLOUD_OTP_DATA_DIR", data_dir)
        .env_remove("CLOUD_OTP_MASTER_KEY")
        .env_remove("CLOUD_OTP_DATABASE")
        .env("RUST_LOG", "info,cloud_otp_server=debug");
    c
}

/// Runs a command to completion; returns (success, stdout, stderr).
fn run(mut c: Command) -> (bool, String, String) {
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `tenant create`; returns the API key from the last line.
fn create_tenant(data_dir: &Path, extra: &[&str]) -> String {
    let mut c = command(data_dir);
    c.args([
        "tenant",
        "create",
        "--name",
        "Acme Academy",
        "--customer-code",
        "5678",
    ])
    .args(extra);
    let (ok, stdout, stderr) = run(c);
    assert!(ok, "{stderr}");
    stdout.lines().last().unwrap().to_owned()
}

/// A running `cloud-otp serve`: its printed URL and its log lines.
struct Server {
    child: Child,
    url: String,
    logs: mpsc::Receiver<String>,
}

impl Server {
    fn start(mut c: Command) -> Server {
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.is_empty() {
            let logs: Vec<String> = logs.try_iter().collect();
            panic!("server printed no URL; log:\n{}", logs.join("\n"));
        }
        Server {
            child,
            url: line.trim().to_owned(),
            logs,
        }
    }

    /// The origin, without path.
    fn base(&self) -> String {
        let rest = self.url.strip_prefix("http://").unwrap();
        format!("http://{}", rest.split('/').next().unwrap())
    }

    /// Waits for a log line containing `text` (30 s at most, so a broken server fails the
    /// test instead of hanging it).
    fn wait_for_log(&self, text: &str) {
        loop {
            match self.logs.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(e) => panic!("no log line with {text:?}: {e}"),
            }
        }
    }

    #[cfg(feature = "demo")]
    fn terminate(&mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn post(url: &str, key: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().post(url).json(body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_create_prints_the_key_alone_on_the_last_line_and_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = create_tenant(
        &data,
        &[
            "--origin",
            "https://lms.acme.example",
            "--origin",
            "http://localhost:3000/",
        ],
    );
    assert!(
        key.starts_with("cok_") && key.len() > 40 && !key.contains(' '),
        "{key}"
    );
    assert_eq!(mode(&data), 0o700, "data directory is private");

    let mut dup = command(&data);
    dup.args([
        "tenant",
        "create",
        "--name",
        "Other",
        "--customer-code",
        "5678",
    ]);
    let (ok, _, stderr) = run(dup);
    assert!(!ok && stderr.contains("already in use"), "{stderr}");
    for bad in [["--customer-code", "123"], ["--customer-code", "12a4"]] {
        let mut c = command(&data);
        c.args(["tenant", "create", "--name", "Other"]).args(bad);
        let (ok, _, stderr) = run(c);
        assert!(
            !ok && stderr.contains("customer_code must be exactly 4 digits"),
            "{stderr}"
        );
    }
    let mut c = command(&data);
    c.args([
        "tenant",
        "create",
        "--name",
        "Other",
        "--customer-code",
        "1111",
        "--origin",
        "lms.example",
    ]);
    let (ok, _, stderr) = run(c);
    assert!(!ok && stderr.contains("origin"), "{stderr}");

    let mut list = command(&data);
    list.args(["tenant", "list"]);
    let (ok, stdout, _) = run(list);
    assert!(ok);
    assert_eq!(
        stdout.trim(),
        "5678\tAcme Academy\tpin off\topen\thttp://localhost:3000 https://lms.acme.example"
    );

    let mut c = command(&data);
    c.args(["serve", "--listen", "127.0.0.1:0", "--dist"])
        .arg(dir.path().join("no-dist"));
    let server = Server::start(c);
    assert!(
        server.url.starts_with("http://127.0.0.1:") && server.url.ends_with('/'),
        "{}",
        server.url
    );
    let (status, body) = post(
        &format!("{}/v1/sessions", server.base()),
        Some(&key),
        &json!({ "user_id": "u1", "purpose": "exam" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(mode(&data.join("master.key")), 0o600);
    let r = reqwest::get(&server.url).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("web app is not built"));
}

#[cfg(feature = "demo")]
#[tokio::test(flavor = "multi_thread")]
async fn serve_demo_runs_the_whole_flow() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("cloud-otp.js"), "export {};").unwrap();
    let serve = || {
        let mut c = command(&data);
        c.args(["serve", "--demo", "--listen", "127.0.0.1:0", "--dist"])
            .arg(&dist);
        Server::start(c)
    };
    let mut server = serve();
    assert!(server.url.ends_with("/demo/"), "{}", server.url);
    let base = server.base();
    let key_file = data.join("demo-api-key");
    assert_eq!(mode(&key_file), 0o600);
    let demo_key = std::fs::read_to_string(&key_file).unwrap();

    // The training-site page embeds the widget with a session opened through the API.
    let r = reqwest::get(format!("{}?user_id=trainee-001&purpose=exam", server.url))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval'") && !csp.contains("unsafe-inline"));
    let page = r.text().await.unwrap();
    assert!(page.contains("<script type=\"module\" src=\"/cloud-otp.js\"></script>"));
    assert!(page.contains("<script type=\"module\" src=\"/demo/demo.js\"></script>"));
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "no inline script or style"
    );
    assert!(!page.contains("not built"));
    let server_attr = format!("<cloud-otp server=\"{base}\" session=\"");
    let start = page
        .find(&server_attr)
        .unwrap_or_else(|| panic!("no widget in {page}"))
        + server_attr.len();
    let session = &page[start..start + page[start..].find('"').unwrap()];
    assert_eq!(session.len(), 43);
    for asset in ["/demo/demo.js", "/demo/demo.css"] {
        let r = reqwest::get(format!("{base}{asset}")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
    }
    let r = reqwest::get(format!("{}?user_id=", server.url))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = reqwest::get(format!("{}?user_id=%3Cscript%3E", server.url))
        .await
        .unwrap();
    let escaped = r.text().await.unwrap();
    assert!(escaped.contains("&lt;script&gt;") && !escaped.contains("<script>"));

    // The widget's part, done here by hand: register the browser, verify a code.
    let device = Device::new("trainee-001", "Chrome on Linux");
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/v1/devices"))
        .header("origin", &base)
        .json(&device.registration(session))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let registered: Value = r.json().await.unwrap();
    let device = Device {
        id: registered["device_id"].as_str().unwrap().to_owned(),
        ..device
    };
    let code = device.code_at(now_secs());
    let (status, body) = post(
        &format!("{base}/v1/verify"),
        None,
        &device.verification(session, &code),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The page's script hands the pass to the site's backend, which redeems it.
    let (status, body) = post(
        &format!("{base}/demo/redeem"),
        None,
        &json!({ "pass": body["pass"] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["user_id"], "trainee-001");
    assert_eq!(body["purpose"], "exam");
    assert_eq!(body["device"]["label"], "Chrome on Linux");
    let (_, again) = post(
        &format!("{base}/demo/redeem"),
        None,
        &json!({ "pass": "used" }),
    )
    .await;
    assert_eq!(again["success"], false);

    // A second start reuses the demo institution and its key.
    assert!(server.terminate().success());
    let second = serve();
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), demo_key);
    let r = reqwest::get(&second.url).await.unwrap();
    assert!(r.text().await.unwrap().contains("status: active"));
    let mut list = command(&data);
    list.args(["tenant", "list"]);
    let (_, stdout, _) = run(list);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("1234\tDemo Academy\t"));
}

#[tokio::test(flavor = "multi_thread")]
async fn user_show_and_unlock_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = create_tenant(&data, &[]);
    let mut c = command(&data);
    c.args(["serve", "--listen", "127.0.0.1:0"]);
    let server = Server::start(c);
    let base = server.base();
    let (_, s) = post(
        &format!("{base}/v1/sessions"),
        Some(&key),
        &json!({ "user_id": "u1", "purpose": "exam" }),
    )
    .await;
    let device = Device::new("u1", "Edge on Windows");
    let (status, _) = post(
        &format!("{base}/v1/devices"),
        None,
        &device.registration(s["session"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let wrong = device.wrong_code_at(now_secs());
    for _ in 0..5 {
        post(
            &format!("{base}/v1/check"),
            Some(&key),
            &json!({ "user_id": "u1", "code": wrong }),
        )
        .await;
    }
    let show = || {
        let mut c = command(&data);
        c.args(["user", "show", "--customer-code", "5678", "u1"]);
        let (ok, stdout, stderr) = run(c);
        assert!(ok, "{stderr}");
        serde_json::from_str::<Value>(stdout.trim()).unwrap()
    };
    let shown = show();
    assert_eq!(
        (shown["status"].as_str(), &shown["failures"]),
        (Some("locked"), &json!(5))
    );
    assert_eq!(shown["device"]["label"], "Edge on Windows");
    let mut unlock = command(&data);
    unlock.args(["user", "unlock", "--customer-code", "5678", "u1"]);
    let (ok, stdout, _) = run(unlock);
    assert!(ok && stdout.contains("Unlocked u1"));
    assert_eq!(show()["status"], "active");
    let mut missing = command(&data);
    missing.args(["user", "unlock", "--customer-code", "9999", "u1"]);
    let (ok, _, stderr) = run(missing);
    assert!(
        !ok && stderr.contains("no institution has customer code 9999"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_finishes_a_request_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = create_tenant(&data, &[]);
    let mut c = command(&data);
    c.args(["serve", "--listen", "127.0.0.1:0"]);
    let mut server = Server::start(c);
    let addr = server.base().strip_prefix("http://").unwrap().to_owned();

    // Headers and half of the body: the handler is running, waiting for the rest.
    let body = json!({ "user_id": "u1", "purpose": "exam" }).to_string();
    let (head, tail) = body.split_at(10);
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /v1/sessions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    server.wait_for_log("request started");

    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    server.wait_for_log("shutting down");
    // New connections are refused now; the one in flight still gets its answer.
    stream.write_all(tail.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.contains("\"session\""));
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    server.wait_for_log("stopped");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_server_processes_share_one_postgres() {
    let url = common::pg_database().await;
    let dir = tempfile::tempdir().unwrap();
    let master = "44".repeat(32);
    let mut create = command(&dir.path().join("cli"));
    create.args([
        "tenant",
        "create",
        "--name",
        "Acme Academy",
        "--customer-code",
        "5678",
        "--database",
        &url,
    ]);
    let (ok, stdout, stderr) = run(create);
    assert!(ok, "{stderr}");
    let key = stdout.lines().last().unwrap().to_owned();
    let serve = |name: &str, master: &str| {
        let mut c = command(&dir.path().join(name));
        c.env("CLOUD_OTP_MASTER_KEY", master).args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "0",
            "--database",
            &url,
        ]);
        c
    };
    let one = Server::start(serve("one", &master));
    let two = Server::start(serve("two", &master));
    let bases = [one.base(), two.base()];

    let (_, s) = post(
        &format!("{}/v1/sessions", bases[0]),
        Some(&key),
        &json!({ "user_id": "u1", "purpose": "exam" }),
    )
    .await;
    let device = Device::new("u1", "Chrome on Windows");
    let (status, body) = post(
        &format!("{}/v1/devices", bases[1]),
        None,
        &device.registration(s["session"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let device = Device {
        id: body["device_id"].as_str().unwrap().to_owned(),
        ..device
    };
    let mut sessions = Vec::new();
    for i in 0..50 {
        let (_, s) = post(
            &format!("{}/v1/sessions", bases[i % 2]),
            Some(&key),
            &json!({ "user_id": "u1", "purpose": "exam" }),
        )
        .await;
        sessions.push(s["session"].as_str().unwrap().to_owned());
    }
    let code = device.code_at(now_secs());
    let tasks: Vec<_> = sessions
        .iter()
        .enumerate()
        .map(|(i, session)| {
            let url = format!("{}/v1/verify", bases[i % 2]);
            let body = device.verification(session, &code);
            tokio::spawn(async move { post(&url, None, &body).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => assert_eq!(body["error"], "replayed"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ok, 1, "exactly one success across two processes");

    // A third server with another master key refuses to start on this database.
    let (ok, _, stderr) = run(serve("three", &"55".repeat(32)));
    assert!(
        !ok && stderr.contains("master key does not match"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(serve("four", "not-hex"));
    assert!(!ok && stderr.contains("64 hexadecimal digits"), "{stderr}");
}

/// A GET through `client`: status and JSON body.
async fn get(client: &reqwest::Client, url: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut req = client.get(url);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Runs `tenant ARGS...`; returns (success, stdout, stderr).
fn tenant(data: &Path, args: &[&str]) -> (bool, String, String) {
    let mut c = command(data);
    c.arg("tenant").args(args);
    run(c)
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_pin_service_and_api_key_rotation_reach_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = create_tenant(&data, &["--pin", "4"]);
    let (_, stdout, _) = tenant(&data, &["list"]);
    assert_eq!(stdout.trim(), "5678\tAcme Academy\tpin 4\topen");

    // Invalid values: a clear error and a failing exit status, nothing changed.
    for args in [
        &[
            "create",
            "--name",
            "B",
            "--customer-code",
            "1111",
            "--pin",
            "5",
        ][..],
        &["update", "--customer-code", "5678", "--pin", "four"][..],
    ] {
        let (ok, _, stderr) = tenant(&data, args);
        assert!(
            !ok && stderr.contains("error: --pin must be off, 4 or 6"),
            "{args:?}: {stderr}"
        );
    }
    let (ok, _, stderr) = tenant(&data, &["update", "--customer-code", "0000", "--close"]);
    assert!(
        !ok && stderr.contains("error: no institution has customer code 0000"),
        "{stderr}"
    );
    let (ok, _, stderr) = tenant(&data, &["rotate-api-key", "--customer-code", "56x8"]);
    assert!(
        !ok && stderr.contains("error: customer_code must be exactly 4 digits"),
        "{stderr}"
    );
    let (ok, _, stderr) = tenant(
        &data,
        &["update", "--customer-code", "5678", "--open", "--close"],
    );
    assert!(!ok && stderr.contains("error:"), "{stderr}");
    let (_, stdout, _) = tenant(&data, &["list"]);
    assert_eq!(stdout.trim(), "5678\tAcme Academy\tpin 4\topen");

    let mut c = command(&data);
    c.args(["serve", "--listen", "127.0.0.1:0", "--dist"])
        .arg(dir.path().join("no-dist"));
    let server = Server::start(c);
    let base = server.base();
    let client = reqwest::Client::new();
    let customer = format!("{base}/v1/customers/5678");
    let (status, body) = get(&client, &customer, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["pin_digits"], 4);

    // Closing and opening while the server runs.
    let (ok, stdout, stderr) = tenant(
        &data,
        &["update", "--customer-code", "5678", "--pin", "6", "--close"],
    );
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout,
        "Institution \"Acme Academy\", customer code 5678.\nPIN: 6\n\
         Service: closed (trainee requests get service_closed)\n"
    );
    let (status, body) = get(&client, &customer, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("service_closed"))
    );
    let (_, stdout, _) = tenant(&data, &["list"]);
    assert_eq!(stdout.trim(), "5678\tAcme Academy\tpin 6\tclosed");
    let (ok, stdout, _) = tenant(&data, &["update", "--customer-code", "5678", "--open"]);
    assert!(ok && stdout.contains("PIN: 6\nService: open\n"), "{stdout}");
    let (status, body) = get(&client, &customer, None).await;
    assert_eq!((status, &body["pin_digits"]), (StatusCode::OK, &json!(6)));

    // Rotation: the old key, just used (and so remembered by the server), is refused once
    // the server's key memory (KEY_TTL) has run out; the new key works at once.
    let user = format!("{base}/v1/users/u1");
    let (status, _) = get(&client, &user, Some(&key)).await;
    assert_eq!(status, StatusCode::OK);
    let remembered_until = std::time::Instant::now() + cloud_otp_server::keycache::KEY_TTL;
    let (ok, stdout, stderr) = tenant(&data, &["rotate-api-key", "--customer-code", "5678"]);
    assert!(ok, "{stderr}");
    let new_key = stdout.lines().last().unwrap();
    assert!(new_key.starts_with("cok_") && new_key != key, "{stdout}");
    assert!(stdout.contains("within 1 second"), "{stdout}");
    let (status, _) = get(&client, &user, Some(new_key)).await;
    assert_eq!(status, StatusCode::OK, "the new key works at once");
    tokio::time::sleep_until(remembered_until.into()).await;
    let (status, body) = get(&client, &user, Some(&key)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _) = get(&client, &user, Some(new_key)).await;
    assert_eq!(status, StatusCode::OK);
}

/// The text between `start` and the next `end` in `page`.
#[cfg(feature = "demo")]
fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = page
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in {page}"))
        + start.len();
    &page[from..from + page[from..].find(end).unwrap()]
}

#[cfg(feature = "demo")]
#[tokio::test(flavor = "multi_thread")]
async fn demo_admin_panel_issues_activation_codes_and_authenticator_qr_codes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut c = command(&data);
    c.args(["serve", "--demo", "--listen", "127.0.0.1:0", "--dist"])
        .arg(dir.path().join("no-dist"));
    let server = Server::start(c);
    let base = server.base();
    let demo_key = std::fs::read_to_string(data.join("demo-api-key")).unwrap();
    let client = reqwest::Client::new();
    let page = reqwest::get(&server.url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<h2>Institution admin</h2>"), "{page}");
    assert!(page.contains("<form method=\"post\" action=\"/demo/activation\">"));
    assert!(page.contains("<form method=\"post\" action=\"/demo/authenticator\">"));
    let post_form =
        |path: &str, form: &[(&str, &str)]| client.post(format!("{base}{path}")).form(form).send();

    // (a) An activation code, which the trainee's browser then registers with.
    let r = post_form("/demo/activation", &[("user_id", "trainee-042")])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("style-src 'self'") && !csp.contains("unsafe-inline"));
    let shown = r.text().await.unwrap();
    assert!(
        !shown.contains("<script") && !shown.contains("style="),
        "{shown}"
    );
    assert_eq!(
        between(&shown, "<dt>Customer code</dt><dd><code>", "<"),
        "1234"
    );
    assert_eq!(
        between(&shown, "<dt>Login ID</dt><dd><code>", "<"),
        "trainee-042"
    );
    assert!(shown.contains("<a href=\"/\">"), "{shown}");
    let code = between(&shown, "<code class=\"big\">", "<").to_owned();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    let expires = between(&shown, "<time datetime=\"", "\"");
    let expires = cloud_otp_server::clock::parse_rfc3339(expires).unwrap();
    // Now (whole seconds) plus 3 days, with a minute of slack for a slow machine.
    let in_3_days = i64::try_from(now_secs() * 1000).unwrap() + 3 * 24 * 3600 * 1000;
    assert!(
        (in_3_days - 60_000..in_3_days + 1000).contains(&expires),
        "{expires}"
    );
    let device = Device::new("trainee-042", "Chrome on Android");
    let (status, body) = post(
        &format!("{base}/v1/devices"),
        None,
        &json!({ "customer_code": "1234", "user_id": "trainee-042", "activation_code": code,
            "secret": device.secret_b64(), "proof": device.proof_b64(), "fingerprint": device.fingerprint,
            "label": device.label }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post(
        &format!("{base}/v1/check"),
        Some(&demo_key),
        &json!({ "user_id": "trainee-042", "code": device.code_at(now_secs()) }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // (b) An authenticator app: a QR code of the otpauth:// URI, and the URI as text.
    let r = post_form("/demo/authenticator", &[("user_id", "trainee 043")])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let shown = r.text().await.unwrap();
    assert!(
        !shown.contains("<script") && !shown.contains("style="),
        "{shown}"
    );
    let svg = between(&shown, "<svg ", "</svg>");
    assert!(svg.contains("viewBox=") && svg.contains("<path"), "{svg}");
    assert!(!shown.contains("<?xml"));
    let uri = between(&shown, "<code class=\"uri\">", "<").replace("&amp;", "&");
    let parsed = cloud_otp_core::otpauth::KeyUri::parse(&uri).unwrap();
    assert_eq!(parsed.issuer.as_deref(), Some("Demo Academy"));
    assert_eq!(parsed.account, "trainee 043");
    let app = Device {
        secret: parsed.secret.as_bytes().to_vec(),
        ..Device::new("trainee 043", "Authenticator app")
    };
    let (status, body) = post(
        &format!("{base}/v1/check"),
        Some(&demo_key),
        &json!({ "user_id": "trainee 043", "code": app.code_at(now_secs()) }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A second registration needs the replace box; with it, a new key replaces the old one.
    let r = post_form("/demo/authenticator", &[("user_id", "trainee 043")])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("already has a registered device")
    );
    let r = post_form(
        "/demo/authenticator",
        &[("user_id", "trainee 043"), ("replace", "true")],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let replaced = between(&r.text().await.unwrap(), "<code class=\"uri\">", "<").to_owned();
    assert_ne!(replaced.replace("&amp;", "&"), uri);

    // Every value is escaped, invalid IDs are refused, and other sites cannot post.
    let r = post_form("/demo/activation", &[("user_id", "<b>x</b>")])
        .await
        .unwrap();
    let shown = r.text().await.unwrap();
    assert!(
        shown.contains("&lt;b&gt;x&lt;/b&gt;") && !shown.contains("<b>x"),
        "{shown}"
    );
    let r = post_form("/demo/activation", &[("user_id", "")])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client
        .post(format!("{base}/demo/activation"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("user_id", "trainee-042")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
