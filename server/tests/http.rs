//! The server's HTTP surface against a dist folder shaped like Trunk's output.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use postsiegel_server::directory::catalog::{Catalog, Settings};
use postsiegel_server::http::ApiState;
use postsiegel_server::http::router;
use postsiegel_server::http::web::Frontend;

const INDEX: &str = "<!DOCTYPE html><html><head>\
<link rel=\"stylesheet\" href=\"/main-0123456789abcdef.css\" integrity=\"sha384-x\"/>\
<link rel=\"modulepreload\" href=\"/postsiegel-app-0123456789abcdef.js\">\
<script type=\"module\">import init from '/postsiegel-app-0123456789abcdef.js';await init();</script>\
</head><body></body></html>";

fn no_forms() -> ApiState {
    ApiState::new(
        Catalog::empty(&Settings {
            public_url: "http://127.0.0.1:8080".into(),
            mail_from: "Postsiegel <kontaktformular@portal.example>".into(),
            extra_header_bytes: 0,
            signature_len: None,
            retention_days: 30,
            report_days: None,
            answer_mail: None,
        }),
        false,
    )
}

fn dist() -> tempfile::TempDir {
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("index.html"), INDEX).unwrap();
    std::fs::write(
        dist.path().join("postsiegel-app-0123456789abcdef.js"),
        "export default async function init() {}\n".repeat(20),
    )
    .unwrap();
    std::fs::write(dist.path().join("robots.txt"), "User-agent: *\n").unwrap();
    dist
}

fn app() -> (axum::Router, tempfile::TempDir) {
    let dist = dist();
    (
        router(Frontend::load(dist.path()).unwrap(), no_forms()),
        dist,
    )
}

async fn get(
    app: &axum::Router,
    uri: &str,
    accept_encoding: Option<&str>,
) -> axum::response::Response {
    let mut request = Request::get(uri);
    if let Some(encoding) = accept_encoding {
        request = request.header(header::ACCEPT_ENCODING, encoding);
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn text(response: axum::response::Response) -> String {
    String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_csp_allows_exactly_the_served_inline_loader() {
    let (app, _dist) = app();
    let response = get(&app, "/", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    let hashes = postsiegel_server::http::web::inline_script_hashes(INDEX);
    assert_eq!(hashes.len(), 1);
    assert!(
        csp.contains(&format!(
            "script-src 'self' 'sha256-{}' 'wasm-unsafe-eval'",
            hashes[0]
        )),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(
        response.headers()[header::X_CONTENT_TYPE_OPTIONS],
        "nosniff"
    );
    assert_eq!(response.headers()[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
}

/// The page for the authority's staff needs no app: plain HTML in the app's style, under
/// the same policy; a portal without answers says it takes none.
#[tokio::test]
async fn the_answers_page_is_written_by_the_server_in_the_apps_style() {
    let (app, _dist) = app();
    let page = get(&app, "/antworten", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    assert!(page.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    let html = text(page).await;
    assert!(!html.contains("<script"), "{html}");
    assert!(
        html.contains(
            "<link rel=\"stylesheet\" href=\"/main-0123456789abcdef.css\" integrity=\"sha384-x\"/>"
        ),
        "{html}"
    );
    assert!(
        html.contains("<p>Dieses Portal nimmt keine Antworten an."),
        "{html}"
    );
    assert!(html.contains("<p>This portal takes no answers."), "{html}");
}

#[tokio::test]
async fn deep_links_get_the_app_and_missing_files_a_404() {
    let (app, _dist) = app();
    let deep = get(&app, "/kontakt/landratsamt-musterhausen", None).await;
    assert_eq!(deep.status(), StatusCode::OK);
    assert_eq!(deep.headers()[header::CACHE_CONTROL], "no-cache");
    assert!(deep.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    assert_eq!(text(deep).await, INDEX);

    let missing = get(&app, "/postsiegel-app-fedcba9876543210.js", None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hashed_assets_are_cached_forever_and_compressed() {
    let (app, _dist) = app();
    let asset = get(&app, "/postsiegel-app-0123456789abcdef.js", Some("gzip")).await;
    assert_eq!(asset.status(), StatusCode::OK);
    assert_eq!(
        asset.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(asset.headers()[header::CONTENT_ENCODING], "gzip");

    let unhashed = get(&app, "/robots.txt", None).await;
    assert_eq!(unhashed.headers()[header::CACHE_CONTROL], "no-cache");
}

#[tokio::test]
async fn the_api_answers_json_and_never_the_app() {
    let (app, _dist) = app();
    let health = get(&app, "/api/health", None).await;
    assert_eq!(health.status(), StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&text(health).await).unwrap();
    assert_eq!(body["status"], "ok");

    for uri in ["/api/nothing-here", "/api/forms/x/y/z", "/api"] {
        let response = get(&app, uri, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/json",
            "{uri}"
        );
        let body: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
        assert_eq!(body["code"], "not_found", "{uri}");
    }
}

#[tokio::test]
async fn a_demo_portal_says_so_on_every_page_within_the_same_policy() {
    let dist = dist();
    let demo = router(
        Frontend::load(dist.path()).unwrap().with_demo_banner(),
        no_forms(),
    );
    for uri in ["/", "/index.html", "/kontakt/landratsamt-musterhausen"] {
        let response = get(&demo, uri, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        let page = text(response).await;
        assert!(
            page.contains(
                "<body><aside class=\"demo-banner\" aria-label=\"Demo\"><strong>Demo</strong>"
            ),
            "{uri}: {page}"
        );
        // The banner is markup, not script: the loader's hash still matches.
        let hash = &postsiegel_server::http::web::inline_script_hashes(&page)[0];
        assert!(csp.contains(hash.as_str()), "{uri}");
    }
    let (plain, _dist) = app();
    assert!(
        !text(get(&plain, "/", None).await)
            .await
            .contains("demo-banner")
    );
}

#[test]
fn a_missing_build_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let err = Frontend::load(empty.path()).err().expect("no index.html");
    assert!(err.to_string().contains("trunk build"), "{err}");
}
