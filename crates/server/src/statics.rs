//! The built web app (dist/) as static files, and the answers for paths nothing else serves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::AppState;
use crate::error::ApiError;

/// Escapes text for HTML element content and attribute values.
///
/// ```
/// use cloud_otp_server::statics::escape_html;
/// assert_eq!(escape_html("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
/// ```
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Everything no route matched: a JSON 404 under /v1/, otherwise a file from dist/.
pub async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    if path == "/v1" || path.starts_with("/v1/") {
        return ApiError::NotFound.into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::MethodNotAllowed.into_response();
    }
    let dir = &state.config.dist_dir;
    if !stays_inside(dir, path).await {
        return not_found_page(dir);
    }
    // A versioned address (`?v=`) of a file in dist/: the file and the version asked for.
    let versioned = version_asked(req.uri().query())
        .zip(plain_file_name(path))
        .map(|(asked, name)| (dir.join(name), asked.to_owned()));
    let kind = app_file_type(path);
    // The build writes a gzip -9 copy beside each file (www/build/post-build.mjs): a trainee's
    // phone then downloads the app's 60 KiB instead of its 144 KiB, at no CPU cost per request.
    let served = ServeDir::new(dir)
        .append_index_html_on_directories(true)
        .precompressed_gzip()
        .oneshot(req)
        .await;
    let mut response = match served {
        Ok(r) if r.status() != StatusCode::NOT_FOUND => r.map(Body::new),
        _ => return not_found_page(state.config.dist_dir.as_path()),
    };
    // Training sites load the widget's script and WebAssembly from this server as module
    // scripts and fetches, which are CORS requests: the public assets allow every origin.
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    // The same address answers gzip or not, by the request's Accept-Encoding: caches must know.
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // The pages ask for the module, its glue, app.js and the style sheet by versioned
    // addresses (`?v=` and the first 10 hex digits of the file's SHA-256, written by the build:
    // www/build/post-build.mjs); such an answer never changes, so browsers keep it a year
    // and a returning trainee loads it without asking. Everything else, and a version that
    // is not the file's (a page from before a deployment), is revalidated at every use, so a
    // page never runs the glue of one build with the module of another.
    let cache = match versioned {
        Some((file, asked)) if current_version(&file).await.as_ref() == Some(&asked) => {
            "public, max-age=31536000, immutable"
        }
        _ => "no-cache",
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    // The installable app's worker and manifest (docs/integration.md): unversioned, so
    // revalidated at every use like the page (a browser checks the worker for a new build on
    // each visit), each with its own type whatever the platform's MIME table says.
    if let Some(kind) = kind {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    }
    response
}

/// The Content-Type of the installable app's service worker and manifest, by path.
fn app_file_type(path: &str) -> Option<&'static str> {
    match path {
        "/sw.js" => Some("text/javascript; charset=utf-8"),
        "/manifest.webmanifest" => Some("application/manifest+json"),
        _ => None,
    }
}

/// Whether every file the static service could answer `path` with (the file, its `.gz`
/// copy, a directory's `index.html` and its copy) is inside `dir` once symbolic links are
/// resolved. The static service follows links, and a link in dist/ to a file elsewhere (say
/// /etc/passwd) would serve that file. Paths the service refuses by itself (`..`, bad
/// percent-encoding) and files that do not exist pass here and get its 404.
async fn stays_inside(dir: &Path, path: &str) -> bool {
    let Ok(root) = tokio::fs::canonicalize(dir).await else {
        return true;
    };
    let Ok(decoded) = percent_encoding::percent_decode_str(path).decode_utf8() else {
        return true;
    };
    let mut file = root.clone();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return true,
            name => file.push(name),
        }
    }
    let mut candidates = vec![file.clone()];
    if tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_dir()) {
        candidates.push(file.join("index.html"));
    }
    for candidate in candidates {
        let mut gz = candidate.clone().into_os_string();
        gz.push(".gz");
        for f in [candidate, PathBuf::from(gz)] {
            if let Ok(real) = tokio::fs::canonicalize(&f).await
                && !real.starts_with(&root)
            {
                tracing::warn!(path = %f.display(), "refused a link out of the dist directory");
                return false;
            }
        }
    }
    true
}

/// The `v` parameter of a query string.
fn version_asked(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|pair| pair.strip_prefix("v="))
}

/// The file name of a path like `/cloud-otp-web.js`: one segment of plain characters, so
/// that what is hashed is the file the static service answered with, inside `dist/`.
fn plain_file_name(path: &str) -> Option<&str> {
    let name = path.strip_prefix('/')?;
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    plain.then_some(name)
}

/// What the build would write as the version of `file`: the first 10 hex digits of its
/// SHA-256. Kept per file with its modification time and length, so a file is hashed once
/// per change, not per request.
async fn current_version(file: &Path) -> Option<String> {
    /// Per file: its modification time and length when hashed, and its version.
    type Versions = HashMap<PathBuf, (SystemTime, u64, String)>;
    static KNOWN: LazyLock<Mutex<Versions>> = LazyLock::new(Mutex::default);
    let meta = tokio::fs::metadata(file).await.ok()?;
    let (modified, len) = (meta.modified().ok()?, meta.len());
    if let Some((_, _, version)) = KNOWN
        .lock()
        .ok()?
        .get(file)
        .filter(|known| (known.0, known.1) == (modified, len))
    {
        return Some(version.clone());
    }
    let bytes = tokio::fs::read(file).await.ok()?;
    let version = hex::encode(&Sha256::digest(&bytes)[..5]);
    KNOWN
        .lock()
        .ok()?
        .insert(file.to_owned(), (modified, len, version.clone()));
    Some(version)
}

/// A 404 page that says, when the web app was not built, where it was looked for.
fn not_found_page(dir: &std::path::Path) -> Response {
    let built = dir.join("index.html").is_file();
    let body = if built {
        "<h1>Not found</h1><p>There is no page at this address.</p>".to_owned()
    } else {
        format!(
            "<h1>cloud-otp is running</h1><p>The web app is not built: there is no \
             <code>index.html</code> in <code>{}</code>. Build it with \
             <code>scripts/build-web.sh</code> in the project, or point the server at it with \
             <code>--dist DIR</code>. The API under <code>/v1/</code> works without it.</p>",
            escape_html(&dir.display().to_string())
        )
    };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>cloud-otp: not found</title></head><body>{body}</body></html>"
    );
    (StatusCode::NOT_FOUND, Html(page)).into_response()
}
