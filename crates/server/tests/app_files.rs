//! The installable app's files as the server sends them (docs/integration.md, "The installable
//! app"): the service worker at the root, so that its scope covers the page at `/`, and the
//! manifest, each with its type and revalidated at every use, so a new build reaches browsers
//! on their next visit; API answers are never stored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::{StatusCode, header};
use common::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_and_the_manifest_have_their_types_and_are_revalidated_at_every_use() {
    let app = TestApp::new(Backend::Sqlite).await;
    let dist = app.state.config.dist_dir.clone();
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><title>x</title>").unwrap();
    std::fs::write(dist.join("sw.js"), "self.onfetch=()=>{};").unwrap();
    std::fs::write(dist.join("manifest.webmanifest"), r#"{"name":"x"}"#).unwrap();
    for (uri, kind) in [
        ("/sw.js", "text/javascript; charset=utf-8"),
        ("/manifest.webmanifest", "application/manifest+json"),
        // A version asked for changes nothing: these two are never kept.
        ("/sw.js?v=0123456789", "text/javascript; charset=utf-8"),
    ] {
        let r = app.fetch(uri).await;
        assert_eq!(r.status(), StatusCode::OK, "{uri}");
        assert_eq!(r.headers()[header::CONTENT_TYPE], kind, "{uri}");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache", "{uri}");
    }
    // The page's own scripts keep their usual type; the API is never stored.
    let r = app.fetch("/v1/time").await;
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    let r = app.fetch("/index.html").await;
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}
