//! The real binary: the demo directory loads only without a configuration file on a
//! loopback address, and then every page says so.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `postsiegel serve` in `dir` (data and dist below it) and waits until it answers.
async fn serve(dir: &Path, config: Option<&Path>) -> Server {
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!DOCTYPE html><html><head></head><body></body></html>",
    )
    .unwrap();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_postsiegel"));
    command
        .current_dir(dir)
        .env_remove("POSTSIEGEL_CONFIG")
        .env("POSTSIEGEL_BIND", format!("127.0.0.1:{port}"))
        .env("POSTSIEGEL_DIST_DIR", &dist)
        .env("POSTSIEGEL_DATA_DIR", dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .arg("serve");
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let server = Server {
        child: command.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while reqwest::get(format!("{}/api/health", server.base))
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

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
