//! The OpenAPI document (`crates/server/openapi.json`, served at `GET /v1/openapi.json`)
//! against the real router: it lists exactly the routes `app` builds (read from src/lib.rs,
//! so a route cannot be added without it), its error codes are those of docs/api.md and
//! src/error.rs, and on both databases over a real socket every documented operation is
//! served, its minimal valid request (the required fields, with the document's examples) is
//! accepted by the handler's parse and answered with a documented status, each required
//! field left out is `400 bad_request`, and each optional field is accepted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::{Backend, TestApp};
use reqwest::Method;
use serde_json::{Map, Value};

on_both_backends!(every_documented_operation_is_served_as_documented);

const METHODS: [&str; 6] = ["get", "post", "put", "patch", "delete", "options"];

fn document() -> Value {
    serde_json::from_str(include_str!("../openapi.json")).unwrap()
}

/// The (method, path) of every `.route(...)` in `app` (src/lib.rs).
fn router_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../src/lib.rs");
    let app = &source[source.find("pub fn app(").unwrap()..];
    let mut routes = BTreeSet::new();
    for chunk in app.split(".route(").skip(1) {
        let mut depth = 1;
        let end = chunk
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .unwrap()
            .0;
        let args = &chunk[..end];
        let path = args.split('"').nth(1).unwrap();
        for method in METHODS {
            let called = args.match_indices(&format!("{method}(")).any(|(i, _)| {
                !args[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            });
            if called {
                routes.insert((method.to_owned(), path.to_owned()));
            }
        }
    }
    routes
}

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}");
            ops.insert((method.clone(), path.clone()));
        }
    }
    ops
}

/// Every `"$ref"` in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_lists_exactly_the_routers_routes_and_the_error_codes() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let routes = router_routes();
    assert!(routes.len() >= 20, "{routes:?}");
    assert_eq!(documented_operations(&doc), routes);
    assert_eq!(
        cloud_otp_server::api::OPENAPI_JSON,
        include_str!("../openapi.json")
    );

    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(doc["components"]["schemas"].get(name).is_some(), "{r}");
    }

    // The error codes: the table of docs/api.md, and every code src/error.rs can give.
    let documented: BTreeSet<String> = doc["components"]["schemas"]["Error"]["properties"]["error"]
        ["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let api_md = include_str!("../../../docs/api.md");
    let table = &api_md[api_md.find("## Error codes").unwrap()..];
    let table = &table[..table.find("\n\n`").unwrap()];
    let in_api_md: BTreeSet<String> = table
        .lines()
        .filter(|l| l.starts_with("| 4") || l.starts_with("| 5"))
        .filter_map(|l| l.split('`').nth(1))
        .filter(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'))
        .map(str::to_owned)
        .collect();
    assert_eq!(documented, in_api_md);
    let error_rs = include_str!("../src/error.rs");
    let in_code: BTreeSet<String> = error_rs
        .split("=> (\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect();
    assert_eq!(documented, in_code);
}

/// The schemas a request body may take: its `$ref`, or each of its `oneOf`.
fn body_schemas<'a>(doc: &'a Value, op: &'a Value) -> Vec<&'a Map<String, Value>> {
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    let one = |s: &Value| {
        let name = s["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        doc["components"]["schemas"][name].as_object().unwrap()
    };
    match schema.get("oneOf") {
        Some(Value::Array(alternatives)) => alternatives.iter().map(one).collect(),
        _ => vec![one(schema)],
    }
}

fn example(property: &Value) -> Value {
    property
        .get("example")
        .cloned()
        .unwrap_or_else(|| panic!("no example in {property}"))
}

/// The request's status and error code (if any).
async fn send(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, String) {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut request = client.request(method, url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let code = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}

async fn every_documented_operation_is_served_as_documented(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Demo Academy", "1234", &[]).await;
    let base = common::serve_on_loopback(app.router.clone()).await;
    let client = reqwest::Client::new();
    let doc = document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let what = format!("{method} {path}");
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut url = format!("{base}{path}");
            let mut query = Vec::new();
            for p in &params {
                let name = p["name"].as_str().unwrap();
                let value = example(&p["schema"]);
                let value = value.as_str().map_or(value.to_string(), str::to_owned);
                match p["in"].as_str().unwrap() {
                    "path" => url = url.replace(&format!("{{{name}}}"), &value),
                    "query" => query.push(format!("{name}={value}")),
                    _ => {}
                }
            }
            if !query.is_empty() {
                url = format!("{url}?{}", query.join("&"));
            }
            if method == "options" {
                // A preflight from this server's own origin.
                let r = client
                    .request(Method::OPTIONS, &url)
                    .header("origin", &base)
                    .header("access-control-request-method", "POST")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 204, "{what}");
                checked += 1;
                continue;
            }
            let key = (!op["security"].as_array().unwrap().is_empty()).then_some(key.as_str());
            let documented = |status: u16| op["responses"].get(status.to_string()).is_some();
            let accepted = |(status, code): &(u16, String), sent: &str| {
                assert!(
                    documented(*status),
                    "{what} with {sent}: undocumented {status} {code}"
                );
                assert!(
                    !matches!(
                        code.as_str(),
                        "bad_request" | "invalid_proof" | "not_found" | "method_not_allowed"
                    ),
                    "{what} with {sent}: {status} {code}"
                );
            };
            if op.get("requestBody").is_none() {
                accepted(&send(&client, method, &url, key, None).await, "no body");
                checked += 1;
                continue;
            }
            if op["requestBody"]["required"] == false {
                accepted(&send(&client, method, &url, key, None).await, "no body");
            }
            for schema in body_schemas(&doc, op) {
                let properties = schema["properties"].as_object().unwrap();
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().map(|v| v.as_str().unwrap()).collect())
                    .unwrap_or_default();
                let minimal: Map<String, Value> = required
                    .iter()
                    .map(|&name| (name.to_owned(), example(&properties[name])))
                    .collect();
                let body = Value::Object(minimal.clone());
                accepted(
                    &send(&client, method, &url, key, Some(&body)).await,
                    &body.to_string(),
                );
                for &name in &required {
                    let mut without = minimal.clone();
                    without.remove(name);
                    let body = Value::Object(without);
                    let (status, code) = send(&client, method, &url, key, Some(&body)).await;
                    assert_eq!(
                        (status, code.as_str()),
                        (400, "bad_request"),
                        "{what} without {name}"
                    );
                }
                for (name, property) in properties {
                    if required.contains(&name.as_str()) {
                        continue;
                    }
                    let mut with = minimal.clone();
                    with.insert(name.clone(), example(property));
                    let body = Value::Object(with);
                    accepted(
                        &send(&client, method, &url, key, Some(&body)).await,
                        &body.to_string(),
                    );
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, router_routes().len());
    // The document as served.
    let served: Value = client
        .get(format!("{base}/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, doc);
}
