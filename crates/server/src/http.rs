//! The HTTP plumbing around the handlers: extractors that turn every malformed request into
//! an [`ApiError`], API-key authentication, CORS for the browser endpoints, per-address rate
//! limiting, security headers, request logs and request durations.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{
    ConnectInfo, FromRequest, FromRequestParts, MatchedPath, Path, Query, Request, State,
};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::crypto::token_hash;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::storage::Tenant;
use crate::validate::{CustomerCode, Token, UserId};

/// The Content-Security-Policy of every response: scripts only from this server (WebAssembly
/// compilation allowed), no inline script or style, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A JSON request body: Content-Type must be JSON, unknown fields are refused (the request
/// types use `deny_unknown_fields`), and the body size limit applies.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// Like [`ApiJson`], but an empty body means `T::default()`, for endpoints whose every field
/// is optional.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Describes a JSON error without echoing values from the body: serde's messages for wrong
/// types quote the value, which may be a code or a secret.
fn describe_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let names_field = ["unknown field", "missing field", "duplicate field"]
        .iter()
        .any(|p| text.starts_with(p));
    if names_field {
        let head = text.split(", expected").next().unwrap_or(&text);
        let head = head.split(" at line").next().unwrap_or(head);
        format!("invalid request body: {head}")
    } else if e.is_data() {
        format!(
            "invalid request body: a field has the wrong type (line {}, column {})",
            e.line(),
            e.column()
        )
    } else {
        format!(
            "request body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    }
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else if timed_out(&rejection) {
            ApiError::RequestTimeout
        } else {
            ApiError::BadRequest("the request body could not be read".into())
        }
    })
}

/// Whether an error was caused by the body timeout of [`crate::app`].
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Parses a JSON body into a request type, as every JSON handler does.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(describe_json_error(&e)))
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json(req.headers());
        let bytes = read_body(req, state).await?;
        if bytes.is_empty() {
            return Ok(OptionalJson(T::default()));
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

/// The `{user_id}` path segment, checked.
#[derive(Debug)]
pub struct UserPath(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for UserPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::BadRequest("invalid user_id in path".into()))?;
        Ok(UserPath(UserId::parse(&raw)?))
    }
}

/// The `{customer_code}` path segment, checked.
#[derive(Debug)]
pub struct CustomerPath(pub CustomerCode);

impl<S: Send + Sync> FromRequestParts<S> for CustomerPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::BadRequest("invalid customer_code in path".into()))?;
        Ok(CustomerPath(CustomerCode::parse(&raw)?))
    }
}

/// A query string, decoded into `T` (which refuses unknown parameters).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|_| ApiError::BadRequest("invalid query string".into()))
    }
}

/// The institution calling, authenticated by `Authorization: Bearer API_KEY`.
#[derive(Debug, Clone)]
pub struct Institution(pub Tenant);

impl FromRequestParts<AppState> for Institution {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let (scheme, key) = value.split_once(' ').ok_or(ApiError::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Unauthorized);
        }
        let key = Token::parse(key.trim()).map_err(|_| ApiError::Unauthorized)?;
        let tenant = state
            .keys
            .tenant(&state.storage, &token_hash(key.as_str()))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(Institution(tenant))
    }
}

/// The Origin header of a request, if any and readable.
pub fn origin_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
}

/// The last entry of the last line of a list header such as X-Forwarded-For: the one the
/// nearest proxy added. Earlier lines and entries come from further away, the client included,
/// so they are never trusted.
fn last_entry<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let line = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    line.rsplit(',').next().map(str::trim)
}

/// The single Host header, if there is exactly one.
fn single_host(headers: &HeaderMap) -> Option<&str> {
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().ok(),
        _ => None,
    }
}

/// Whether `origin` is this server itself (the page was served from here): the scheme the
/// request came with and the Host header the browser sent. The server speaks plain HTTP, so
/// the scheme is `http`, unless `trust_proxy` is set and the proxy's X-Forwarded-Proto (its
/// last entry) says `https`. An `https://` Origin on a plain-HTTP request is another origin.
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header};
/// use cloud_otp_server::http::same_origin;
/// let mut h = HeaderMap::new();
/// h.insert(header::HOST, HeaderValue::from_static("otp.example:8080"));
/// assert!(same_origin(&h, "http://otp.example:8080", false));
/// assert!(!same_origin(&h, "https://otp.example:8080", false));
/// h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
/// assert!(same_origin(&h, "https://otp.example:8080", true));
/// assert!(!same_origin(&h, "https://otp.example:8080", false));
/// ```
pub fn same_origin(headers: &HeaderMap, origin: &str, trust_proxy: bool) -> bool {
    let Some(host) = single_host(headers) else {
        return false;
    };
    let https = trust_proxy
        && last_entry(headers, "x-forwarded-proto")
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let scheme = if https { "https://" } else { "http://" };
    origin
        .strip_prefix(scheme)
        .is_some_and(|h| h.eq_ignore_ascii_case(host))
}

/// Which Host headers the server answers (docs/security.md, "DNS rebinding").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPolicy {
    /// Any name: the server listens on a public address, or a reverse proxy chose the site by
    /// its name before forwarding.
    Any,
    /// Only loopback names (`localhost`, 127.0.0.0/8, `[::1]`, any port): a server on a
    /// loopback address is reached from this machine only, so another name in Host is a DNS
    /// name pointed at 127.0.0.1 by someone else's web page.
    Loopback,
}

/// Whether a Host header names this machine's loopback interface.
///
/// ```
/// use cloud_otp_server::http::is_loopback_host;
/// assert!(is_loopback_host("localhost:8080") && is_loopback_host("127.0.0.1"));
/// assert!(is_loopback_host("[::1]:8080") && is_loopback_host("LOCALHOST"));
/// assert!(!is_loopback_host("evil.example:8080") && !is_loopback_host("[::2]:80"));
/// ```
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or("", |(ip, _)| ip),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses a request without exactly one Host header (RFC 9112 section 3.2: 400), and under
/// [`HostPolicy::Loopback`] one whose Host is not a loopback name (421 wrong_host).
pub async fn require_host(State(policy): State<HostPolicy>, req: Request, next: Next) -> Response {
    let Some(host) = single_host(req.headers()) else {
        return ApiError::BadRequest("send exactly one Host header".into()).into_response();
    };
    if policy == HostPolicy::Loopback && !is_loopback_host(host) {
        return ApiError::WrongHost.into_response();
    }
    next.run(req).await
}

/// CORS for the browser endpoints (Fetch standard, CORS protocol): an origin that some tenant
/// registered may call them; preflights are answered here. Which tenant's origins apply is
/// checked again in the handler, once the session tells the tenant.
pub async fn cors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(origin) = origin_of(req.headers()) else {
        return next.run(req).await;
    };
    let allowed = same_origin(req.headers(), &origin, state.config.trust_forwarded_for)
        || state.storage.origin_known(&origin).await.unwrap_or(false);
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        if !allowed {
            return ApiError::OriginNotAllowed.into_response();
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        set(h, header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST");
        set(h, header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type");
        set(h, header::ACCESS_CONTROL_MAX_AGE, "600");
        allow_origin(h, &origin);
        return response;
    }
    let mut response = next.run(req).await;
    if allowed {
        allow_origin(response.headers_mut(), &origin);
    }
    response
}

fn allow_origin(headers: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &'static str) {
    headers.insert(name, HeaderValue::from_static(value));
}

/// Refuses a browser request whose Origin is neither this server nor one of the tenant's
/// registered origins, so one institution's session cannot be driven from another's site.
pub async fn check_origin(
    state: &AppState,
    headers: &HeaderMap,
    tenant_id: &str,
) -> Result<Option<String>, ApiError> {
    let Some(origin) = origin_of(headers) else {
        return Ok(None);
    };
    if same_origin(headers, &origin, state.config.trust_forwarded_for)
        || state.storage.tenant_has_origin(tenant_id, &origin).await?
    {
        Ok(Some(origin))
    } else {
        Err(ApiError::OriginNotAllowed)
    }
}

/// A fixed-window request counter per client address: at most `limit` requests in each
/// window (a clock minute for the public endpoints, a clock hour for activation attempts).
/// The table is cleared when the window changes, so it never outgrows one window's clients.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window_ms: u64,
    window: Mutex<(u64, HashMap<IpAddr, u32>)>,
}

impl RateLimiter {
    /// A limiter of `per_minute` requests per clock minute; 0 turns limiting off.
    pub fn new(per_minute: u32) -> Self {
        Self::per_window(per_minute, 60_000)
    }

    /// A limiter of `limit` requests per window of `window_ms` milliseconds (at least 1);
    /// `limit` 0 turns limiting off.
    ///
    /// ```
    /// use cloud_otp_server::http::RateLimiter;
    /// let hourly = RateLimiter::per_window(1, 3_600_000);
    /// let ip = [10, 0, 0, 1].into();
    /// assert!(hourly.check(ip, 0).is_ok());
    /// assert_eq!(hourly.check(ip, 600_000), Err(3_000));
    /// assert!(hourly.check([10, 0, 0, 2].into(), 600_000).is_ok());
    /// ```
    pub fn per_window(limit: u32, window_ms: u64) -> Self {
        RateLimiter {
            limit,
            window_ms: window_ms.max(1),
            window: Mutex::new((0, HashMap::new())),
        }
    }

    /// Counts one request of `ip` (in its [`bucket`]) at `now_ms`; `Err(seconds)` tells how
    /// long to wait.
    ///
    /// ```
    /// use cloud_otp_server::http::RateLimiter;
    /// let limiter = RateLimiter::new(2);
    /// let ip = [127, 0, 0, 1].into();
    /// assert!(limiter.check(ip, 60_000).is_ok());
    /// assert!(limiter.check(ip, 60_001).is_ok());
    /// assert_eq!(limiter.check(ip, 90_000), Err(30));
    /// assert!(limiter.check(ip, 120_000).is_ok());
    /// ```
    pub fn check(&self, ip: IpAddr, now_ms: u64) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let index = now_ms / self.window_ms;
        let mut guard = self
            .window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (current, counts) = &mut *guard;
        if *current != index {
            *current = index;
            counts.clear();
        }
        let count = counts.entry(bucket(ip)).or_insert(0);
        if *count >= self.limit {
            let wait_ms = (index + 1) * self.window_ms - now_ms;
            return Err(wait_ms.div_ceil(1000).max(1));
        }
        *count += 1;
        Ok(())
    }
}

/// The rate limiters' bucket of an address: each IPv4 address (also when written as an
/// IPv4-mapped IPv6 address) its own, IPv6 addresses by their /64 network, since one home,
/// phone or server usually holds a whole /64 (RFC 7421) and could otherwise take a fresh
/// address, and so a fresh allowance, for every request.
///
/// ```
/// use cloud_otp_server::http::bucket;
/// let a = bucket("2001:db8:1:2::1".parse().unwrap());
/// assert_eq!(a, bucket("2001:db8:1:2:ffff::9".parse().unwrap()));
/// assert_ne!(a, bucket("2001:db8:1:3::1".parse().unwrap()));
/// assert_eq!(bucket("::ffff:192.0.2.1".parse().unwrap()), bucket("192.0.2.1".parse().unwrap()));
/// ```
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
        v4 => v4,
    }
}

/// The client's address: the TCP peer, or with `trust_forwarded_for` the last address in
/// X-Forwarded-For (the one the trusted proxy added), read across all its lines: a proxy
/// appends to the last line or adds a line, so the client's own lines come before it. An
/// unreadable last entry counts as the proxy's own address, never as the client's choice.
fn client_ip(state: &AppState, req: &Request) -> IpAddr {
    client_ip_of(state, req.headers(), req.extensions())
}

fn client_ip_of(state: &AppState, headers: &HeaderMap, extensions: &Extensions) -> IpAddr {
    if state.config.trust_forwarded_for
        && let Some(ip) = last_entry(headers, "x-forwarded-for").and_then(|v| v.parse().ok())
    {
        return ip;
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The client's address as a handler argument, judged as the rate limiter judges it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(ClientIp(client_ip_of(
            state,
            &parts.headers,
            &parts.extensions,
        )))
    }
}

/// Rate limiting of the public endpoints: 429 rate_limited with Retry-After.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = client_ip(&state, &req);
    match state.limiter.check(ip, state.clock.now_ms()) {
        Ok(()) => next.run(req).await,
        Err(retry_after_secs) => {
            tracing::warn!(%ip, "rate limited");
            ApiError::RateLimited { retry_after_secs }.into_response()
        }
    }
}

/// Security headers on every response; API and demo responses are never cached.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let no_store = req.uri().path().starts_with("/v1/") || req.uri().path().starts_with("/demo");
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
    ] {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    if no_store {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// Records each request's duration under its matched route (`/v1/users/{user_id}`, never
/// the raw path, which holds user IDs); the static files and unknown paths are `static`.
pub async fn measure(
    State(metrics): State<std::sync::Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("static", MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.request(method.as_str(), &route, started.elapsed());
    response
}

/// One log line per request: method, path (never the query string, which may carry IDs),
/// status and duration. Bodies, tokens and codes are never logged.
pub async fn log_requests(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    tracing::debug!(%method, %path, "request started");
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_millis();
    // A probe polled every second would drown the log; /readyz logs why it is not ready.
    if path == "/healthz" || path == "/readyz" {
        tracing::debug!(%method, %path, status, ms, "request");
    } else if status >= 500 {
        tracing::error!(%method, %path, status, ms, "request");
    } else {
        tracing::info!(%method, %path, status, ms, "request");
    }
    response
}

/// Percent-encodes text, such as a login ID, for one URL path segment (RFC 3986 section 2.3:
/// everything but the unreserved characters), as a client of `/v1/users/{user_id}` must.
///
/// ```
/// use cloud_otp_server::http::path_segment;
/// assert_eq!(path_segment("trainee 1/ä"), "trainee%201%2F%C3%A4");
/// ```
pub fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
