//! The real binary: the demo directory loads only without a configuration file on a
//! loopback address, and then every page says so.

mod common;

use common::{Server, serve};

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
