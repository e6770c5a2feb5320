//! The API the app uses, against the generated demo directory: search, forms by slug,
//! the trust anchors, the OpenAPI description; and the demo itself.

use std::path::Path;
use std::process::Command;

use axum::http::{StatusCode, header};
use base64::Engine;
use serde_json::Value;

use postsiegel_server::directory::demo;
use postsiegel_server::mail;

mod common;

use common::{FROM, now, portal as demo_portal};

async fn portal() -> common::Portal {
    demo_portal(|_| {}, None).await
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let answer = common::get(app, uri).await;
    (answer.status, answer.headers, answer.body)
}

async fn json(app: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let (status, headers, body) = get(app, uri).await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{uri}");
    (status, serde_json::from_slice(&body).unwrap())
}

fn slugs(result: &Value) -> Vec<&str> {
    result["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["slug"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn search_finds_offered_forms_by_name_unit_place_or_postal_code() {
    let portal = portal().await;
    let app = &portal.app;
    // Umlauts may be typed either way; case does not matter.
    for query in ["Führerschein", "fuehrerschein", "FÜHRERSCHEIN"] {
        let (status, result) = json(app, &format!("/api/forms?q={}", urlencode(query))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            slugs(&result),
            ["landratsamt-musterhausen/fuehrerscheinstelle"],
            "{query}"
        );
    }
    // The authority ranks before its units; the total counts all matches.
    let (_, result) = json(app, "/api/forms?q=landratsamt&limit=2").await;
    assert_eq!(result["total"], 4);
    assert_eq!(slugs(&result)[0], "landratsamt-musterhausen");
    assert_eq!(slugs(&result).len(), 2);
    // Every word must match: place and unit together.
    let (_, result) = json(app, "/api/forms?q=talheim%20bau").await;
    assert_eq!(slugs(&result), ["vg-talheim/bauamt"]);
    let (_, result) = json(app, "/api/forms?q=54321").await;
    assert_eq!(
        slugs(&result),
        ["stadt-beispielstadt", "stadt-beispielstadt/buergerbuero"]
    );
    // A form that is not offered (expired certificate) is left out of the search.
    let (_, result) = json(app, "/api/forms?q=neudorf").await;
    assert_eq!(result["total"], 0);
}

#[tokio::test]
async fn search_refuses_empty_and_overlong_queries_with_codes_for_the_field() {
    let portal = portal().await;
    let (status, error) = json(&portal.app, "/api/forms?q=%20%20").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "search_query_empty");
    assert_eq!(error["field"], "q");
    let long = "a".repeat(101);
    let (status, error) = json(&portal.app, &format!("/api/forms?q={long}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "search_query_too_long");
    assert_eq!(error["params"]["max"], 100);
    let (status, error) = json(&portal.app, "/api/forms?q=amt&limit=viele").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "search_query_invalid");
}

#[tokio::test]
async fn a_form_publishes_its_certificates_policy_and_exact_upload_limit() {
    let portal = portal().await;
    let (status, form) = json(&portal.app, "/api/forms/stadt-beispielstadt").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(form["available"], true);
    assert_eq!(form["title"], "Stadt Beispielstadt");
    let delivery = &form["delivery"];
    assert_eq!(delivery["mailbox"], "rathaus@beispielstadt.example");
    assert_eq!(delivery["via_authority"], Value::Null);
    // Renewal overlap: both valid certificates, each exactly as issued.
    let certificates = delivery["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 2);
    for (published, file) in certificates
        .iter()
        .zip(["beispielstadt-alt.pem", "beispielstadt-neu.pem"])
    {
        let path = portal.demo.folder.join("certificates").join(file);
        let der = base64::engine::general_purpose::STANDARD
            .decode(published["der"].as_str().unwrap())
            .unwrap();
        assert_eq!(der, pem_to_der(&path));
        // The fingerprint as OpenSSL computes it.
        let openssl = testkit::run(
            Command::new("openssl")
                .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
                .arg(&path),
        );
        let expected = String::from_utf8(openssl).unwrap();
        assert_eq!(
            expected.trim().rsplit('=').next().unwrap(),
            published["sha256_fingerprint"]
        );
        assert!(published["not_after"].as_str().unwrap().ends_with('Z'));
    }
    let policy = &form["policy"];
    assert_eq!(
        policy["allowed_types"],
        serde_json::json!(["pdf", "jpg", "png"])
    );
    assert_eq!(policy["mailbox_limit_bytes"], 10_000_000);
    assert_eq!(policy["verify_email"], true);
    assert_eq!(policy["content_encryption"], "aes256-cbc");
    assert_eq!(policy["key_transport"], "rsa-pkcs1v15");
    // The largest upload whose mail, with the longest possible headers, fits 10 MB.
    let max = form["max_upload_bytes"].as_u64().unwrap();
    let header = mail::header_len_bound(FROM, "rathaus@beispielstadt.example", true, false);
    assert!(header + mail::body_len(max) <= 10_000_000);
    assert!(header + mail::body_len(max + 1) > 10_000_000);
    assert!((7_250_000..7_310_000).contains(&max), "{max}");
    // A larger mailbox gets a larger budget.
    let (_, talheim) = json(&portal.app, "/api/forms/vg-talheim").await;
    let max = talheim["max_upload_bytes"].as_u64().unwrap();
    assert!((18_200_000..18_270_000).contains(&max), "{max}");

    assert_eq!(
        form["embed"]["link"],
        "https://kontakt.example.de/kontakt/stadt-beispielstadt"
    );
    // The privacy notice says how long the portal keeps receipts: from its configuration.
    assert_eq!(form["privacy"]["retention_days"], 30);
    assert!(form["embed"]["snippet"].as_str().unwrap().starts_with(
        "<iframe src=\"https://kontakt.example.de/kontakt/stadt-beispielstadt?embed=1\" \
         title=\"Sicheres Kontaktformular: Stadt Beispielstadt\""
    ));
}

#[tokio::test]
async fn only_the_origins_an_authority_allowed_may_frame_its_forms() {
    let portal = portal().await;
    let frame_ancestors = |answer: &common::Answer| {
        let csp = answer.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        let directive = csp
            .split("; ")
            .find(|d| d.starts_with("frame-ancestors "))
            .unwrap_or_else(|| panic!("no frame-ancestors in {csp}"));
        directive.to_owned()
    };
    // The demo's Landratsamt allows its own site and, to try embedding, pages on 127.0.0.1.
    let allowed = "frame-ancestors https://www.lra-musterhausen.example http://127.0.0.1:*";
    for path in [
        "/kontakt/landratsamt-musterhausen?embed=1",
        "/kontakt/landratsamt-musterhausen/gewerbeamt?embed=1",
        "/kontakt/landratsamt-musterhausen/gewerbeamt/?lang=de&embed=1",
    ] {
        let page = common::get(&portal.app, path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(frame_ancestors(&page), allowed, "{path}");
    }
    // Only the embedded layout (which leads nowhere else) may be framed. Stadt Beispielstadt
    // allowed nobody; nothing else of the portal may be framed; path tricks match no form.
    for path in [
        "/kontakt/landratsamt-musterhausen",
        "/kontakt/landratsamt-musterhausen/gewerbeamt",
        "/kontakt/landratsamt-musterhausen/gewerbeamt?embed=0",
        "/kontakt/landratsamt-musterhausen/gewerbeamt?embed=12",
        "/kontakt/stadt-beispielstadt?embed=1",
        "/kontakt/stadt-beispielstadt/buergerbuero?embed=1",
        "/kontakt/no-such-authority?embed=1",
        "/kontakt/stadt-beispielstadt/../landratsamt-musterhausen?embed=1",
        "/kontakt/landratsamt-musterhausen%2Fgewerbeamt?embed=1",
        "/kontakt/LANDRATSAMT-MUSTERHAUSEN?embed=1",
        "/kontakt//landratsamt-musterhausen?embed=1",
        "/?embed=1",
        "/status/abc?embed=1",
        "/api/forms/landratsamt-musterhausen?embed=1",
    ] {
        let page = common::get(&portal.app, path).await;
        assert_eq!(frame_ancestors(&page), "frame-ancestors 'none'", "{path}");
    }
}

#[tokio::test]
async fn unit_forms_deliver_to_their_own_mailbox_or_say_why_the_authoritys() {
    let portal = portal().await;
    let cases = [
        (
            "gewerbeamt",
            "gewerbeamt@lra-musterhausen.example",
            Value::Null,
        ),
        (
            "fuehrerscheinstelle",
            "poststelle@lra-musterhausen.example",
            "no_own_address".into(),
        ),
        (
            "auslaenderbehoerde",
            "poststelle@lra-musterhausen.example",
            "own_certificates_fail".into(),
        ),
    ];
    for (unit, mailbox, via) in cases {
        let (status, form) = json(
            &portal.app,
            &format!("/api/forms/landratsamt-musterhausen/{unit}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(form["available"], true, "{unit}");
        assert_eq!(form["unit"]["slug"], unit);
        assert_eq!(form["delivery"]["mailbox"], mailbox, "{unit}");
        assert_eq!(form["delivery"]["via_authority"], via, "{unit}");
    }
    let (_, form) = json(&portal.app, "/api/forms/stadt-beispielstadt/buergerbuero").await;
    assert_eq!(form["delivery"]["via_authority"], "central_address");
    assert_eq!(form["title"], "Stadt Beispielstadt – Bürgerbüro");
}

#[tokio::test]
async fn a_form_not_offered_says_why_and_how_else_to_get_in_touch() {
    let portal = portal().await;
    let (status, form) = json(&portal.app, "/api/forms/gemeinde-neudorf-am-see").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(form["available"], false);
    assert_eq!(form["reasons"][0]["code"], "form_no_valid_certificate");
    assert_eq!(
        form["reasons"][0]["params"]["certificates"][0]["codes"],
        serde_json::json!(["certificate_expired"])
    );
    assert_eq!(form["delivery"], Value::Null);
    assert_eq!(form["max_upload_bytes"], Value::Null);
    assert_eq!(form["contact"]["phone"], "+49 9876 54-0");
    assert_eq!(form["contact"]["email"], "gemeinde@neudorf-am-see.example");
    assert_eq!(form["contact"]["street"], "Seestraße 3");

    let (status, error) = json(&portal.app, "/api/forms/gibt-es-nicht").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["code"], "form_not_found");
    let (status, _) = json(&portal.app, "/api/forms/landratsamt-musterhausen/nichts").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_trust_anchors_are_a_static_asset_named_by_their_hash() {
    let portal = portal().await;
    let (_, info) = json(&portal.app, "/api/portal").await;
    assert_eq!(info["demo"], true);
    assert_eq!(info["forms_offered"], 8);
    let path = info["trust_anchors"].as_str().unwrap();
    let (status, headers, body) = get(&portal.app, path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    let anchors = smime::certificate::parse_certificates(&body).unwrap();
    assert_eq!(anchors.len(), 1);
    assert_eq!(
        der::Encode::to_der(&anchors[0]).unwrap(),
        pem_to_der(&portal.demo.ca_certificate())
    );
    // The name is the content's hash: the first 16 hex digits of its SHA-256.
    let digest = sha256_hex(&body);
    assert_eq!(path, format!("/trust/anchors-{}.pem", &digest[..16]));
    let (status, _, _) = get(&portal.app, "/trust/anchors-0000000000000000.pem").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_openapi_description_covers_every_field_the_api_sends() {
    let portal = portal().await;
    let (status, doc) = json(&portal.app, "/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/forms",
        "/api/forms/{authority}",
        "/api/forms/{authority}/{unit}",
        "/api/portal",
        "/api/health",
        "/api/status/{token}",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    for path in [
        "/api/verification/code",
        "/api/verification/confirm",
        "/api/submissions/{authority}",
        "/api/submissions/{authority}/{unit}",
    ] {
        assert!(doc["paths"][path]["post"].is_object(), "{path}");
    }
    // `?q=` is refused, so the schema must not call it optional.
    let q = &doc["paths"]["/api/forms"]["get"]["parameters"][0];
    assert_eq!(
        (q["name"].as_str(), q["required"].as_bool()),
        (Some("q"), Some(true))
    );
    // Every error code is listed, by the name it has in the JSON.
    let listed: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(listed, wire::ErrorCode::NAMES);
    let (_, form) = json(
        &portal.app,
        "/api/forms/landratsamt-musterhausen/gewerbeamt",
    )
    .await;
    let schemas = &doc["components"]["schemas"];
    let described = |schema: &str, object: &Value| {
        for key in object.as_object().unwrap().keys() {
            assert!(
                schemas[schema]["properties"][key].is_object(),
                "{schema}.{key} is sent but not described"
            );
        }
    };
    described("FormPage", &form);
    described("Delivery", &form["delivery"]);
    described("PolicyInfo", &form["policy"]);
    described("PublishedCertificate", &form["delivery"]["certificates"][0]);
    let (_, result) = json(&portal.app, "/api/forms?q=amt").await;
    described("SearchHit", &result["hits"][0]);
}

#[test]
fn the_demo_key_decrypts_what_a_demo_mailbox_receives_with_the_readme_command() {
    let data = tempfile::tempdir().unwrap();
    let demo = demo::ensure(data.path(), now()).unwrap();
    let certificate = smime::certificate::parse_certificates(
        &std::fs::read(demo.folder.join("certificates/lra-gewerbeamt.pem")).unwrap(),
    )
    .unwrap()
    .remove(0);
    let recipient = smime::envelope::Recipient::from_certificate(&certificate).unwrap();
    let entity = b"Content-Type: text/plain; charset=utf-8\r\n\r\nGr\xc3\xbc\xc3\x9f Gott!\r\n";
    let der = smime::envelope::encrypt(
        &[recipient],
        Default::default(),
        entity,
        &mut rand_core::OsRng,
    )
    .unwrap();
    let message_id = mail::message_id("2026-ABCD-EFGH", &[7; 16], FROM);
    let mut eml = Vec::new();
    mail::write_mail(
        &mut eml,
        &mail::Envelope {
            from: FROM,
            to: "gewerbeamt@lra-musterhausen.example",
            reply_to: Some("buerger@example.org"),
            notification_to: None,
            receipt: "2026-ABCD-EFGH",
            date: now(),
            message_id: &message_id,
            authenticated: false,
            thread: None,
        },
        &der,
    )
    .unwrap();
    let file = data.path().join("message.eml");
    std::fs::write(&file, eml).unwrap();
    // README: openssl cms -decrypt -in <mail>.eml -inkey data/demo/demo-mailboxes.key.pem
    let decrypted = testkit::run(
        Command::new("openssl")
            .args(["cms", "-decrypt", "-in"])
            .arg(&file)
            .arg("-inkey")
            .arg(demo.mailbox_key()),
    );
    assert_eq!(decrypted, entity);
}

#[test]
fn the_demo_is_made_once_and_its_crl_renewed_at_every_start() {
    let data = tempfile::tempdir().unwrap();
    let first = demo::ensure(data.path(), now()).unwrap();
    let key = std::fs::read(first.mailbox_key()).unwrap();
    let later = now() + 100 * 86_400;
    let again = demo::ensure(data.path(), later).unwrap();
    assert_eq!(std::fs::read(again.mailbox_key()).unwrap(), key);
    let crl = smime::revocation::parse_crl(&std::fs::read(again.crl()).unwrap()).unwrap();
    let next_update = crl
        .tbs_cert_list
        .next_update
        .unwrap()
        .to_unix_duration()
        .as_secs();
    assert!(next_update > later + 80 * 86_400);
}

fn pem_to_der(path: &Path) -> Vec<u8> {
    let certificates =
        smime::certificate::parse_certificates(&std::fs::read(path).unwrap()).unwrap();
    der::Encode::to_der(&certificates[0]).unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Every endpoint that takes a JSON body, from the OpenAPI description: its path and the
/// schema of its body (resolved).
fn json_endpoints(doc: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            if schema.is_null() {
                continue;
            }
            assert_eq!(method, "post", "{path}");
            let name = schema["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
            found.push((path.clone(), doc["components"]["schemas"][name].clone()));
        }
    }
    found
}

/// A body of the right shape for `schema`: every property, of its type.
fn well_formed(schema: &Value) -> serde_json::Map<String, Value> {
    schema["properties"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, property)| {
            let value = match property["type"].as_str() {
                Some("boolean") => Value::Bool(false),
                Some("integer") => Value::from(1),
                _ => Value::from("x"),
            };
            (name.clone(), value)
        })
        .collect()
}

#[tokio::test]
async fn every_json_endpoint_refuses_a_wrong_body_in_the_api_shape_with_a_code_of_its_own() {
    let portal = portal().await;
    let (_, doc) = json(&portal.app, "/api/openapi.json").await;
    let endpoints = json_endpoints(&doc);
    let paths: Vec<&str> = endpoints.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/answers/certificate",
            "/api/conversations/{alias}/answers/{id}/opened",
            "/api/conversations/{alias}/close",
            "/api/verification/code",
            "/api/verification/confirm"
        ]
    );
    for (template, schema) in &endpoints {
        let path = &template.replace("{alias}", "x").replace("{id}", "x");
        let required = schema["required"][0].as_str().unwrap();
        let mut wrong_type = well_formed(schema);
        wrong_type.insert(required.to_owned(), Value::Array(Vec::new()));
        let mut missing = well_formed(schema);
        missing.remove(required);
        let cases: [(&str, String, StatusCode, &str, Option<&str>); 5] = [
            (
                "application/json",
                "{\"form\": ".into(),
                StatusCode::BAD_REQUEST,
                "json_malformed",
                None,
            ),
            (
                "application/json",
                Value::Object(wrong_type).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "json_wrong_type",
                Some(required),
            ),
            (
                "application/json; charset=utf-8",
                Value::Object(missing).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "json_missing_field",
                Some(required),
            ),
            (
                "text/plain",
                Value::Object(well_formed(schema)).to_string(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "json_wrong_content_type",
                None,
            ),
            (
                "application/json",
                format!("{{\"form\": \"{}\"}}", "x".repeat(20_000)),
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                None,
            ),
        ];
        for (content_type, body, status, code, field) in cases {
            let answer = common::send(
                &portal.app,
                axum::http::Request::post(path.as_str())
                    .header("content-type", content_type)
                    .body(axum::body::Body::from(body))
                    .unwrap(),
            )
            .await;
            assert_eq!(answer.status, status, "{path} {code}");
            assert_eq!(
                answer.headers[header::CONTENT_TYPE],
                "application/json",
                "{path} {code}"
            );
            let error = answer.json();
            assert_eq!(error["code"], code, "{path}");
            assert_eq!(error["field"].as_str(), field, "{path} {code}");
        }
    }
}

#[tokio::test]
async fn errors_no_handler_wrote_have_the_api_shape_too() {
    let portal = portal().await;
    for (uri, status, code) in [
        (
            "/api/verification/code",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        ("/api/gibt-es-nicht", StatusCode::NOT_FOUND, "not_found"),
    ] {
        let answer = json(&portal.app, uri).await;
        assert_eq!((answer.0, answer.1["code"].as_str()), (status, Some(code)));
    }
}
