//! A minimal HTTP/1.1 client for loopback load generation: one request at a time per
//! connection, keep-alive when the server allows it (RFC 9112 section 9.3), a new connection
//! when it answers `Connection: close` (gunicorn's sync workers do). Bodies must carry
//! Content-Length; chunked responses are refused, which is enough for the two servers
//! measured here and keeps the client's own cost small.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The response was not HTTP/1.1 as this client understands it.
    #[error("bad response: {0}")]
    Bad(&'static str),
    /// No complete response within the time limit.
    #[error("timed out")]
    Timeout,
}

/// A response: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// The head of a response: status, body length, and whether the server closes afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// HTTP status code.
    pub status: u16,
    /// Length of the head including the blank line.
    pub head_len: usize,
    /// Content-Length of the body.
    pub body_len: usize,
    /// `Connection: close` was sent (or the response is HTTP/1.0).
    pub close: bool,
}

/// Parses a response head from `buf`; `Ok(None)` while the blank line has not arrived.
///
/// ```
/// use cloud_otp_bench::http::parse_head;
/// let raw = b"HTTP/1.1 409 Conflict\r\ncontent-length: 2\r\n\r\n{}";
/// let head = parse_head(raw).unwrap().unwrap();
/// assert_eq!((head.status, head.head_len, head.body_len, head.close), (409, 44, 2, false));
/// ```
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, HttpError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| HttpError::Bad("head not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().ok_or(HttpError::Bad("empty head"))?;
    let mut parts = status_line.split(' ');
    let version = parts.next().unwrap_or("");
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(HttpError::Bad("no status code"))?;
    let mut close = version != "HTTP/1.1";
    let mut body_len = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(HttpError::Bad("header line without colon"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            body_len = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| HttpError::Bad("bad content-length"))?,
            );
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::Bad("chunked responses are not supported"));
        }
    }
    Ok(Some(Head {
        status,
        head_len: end + 4,
        body_len: body_len.unwrap_or(0),
        close,
    }))
}

/// One client connection to one server address, reconnected as needed.
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Conn {
    /// A connection to `addr` (opened lazily) with a per-request time limit.
    pub fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(4096),
            timeout,
        }
    }

    /// Opens the socket now, so that connecting is not timed as part of the first request.
    pub async fn connect(&mut self) -> Result<(), HttpError> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        Ok(())
    }

    /// Sends one complete request (head and body, already serialized) and reads the response.
    /// A kept-alive connection that the server closed meanwhile is retried once on a new one.
    pub async fn send(&mut self, request: &[u8]) -> Result<Response, HttpError> {
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(result) => result,
            Err(_) => {
                self.stream = None;
                Err(HttpError::Timeout)
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<Response, HttpError> {
        let reused = self.stream.is_some();
        match self.exchange_once(request).await {
            Err(HttpError::Io(_)) if reused => {
                self.stream = None;
                self.exchange_once(request).await
            }
            other => other,
        }
    }

    async fn exchange_once(&mut self, request: &[u8]) -> Result<Response, HttpError> {
        self.connect().await?;
        let result = self.round_trip(request).await;
        // Keep the socket only when the response leaves it usable: after an error, or after
        // `Connection: close`, the next request needs a new connection.
        if !matches!(result, Ok((_, true))) {
            self.stream = None;
        }
        result.map(|(response, _)| response)
    }

    /// Writes the request and reads one response; the flag says the connection stays usable.
    async fn round_trip(&mut self, request: &[u8]) -> Result<(Response, bool), HttpError> {
        let stream = self
            .stream
            .as_mut()
            .ok_or(HttpError::Bad("not connected"))?;
        stream.write_all(request).await?;
        self.buf.clear();
        let head = loop {
            if let Some(head) = parse_head(&self.buf)? {
                break head;
            }
            if read_more(stream, &mut self.buf).await? == 0 {
                return Err(eof());
            }
        };
        let total = head.head_len + head.body_len;
        while self.buf.len() < total {
            if read_more(stream, &mut self.buf).await? == 0 {
                return Err(eof());
            }
        }
        let body = self.buf[head.head_len..total].to_vec();
        Ok((
            Response {
                status: head.status,
                body,
            },
            !head.close,
        ))
    }
}

fn eof() -> HttpError {
    HttpError::Io(std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// Serializes a POST request with a body.
///
/// ```
/// use cloud_otp_bench::http::post;
/// let r = post("127.0.0.1:1", "/x", "text/plain", &[("X-A", "b")], "hi");
/// assert_eq!(r, b"POST /x HTTP/1.1\r\nHost: 127.0.0.1:1\r\nX-A: b\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi");
/// ```
pub fn post(
    host: &str,
    path: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    let mut out = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn head_needs_the_blank_line() {
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n").unwrap(),
            None
        );
    }

    #[test]
    fn connection_close_and_http10_close() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.close);
        assert_eq!(h.body_len, 3);
        let h = parse_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert!(h.close);
    }

    /// A server on loopback that answers `answers` requests, each with `head`, and counts the
    /// connections it accepted.
    async fn counting_server(
        head: &'static str,
        answers: usize,
    ) -> (SocketAddr, tokio::task::JoinHandle<usize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut accepted, mut answered) = (0, 0);
            while answered < answers {
                let (mut stream, _) = listener.accept().await.unwrap();
                accepted += 1;
                let mut buf = [0u8; 1024];
                // Each test request arrives in one read: it is small and written at once.
                while answered < answers && stream.read(&mut buf).await.unwrap() > 0 {
                    stream.write_all(head.as_bytes()).await.unwrap();
                    answered += 1;
                    if head.contains("close") {
                        break;
                    }
                }
            }
            accepted
        });
        (addr, task)
    }

    #[tokio::test]
    async fn keep_alive_reuses_the_connection() {
        let (addr, server) =
            counting_server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 3).await;
        let mut conn = Conn::new(addr, Duration::from_secs(5));
        let request = post("x", "/", "text/plain", &[], "hi");
        for _ in 0..3 {
            let r = conn.send(&request).await.unwrap();
            assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
        }
        assert_eq!(server.await.unwrap(), 1, "three requests on one connection");
    }

    #[tokio::test]
    async fn connection_close_opens_a_new_connection() {
        let head = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let (addr, server) = counting_server(head, 3).await;
        let mut conn = Conn::new(addr, Duration::from_secs(5));
        let request = post("x", "/", "text/plain", &[], "hi");
        for _ in 0..3 {
            assert_eq!(conn.send(&request).await.unwrap().status, 200);
        }
        assert_eq!(server.await.unwrap(), 3, "one connection per request");
    }

    #[test]
    fn chunked_is_refused() {
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err());
    }
}
