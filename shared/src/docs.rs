//! `GET /docs`: the API reference of a binary, rendered by Swagger UI from its own
//! `/openapi.json`. Swagger UI is vendored (`shared/assets/swagger-ui/`, refreshed by
//! `scripts/vendor-swagger-ui`) and embedded, so the page works offline and without a CDN.

use axum::{
    http::header,
    response::{Html, IntoResponse, Response},
    routing::get,
    Router,
};

const BUNDLE: &str = include_str!("../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &str = include_str!("../assets/swagger-ui/swagger-ui.css");
/// The page's own script, kept out of the HTML so a strict `script-src 'self'` allows it.
const INIT: &str = r##"window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayOperationId: true,
    persistAuthorization: false,
  });
});
"##;

/// The routes of the reference page and its assets, titled `title`.
pub fn routes<S: Clone + Send + Sync + 'static>(title: &'static str) -> Router<S> {
    let page = format!(
        r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"##
    );
    Router::new()
        .route(
            "/docs",
            get(move || {
                let page = page.clone();
                async move { ([(header::CACHE_CONTROL, "no-cache")], Html(page)) }
            }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async { asset("text/javascript; charset=utf-8", BUNDLE) }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/docs/init.js",
            get(|| async { asset("text/javascript; charset=utf-8", INIT) }),
        )
}

fn asset(mime: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    async fn get_path(path: &str) -> (u16, String, String) {
        let app: Router = routes("Test API");
        let res = app
            .oneshot(axum::http::Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let mime = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, mime, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn the_page_loads_its_embedded_assets_and_the_served_document() {
        let (status, mime, page) = get_path("/docs").await;
        assert_eq!(status, 200);
        assert!(mime.starts_with("text/html"));
        assert!(page.contains("<title>Test API</title>"));
        for src in [
            "/docs/swagger-ui-bundle.js",
            "/docs/init.js",
            "/docs/swagger-ui.css",
        ] {
            assert!(page.contains(src), "{src}");
            let (status, _, body) = get_path(src).await;
            assert_eq!(status, 200, "{src}");
            assert!(!body.is_empty());
        }
        assert!(get_path("/docs/init.js").await.2.contains("/openapi.json"));
    }
}
