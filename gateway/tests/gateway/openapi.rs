//! The OpenAPI document: every operation in it is served, no route serves an API path outside
//! it, and the committed `gateway/openapi.json` is what a gateway with default settings serves.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{CommandFactory, FromArgMatches};
use gateway::config::{Cli, Settings};
use serde_json::Value;

use crate::helpers::TestApp;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

#[tokio::test]
async fn every_documented_operation_is_served_not_left_to_the_fallback() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 11, "{:?}", paths.keys());
    for (path, item) in paths {
        let url = app.url(&path.replace("{concertId}", "1"));
        for method in item.as_object().unwrap().keys() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app
                .client
                .request(method.clone(), &url)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            if status == 404 || status == 405 {
                // A route's own 404 names what is missing; the fallback's and the method
                // router's are NOT_FOUND and METHOD_NOT_ALLOWED.
                let body: Value = res.json().await.unwrap();
                assert!(
                    !matches!(
                        body["code"].as_str(),
                        Some("NOT_FOUND" | "METHOD_NOT_ALLOWED")
                    ),
                    "{method} {path} is documented but not served: {body}"
                );
            }
        }
    }
}

#[test]
fn no_route_outside_the_documented_api_serves_an_api_path() {
    // The API router is built only with `routes!` (`routes.rs`); the pages (`web.rs`) are the
    // one place that registers plain routes, and none of them under `/api/`.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for file in rust_files(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        let registrations: Vec<&str> = [".route(", ".route_service(", ".nest(", ".nest_service("]
            .iter()
            .flat_map(|call| text.match_indices(call).map(|(at, _)| &text[at..]))
            .collect();
        if file.ends_with("web.rs") {
            for registration in registrations {
                let path = registration
                    .split('"')
                    .nth(1)
                    .expect("a page route names its path");
                assert!(
                    !path.starts_with("/api/"),
                    "{path} is registered outside the documented API ({})",
                    file.display()
                );
            }
        } else {
            assert!(
                registrations.is_empty(),
                "{} registers a route outside `routes!`: {}",
                file.display(),
                registrations[0].lines().next().unwrap_or_default()
            );
        }
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn every_operation_lists_its_problem_codes() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for status in ["500", "503"] {
                let codes = &op["responses"][status]["content"]["application/problem+json"]
                    ["schema"]["allOf"][1]["properties"]["code"]["enum"];
                assert!(
                    codes.as_array().is_some_and(|c| !c.is_empty()),
                    "{method} {path}: no problem codes for {status}"
                );
            }
        }
    }
}

/// `UPDATE_OPENAPI=1 cargo test -p gateway openapi` writes the file instead.
#[tokio::test]
async fn the_committed_openapi_json_is_what_a_gateway_with_default_settings_serves() {
    let app = TestApp::spawn_with(default_limits).await;
    let served: Value = app.get("/openapi.json").await.json().await.unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
        std::fs::write(&file, pretty).unwrap();
        return;
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(
        committed == served,
        "gateway/openapi.json is not what the gateway serves: run \
         `UPDATE_OPENAPI=1 cargo test -p gateway openapi` and commit it"
    );
}

/// Every limit the document states at the default of `gateway` started without options (the
/// environment ignored).
fn default_limits(settings: &mut Settings) {
    let command = Cli::command().mut_args(|arg| arg.env(None::<&str>));
    let cli = Cli::from_arg_matches(&command.get_matches_from(["gateway"])).unwrap();
    settings.join_rate_per_second = cli.join_rate_per_second;
    settings.status_view = Duration::from_millis(cli.status_view_ms);
    settings.http = cli.http;
}
