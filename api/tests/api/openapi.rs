//! The served OpenAPI document: every route documented, every documented operation served,
//! and the committed `api/openapi.json` the one the api serves with the default settings
//! (`UPDATE_OPENAPI=1 cargo test -p api openapi` rewrites it).

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::TestApp;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

#[sqlx::test(migrations = "./migrations")]
async fn the_committed_openapi_json_is_what_the_api_serves(db: PgPool) {
    // The defaults of the two limits the document shows (`api --help`).
    let app = TestApp::spawn_with(db, |s| {
        s.max_seats_per_reservation = 4;
        s.max_charge = 10_000_000;
    })
    .await;
    let res = app.get("/openapi.json", None).await;
    assert_eq!(res.status(), 200);
    let served = res.text().await.unwrap();
    let doc: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let limits = &doc["components"]["schemas"];
    assert_eq!(
        limits["HoldSeatsRequest"]["properties"]["seatIds"]["maxItems"],
        4
    );
    assert_eq!(
        limits["ChargeBalanceRequest"]["properties"]["amount"]["maximum"],
        10_000_000
    );
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &served).unwrap();
        return;
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(COMMITTED).unwrap())
        .expect("api/openapi.json is JSON");
    assert!(
        committed == doc,
        "api/openapi.json differs from the served document: run UPDATE_OPENAPI=1 cargo test -p api openapi"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn the_limits_in_the_document_are_the_configured_ones(db: PgPool) {
    let app = TestApp::spawn_with(db, |s| {
        s.max_seats_per_reservation = 7;
        s.max_charge = 1_234;
    })
    .await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["HoldSeatsRequest"]["properties"]["seatIds"]["maxItems"],
        7
    );
    assert_eq!(
        schemas["ChargeBalanceRequest"]["properties"]["amount"]["maximum"],
        1_234
    );
}

/// A value for a path parameter, so the path matches its route.
fn sample(param: &str) -> &'static str {
    match param {
        "reservationId" => "00000000-0000-4000-8000-000000000000",
        _ => "1",
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn every_documented_operation_is_served(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (template, item) in paths {
        let path: String = template
            .split('/')
            .map(|segment| match segment.strip_prefix('{') {
                Some(param) => sample(param.trim_end_matches('}')),
                None => segment,
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            let res = app
                .client
                .request(method.clone(), app.url(&path))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            // The router's own answers for what it does not serve.
            assert!(
                !(status == 404 && body["code"] == "NOT_FOUND") && status != 405,
                "{method} {template} is documented but not served: {status} {body}"
            );
            operations += 1;
        }
    }
    assert_eq!(operations, 16, "every operation of the api is documented");
}

#[sqlx::test(migrations = "./migrations")]
async fn the_reference_page_shows_the_served_document(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let res = app.get("/docs", None).await;
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("<title>Ticketing api</title>"));
    let init = app.get("/docs/init.js", None).await.text().await.unwrap();
    assert!(init.contains("/openapi.json"));
}

#[test]
fn routes_are_registered_only_with_their_openapi_operation() {
    // `routes!` registers a handler and its `#[utoipa::path]` together; anything that adds
    // a route to the router without an operation would serve it undocumented.
    let sources = [
        ("routes.rs", include_str!("../../src/routes.rs")),
        ("startup.rs", include_str!("../../src/startup.rs")),
    ];
    for (file, source) in sources {
        // The one exception: the reference page for people, Swagger UI over this document.
        let source = source.replace(".merge(shared::docs::routes(", "");
        for plain in [
            ".route(",
            ".route_service(",
            ".nest(",
            ".nest_service(",
            ".merge(",
        ] {
            assert!(
                !source.contains(plain),
                "src/{file} adds a route with `{plain}`: register it with `.routes(routes!(handler))` and a `#[utoipa::path]`"
            );
        }
    }
}
