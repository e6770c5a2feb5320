//! The API's contract, checked by schemathesis (PyPI) against the real binary: it reads
//! `/api/openapi.json` and sends every operation generated requests, valid and invalid;
//! every answer must be documented (status, content type, schema) and none a server error.

mod common;

use std::path::PathBuf;

/// Where scripts/setup.sh installs schemathesis.
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("POSTSIEGEL_DEV_SCHEMATHESIS") {
        return path.into();
    }
    let cache = std::env::var_os("POSTSIEGEL_DEV_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/postsiegel"),
        PathBuf::from,
    );
    let default = cache.join("schemathesis/bin/schemathesis");
    assert!(
        default.exists(),
        "schemathesis is missing: run scripts/test (it installs it) or set POSTSIEGEL_DEV_SCHEMATHESIS"
    );
    default
}

#[tokio::test]
async fn the_running_api_keeps_the_contract_its_openapi_describes() {
    let dir = tempfile::tempdir().unwrap();
    // Generated requests come fast from one client: the limits would answer most of them.
    let limits: Vec<(String, &str)> = [
        "API",
        "CODES",
        "CONFIRMATIONS",
        "SUBMISSIONS",
        "UNVERIFIED_SUBMISSIONS",
    ]
    .iter()
    .map(|limit| {
        (
            format!("POSTSIEGEL_RELAY__LIMITS__{limit}__BURST"),
            "100000",
        )
    })
    .collect();
    let env: Vec<(&str, &str)> = limits.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let server = common::serve_with(dir.path(), None, &env).await;
    let schema = format!("{}/api/openapi.json", server.base);
    std::fs::write(
        dir.path().join("schemathesis_hooks.py"),
        include_str!("schemathesis_hooks.py"),
    )
    .unwrap();
    let mut command = std::process::Command::new(schemathesis());
    command
        .args([
            "run",
            &schema,
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "40",
            "--seed",
            "20261201",
            "--workers",
            "2",
        ])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("PYTHONPATH", dir.path())
        .current_dir(dir.path());
    let command = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&command.stdout);
    assert!(
        command.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&command.stderr)
    );
}
