//! The real binary: the demo directory loads only without a configuration file on a
//! loopback address, and then every page says so.

mod common;

use common::{Server, serve, serve_with};

async fn json(url: String) -> serde_json::Value {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn portal(server: &Server) -> serde_json::Value {
    json(format!("{}/api/portal", server.base)).await
}

#[tokio::test]
async fn without_a_configuration_on_loopback_the_demo_runs_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), None).await;
    let info = portal(&server).await;
    assert_eq!(info["demo"], true);
    assert_eq!(info["forms_offered"], 8);
    let page = reqwest::get(format!("{}/kontakt/vg-talheim", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("class=\"demo-banner\""), "{page}");
    assert!(
        dir.path()
            .join("data/demo/demo-mailboxes.key.pem")
            .is_file()
    );
    let form = json(format!(
        "{}/api/forms/landratsamt-musterhausen",
        server.base
    ))
    .await;
    // Links name the address the portal listens on, when no public URL is set.
    assert_eq!(
        form["embed"]["link"],
        format!("{}/kontakt/landratsamt-musterhausen", server.base)
    );
}

#[tokio::test]
async fn with_a_configuration_file_no_demo_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("postsiegel.toml");
    std::fs::write(&config, "public_url = \"https://kontakt.example.de\"\n").unwrap();
    let server = serve(dir.path(), Some(&config)).await;
    let info = portal(&server).await;
    assert_eq!(info["demo"], false);
    assert_eq!(info["forms_offered"], 0);
    let page = reqwest::get(format!("{}/", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("demo-banner"));
    assert!(!dir.path().join("data/demo").exists());
}

#[tokio::test]
async fn a_client_over_its_rate_limit_is_told_when_to_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_with(
        dir.path(),
        None,
        &[
            ("POSTSIEGEL_RELAY__LIMITS__API__BURST", "5"),
            ("POSTSIEGEL_RELAY__LIMITS__API__PERIOD_MS", "60000"),
        ],
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let response = reqwest::get(format!("{}/api/forms?q=amt", server.base))
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            let body: serde_json::Value =
                serde_json::from_str(&response.text().await.unwrap()).unwrap();
            assert_eq!(body["code"], "rate_limited");
            assert!(body["params"]["retry_after_seconds"].as_u64().unwrap() > 0);
        }
    }
    // The health check at start took one of the five.
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429, 429]);
}

/// What a whole journey leaves in the log: route templates, statuses, latencies and the
/// receipt number, never the address, the slug, the search term or a token.
#[tokio::test]
async fn the_log_of_a_whole_journey_names_no_address_slug_term_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), None).await;
    let client = reqwest::Client::new();
    let address = "hannelore.protokoll@example.org";
    let slug = "landratsamt-musterhausen/fuehrerscheinstelle";
    let term = "Fuehrerscheinst";
    let base = &server.base;
    let text = |r: reqwest::Response| async move { r.text().await.unwrap() };
    let search = text(
        client
            .get(format!("{base}/api/forms?q={term}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(search.contains(slug));
    let form: serde_json::Value = serde_json::from_str(
        &text(
            client
                .get(format!("{base}/api/forms/{slug}"))
                .send()
                .await
                .unwrap(),
        )
        .await,
    )
    .unwrap();
    let code_request = serde_json::json!({ "form": slug, "address": address }).to_string();
    let sent = client
        .post(format!("{base}/api/verification/code"))
        .header("content-type", "application/json")
        .body(code_request)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let spool = dir.path().join("data/spool");
    let asked = std::time::Instant::now();
    let code = loop {
        let found = std::fs::read_dir(&spool).ok().and_then(|entries| {
            entries.flatten().find_map(|e| {
                let text = std::fs::read_to_string(e.path()).ok()?;
                text.lines()
                    .map(str::trim)
                    .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
                    .map(str::to_owned)
            })
        });
        if let Some(code) = found {
            break code;
        }
        assert!(
            asked.elapsed() < std::time::Duration::from_secs(30),
            "no code mail in the spool"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let confirmation =
        serde_json::json!({ "form": slug, "address": address, "code": code }).to_string();
    let token: serde_json::Value = serde_json::from_str(
        &text(
            client
                .post(format!("{base}/api/verification/confirm"))
                .header("content-type", "application/json")
                .body(confirmation)
                .send()
                .await
                .unwrap(),
        )
        .await,
    )
    .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let der = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        form["delivery"]["certificates"][0]["der"].as_str().unwrap(),
    )
    .unwrap();
    let certificate: smime::Certificate = der::Decode::from_der(&der).unwrap();
    let recipient = smime::envelope::Recipient::from_certificate(&certificate).unwrap();
    let upload = smime::envelope::encrypt(
        &[recipient],
        Default::default(),
        b"Content-Type: text/plain\r\n\r\nGeheim\r\n",
        &mut rand_core::OsRng,
    )
    .unwrap();
    let accepted: serde_json::Value = serde_json::from_str(
        &text(
            client
                .post(format!("{base}/api/submissions/{slug}"))
                .header("content-type", "application/pkcs7-mime")
                .header("x-postsiegel-verification", &token)
                .body(upload)
                .send()
                .await
                .unwrap(),
        )
        .await,
    )
    .unwrap();
    let receipt = accepted["receipt"].as_str().unwrap().to_owned();
    let status_token = accepted["status_token"].as_str().unwrap().to_owned();
    let status = text(
        client
            .get(format!("{base}/api/status/{status_token}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(status.contains(&receipt));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains(&receipt), "the receipt number is logged");
    assert!(log.contains("/api/submissions/{authority}/{unit}"), "{log}");
    for secret in [
        address,
        "hannelore",
        slug,
        "fuehrerscheinstelle",
        term,
        &token[..20],
        &status_token,
    ] {
        assert!(
            !log.to_lowercase().contains(&secret.to_lowercase()),
            "the log names {secret:?}:\n{log}"
        );
    }
    // The code as a number of its own, after each line's timestamp (whose microseconds are
    // six digits too); sizes and ports hold other runs of digits.
    let digit = |b: Option<&u8>| b.is_some_and(u8::is_ascii_digit);
    let named = log
        .lines()
        .map(|line| line.split_once(' ').map_or(line, |(_timestamp, rest)| rest))
        .any(|line| {
            line.match_indices(&code).any(|(at, _)| {
                !digit(at.checked_sub(1).and_then(|i| line.as_bytes().get(i)))
                    && !digit(line.as_bytes().get(at + code.len()))
            })
        });
    assert!(!named, "the log names the code {code}:\n{log}");
}
