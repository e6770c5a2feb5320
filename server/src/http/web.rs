//! Serving the app: static files, deep links, caching and the security headers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::api::ApiState;
use crate::directory::catalog::Catalog;
use crate::directory::import::is_embed_origin;

/// The built app, read once at start-up.
pub struct Frontend {
    pub(super) dist_dir: PathBuf,
    index_html: String,
    /// The app's stylesheet link, for the pages the server writes itself.
    stylesheet: String,
    /// The policy without its `frame-ancestors`, which depends on the page (see `framing`).
    csp: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error(
        "cannot read {path}: {source}. Build the app first (`trunk build --release`), or point \
         dist_dir at a folder holding Trunk's output"
    )]
    MissingIndex {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Frontend {
    pub fn load(dist_dir: &Path) -> Result<Frontend, FrontendError> {
        let path = dist_dir.join("index.html");
        let index_html = std::fs::read_to_string(&path)
            .map_err(|source| FrontendError::MissingIndex { path, source })?;
        Ok(Frontend {
            dist_dir: dist_dir.to_owned(),
            csp: content_security_policy(&inline_script_hashes(&index_html)),
            stylesheet: stylesheet_link(&index_html).to_owned(),
            index_html,
        })
    }

    /// The app's stylesheet link, for the pages the server writes itself.
    pub fn stylesheet_link(&self) -> &str {
        &self.stylesheet
    }

    /// Puts the demo banner at the top of every page, in the static HTML, so that it shows
    /// even before (or without) the app.
    pub fn with_demo_banner(mut self) -> Frontend {
        self.index_html = self
            .index_html
            .replacen("<body>", &format!("<body>{DEMO_BANNER}"), 1);
        self
    }
}

/// The app's stylesheet, as its index.html links it (Trunk names it by its hash).
fn stylesheet_link(index_html: &str) -> &str {
    index_html
        .find("<link rel=\"stylesheet\"")
        .and_then(|start| Some(&index_html[start..start + index_html[start..].find('>')? + 1]))
        .unwrap_or_default()
}

// A landmark of its own (complementary), so that screen readers list it and nothing on the
// page sits outside a landmark.
const DEMO_BANNER: &str = "<aside class=\"demo-banner\" aria-label=\"Demo\">\
<strong>Demo</strong>: Dieses Portal zeigt erfundene Behörden mit Demo-Zertifikaten. \
Nachrichten erreichen keine echte Behörde. \
<span lang=\"en\">Demo portal: fictional authorities, nothing reaches a real one.</span></aside>";

/// The policy for every response, but for `frame-ancestors` (see `framing`). Trunk's loader
/// is an inline module script, so it is allowed by its hash, computed from the index.html
/// actually served; never 'unsafe-inline'.
pub fn content_security_policy(script_hashes: &[String]) -> String {
    let mut script_src = String::from("'self'");
    for hash in script_hashes {
        script_src.push_str(&format!(" 'sha256-{hash}'"));
    }
    script_src.push_str(" 'wasm-unsafe-eval'");
    [
        "default-src 'none'".to_owned(),
        format!("script-src {script_src}"),
        "style-src 'self'".to_owned(),
        "img-src 'self' data:".to_owned(),
        "connect-src 'self'".to_owned(),
        "base-uri 'none'".to_owned(),
        "form-action 'self'".to_owned(),
    ]
    .join("; ")
}

/// Who may frame this page: for a form's page in its embedded layout
/// (`/kontakt/{authority}[/{unit}]?embed=1`), the origins its authority configured; for
/// anything else, nobody. Without `embed=1` the app would offer the way to the search and
/// so to other authorities' forms inside the frame. Origins were checked on import
/// (`import::is_embed_origin`) and are checked again here, as this goes into a header.
/// The catalog is read only for such a page, not for every asset.
pub fn framing(path: &str, query: Option<&str>, catalog: impl FnOnce() -> Arc<Catalog>) -> String {
    let embedded = query.is_some_and(|q| q.split('&').any(|pair| pair == "embed=1"));
    let origins = path
        .strip_prefix("/kontakt/")
        .filter(|_| embedded)
        .map(|slug| slug.trim_end_matches('/'))
        .and_then(|slug| {
            let catalog = catalog();
            let allowed = &catalog.form(slug)?.embed.allowed_origins;
            let checked: Vec<&str> = allowed
                .iter()
                .filter(|o| is_embed_origin(o))
                .map(String::as_str)
                .collect();
            Some(checked.join(" "))
        })
        .unwrap_or_default();
    if origins.is_empty() {
        "frame-ancestors 'none'".to_owned()
    } else {
        format!("frame-ancestors {origins}")
    }
}

/// Base64 SHA-256 of each inline `<script>` (one without `src`) in an HTML page, as CSP
/// wants them: over the exact text between the tags.
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        rest = &rest[start..];
        let Some(open_end) = rest.find('>') else {
            break;
        };
        let open_tag = &rest[..open_end];
        let body_and_rest = &rest[open_end + 1..];
        let Some(close) = body_and_rest.find("</script>") else {
            break;
        };
        if !open_tag.contains(" src=") {
            let digest = Sha256::digest(&body_and_rest.as_bytes()[..close]);
            hashes.push(base64::engine::general_purpose::STANDARD.encode(digest));
        }
        rest = &body_and_rest[close..];
    }
    hashes
}

/// Paths that name a page of the app (no file extension) get index.html, so that deep links
/// such as `/kontakt/landratsamt-musterhausen` work; a missing file stays a 404.
pub(super) async fn deep_link(State(frontend): State<Arc<Frontend>>, request: Request) -> Response {
    let last_segment = request.uri().path().rsplit('/').next().unwrap_or("");
    if last_segment.contains('.') && last_segment != "index.html" {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        frontend.index_html.clone(),
    )
        .into_response()
}

/// The trust anchors under their hashed name; any other name is gone (or never was).
pub(super) async fn trust_anchors(
    State(api): State<ApiState>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let catalog = api.catalog.get();
    if file != catalog.trust_anchors.file_name {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        catalog.trust_anchors.pem.clone(),
    )
        .into_response()
}

/// The answers CA's certificate, to download and trust once.
pub(super) async fn answers_ca(State(api): State<ApiState>) -> Response {
    match api.relay.as_ref().and_then(|relay| relay.answers()) {
        Some(answers) => (
            [
                (header::CONTENT_TYPE, "application/x-pem-file"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"postsiegel-antwort-ca.pem\"",
                ),
            ],
            answers.ca.pem(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// The answers CA's CRL, at the address its certificates name.
pub(super) async fn answers_crl(State(api): State<ApiState>) -> Response {
    let Some(answers) = api.relay.as_ref().and_then(|relay| relay.answers()) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    match answers.crl(crate::clock::unix_now()).await {
        Ok(crl) => ([(header::CONTENT_TYPE, "application/pkix-crl")], crl).into_response(),
        Err(error) => {
            tracing::error!(%error, "making the answers CA's CRL failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the CRL is not available",
            )
                .into_response()
        }
    }
}

/// Headers on every answer of the portal, besides its content security policy.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=()",
    ),
];

pub(super) async fn security_headers(
    State((frontend, api)): State<(Arc<Frontend>, ApiState)>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let path = request.uri().path();
    let cache = if is_content_hashed(path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let framing = framing(path, request.uri().query(), || api.catalog.get());
    let csp = format!("{}; {framing}", frontend.csp);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&csp).expect("the policy and checked origins are ASCII"),
    );
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    response
}

/// Trunk names built assets `name-<16 hex digits>.ext` (or `name-<hash>_bg.wasm`); such a
/// name changes whenever the content does, so it may be cached forever.
pub fn is_content_hashed(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or("");
    let stem = file.split('.').next().unwrap_or("");
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    // Trunk writes its 64-bit hash in hex without leading zeros: 16 digits, or fewer one
    // time in 16 (a build named `postsiegel-app-f5ad0f20f647ae2` was served uncacheable).
    stem.rsplit_once('-').is_some_and(|(_, hash)| {
        (12..=16).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_only_inline_scripts_over_their_exact_text() {
        let html = r#"<head><script src="/x.js"></script><script type="module">
import init from '/a.js';
</script></head>"#;
        let hashes = inline_script_hashes(html);
        let expected = base64::engine::general_purpose::STANDARD
            .encode(Sha256::digest(b"\nimport init from '/a.js';\n"));
        assert_eq!(hashes, vec![expected]);
    }

    #[test]
    fn only_plain_origins_may_frame_a_form() {
        for good in [
            "https://www.lra-musterhausen.de",
            "https://www.lra-musterhausen.de:8443",
            "https://*.musterhausen.de",
            "http://127.0.0.1:*",
            "http://localhost:3000",
        ] {
            assert!(is_embed_origin(good), "{good}");
        }
        for bad in [
            "",
            "*",
            "'self'",
            "https://",
            "www.example.de",
            "http://www.example.de",
            "https://www.example.de/kontakt",
            "https://www.example.de; script-src *",
            "https://a.de https://b.de",
            "https://WWW.EXAMPLE.DE",
            "https://ex ample.de",
            "https://example.de:",
            "https://-x.de",
            "javascript://x",
            "http://127.0.0.1.evil.de",
            "https://*.de",
            "https://*.*.de",
        ] {
            assert!(!is_embed_origin(bad), "{bad}");
        }
    }

    #[test]
    fn recognises_trunks_hashed_names() {
        assert!(is_content_hashed(
            "/postsiegel-app-3f2fa3fefd69807e_bg.wasm"
        ));
        assert!(is_content_hashed("/postsiegel-app-3f2fa3fefd69807e.js"));
        assert!(is_content_hashed("/main-0123456789abcdef.css"));
        assert!(is_content_hashed("/postsiegel-app-f5ad0f20f647ae2_bg.wasm"));
        assert!(!is_content_hashed("/kontakt/vg-talheim"));
        assert!(!is_content_hashed("/index.html"));
        assert!(!is_content_hashed("/"));
        assert!(!is_content_hashed("/favicon.svg"));
        assert!(!is_content_hashed("/kontakt/landratsamt-0123456789abcdez"));
    }
}
