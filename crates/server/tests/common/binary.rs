//! The real `cloud-otp` binary as an operator runs it: commands with a private data directory,
//! server processes whose URL and every output line the test keeps, SIGKILL, and an HTTP
//! client that reports a dead server instead of failing.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use cloud_otp_core::otpauth::KeyUri;
use serde_json::Value;

use super::Device;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_cloud-otp");

/// The command with a private data directory, none of the operator's environment, and
/// colourless logs at `info` (tests override RUST_LOG where they need more).
pub fn command(data_dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("CLOUD_OTP_DATA_DIR", data_dir)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    for var in [
        "CLOUD_OTP_MASTER_KEY",
        "CLOUD_OTP_EXTRA_MASTER_KEYS",
        "CLOUD_OTP_DATABASE",
        "CLOUD_OTP_RATE_LIMIT",
        "CLOUD_OTP_ACTIVATION_RATE_LIMIT",
        "CLOUD_OTP_WEBHOOK_CA_FILE",
    ] {
        c.env_remove(var);
    }
    c
}

/// Runs a command to completion; returns (success, stdout, stderr).
pub fn run(mut c: Command) -> (bool, String, String) {
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `tenant create` through `c` (from [`command`]), with `extra` arguments such as
/// `--database URL`; returns the API key from the last line and everything it printed.
pub fn create_tenant(
    mut c: Command,
    name: &str,
    customer_code: &str,
    extra: &[&str],
) -> (String, String) {
    c.args([
        "tenant",
        "create",
        "--name",
        name,
        "--customer-code",
        customer_code,
    ])
    .args(extra);
    let (ok, stdout, stderr) = run(c);
    assert!(ok, "tenant create failed: {stderr}");
    let key = stdout.lines().last().unwrap().to_owned();
    (key, format!("{stdout}{stderr}"))
}

/// A running `cloud-otp serve`.
pub struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            into.lock().unwrap().push_str(&line);
            line.clear();
        }
    })
}

impl Served {
    /// Starts `c` (a `serve` command) and returns once it printed its URL, which it does
    /// only when it listens: readiness without polling or sleeping.
    pub fn start(mut c: Command) -> Served {
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let stderr = collect(child.stderr.take().unwrap(), output.clone());
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut url = String::new();
        stdout.read_line(&mut url).unwrap();
        if url.trim().is_empty() {
            let status = child.wait().unwrap();
            stderr.join().unwrap();
            panic!(
                "server printed no URL ({status}); its output:\n{}",
                output.lock().unwrap()
            );
        }
        output.lock().unwrap().push_str(&url);
        let rest = url.trim().strip_prefix("http://").unwrap();
        let base = format!("http://{}", rest.split('/').next().unwrap());
        let stdout = collect(stdout, output.clone());
        Served {
            child,
            base,
            output,
            readers: vec![stderr, stdout],
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// kill -9: the process dies at once, wherever it is.
    pub fn kill9(&mut self) -> ExitStatus {
        self.child.kill().unwrap();
        self.child.wait().unwrap()
    }

    /// SIGTERM, then waits for the graceful shutdown.
    pub fn terminate(&mut self) -> ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        self.child.wait().unwrap()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGHUP, through kill(1) as an operator sends it.
    pub fn hangup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits until `needle` occurs at least `count` times in the output and returns the
    /// output; fails if the process exits first or it does not happen within 30 seconds (a
    /// bound for a hung server, not a timing assertion).
    pub fn wait_for_output(&mut self, needle: &str, count: usize) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let output = self.output();
            if output.matches(needle).count() >= count {
                return output;
            }
            assert!(self.running(), "the server exited; its output:\n{output}");
            assert!(
                std::time::Instant::now() < deadline,
                "no {count}x {needle:?} within 30 s; the output:\n{output}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Everything the process wrote to stdout and stderr so far (all of it once it exited).
    pub fn output(&mut self) -> String {
        if self.child.try_wait().unwrap().is_some() {
            for reader in self.readers.drain(..) {
                reader.join().unwrap();
            }
        }
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP exchange: `Ok((status, json))`, or `Err` when no answer came (a dead server).
pub async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value), reqwest::Error> {
    let mut req = client.request(method, url);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    let response = req.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Makes an authenticator app `user`'s device through `base`; returns it as a [`Device`]
/// whose secret is the one in the otpauth:// URI, and the URI.
pub async fn authenticator(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    user: &str,
) -> (Device, String) {
    let (status, body) = call(
        client,
        reqwest::Method::POST,
        &format!("{base}/v1/users/{user}/authenticator"),
        Some(key),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let uri = body["otpauth_uri"].as_str().unwrap().to_owned();
    let parsed = KeyUri::parse(&uri).unwrap();
    let device = Device {
        id: body["device_id"].as_str().unwrap().to_owned(),
        secret: parsed.secret.as_bytes().to_vec(),
        fingerprint: String::new(),
        label: "Authenticator app".into(),
    };
    (device, uri)
}

/// The current Unix time in seconds, as the server's clock sees it.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
