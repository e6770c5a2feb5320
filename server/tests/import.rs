//! `postsiegel import` with exactly the example from the README, against real certificates
//! and CRLs made by the openssl command line, and a real SQLite database.

use std::path::Path;
use std::process::Command;

use postsiegel_server::store::Store;
use testkit::{Leaf, Pki};

/// The TOML block after `<!-- directory-example -->` in the README.
fn readme_example() -> String {
    let readme = include_str!("../../README.md").to_owned();
    let after = readme
        .split("<!-- directory-example -->\n```toml\n")
        .nth(1)
        .expect("example marker");
    after.split("\n```").next().unwrap().to_owned()
}

fn postsiegel(config: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_postsiegel"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("POSTSIEGEL_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn line<'a>(output: &'a str, start: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in\n{output}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_example_imports_and_dry_runs_say_what_changes() {
    let pki = Pki::new();
    let work = tempfile::tempdir().unwrap();
    let certs = work.path().join("zertifikate");
    std::fs::create_dir(&certs).unwrap();
    for (name, mailbox) in [
        ("poststelle", "poststelle@lra-musterhausen.example"),
        ("gewerbeamt", "gewerbeamt@lra-musterhausen.example"),
    ] {
        let issued = pki.issue(&Leaf::good(name, mailbox));
        std::fs::copy(issued.cert_path(), certs.join(format!("{name}.pem"))).unwrap();
    }
    let crl = work.path().join("issuing.crl");
    std::fs::write(&crl, pki.crl("intermediate", 72)).unwrap();
    let example = work.path().join("verzeichnis.toml");
    std::fs::write(&example, readme_example()).unwrap();
    let data = work.path().join("data");
    let config = work.path().join("postsiegel.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[pki]\ntrust_anchors = [{:?}]\nintermediates = [{:?}]\ncrl_files = [{:?}]\n",
            data,
            pki.dir.path().join("root.pem"),
            pki.dir.path().join("intermediate.pem"),
            crl
        ),
    )
    .unwrap();
    let example = example.to_str().unwrap();

    let preview = postsiegel(&config, &["import", "--dry-run", example]);
    assert!(
        line(&preview, "appears      landratsamt-musterhausen:")
            .contains("→ poststelle@lra-musterhausen.example, 1 certificate(s)")
    );
    assert!(
        line(
            &preview,
            "appears      landratsamt-musterhausen/gewerbeamt:"
        )
        .contains("→ gewerbeamt@lra-musterhausen.example, 1 certificate(s)")
    );
    assert!(
        line(
            &preview,
            "appears      landratsamt-musterhausen/zulassungsstelle:"
        )
        .contains("via the authority: the unit has no address of its own")
    );
    let gemeinde = line(&preview, "not offered  gemeinde-beispielhausen:");
    assert!(gemeinde.contains("has not activated"), "{gemeinde}");
    assert!(gemeinde.contains("imprint details missing"), "{gemeinde}");
    assert!(
        gemeinde.contains("no certificate is known for rathaus@beispielhausen.example"),
        "{gemeinde}"
    );
    assert!(preview.contains("dry run: nothing was written"));
    let store = Store::open(&data).await.unwrap();
    assert!(
        store.directory().await.unwrap().authorities.is_empty(),
        "a dry run wrote"
    );

    let imported = postsiegel(&config, &["import", example]);
    assert!(
        imported.contains("imported 2 authorities, 2 units, 2 certificates"),
        "{imported}"
    );
    let directory = store.directory().await.unwrap();
    let mut expected = postsiegel_server::directory::import::load(Path::new(example)).unwrap();
    expected.authorities.sort_by(|a, b| a.slug.cmp(&b.slug));
    expected
        .certificates
        .sort_by(|a, b| a.mailbox.cmp(&b.mailbox));
    assert_eq!(directory, expected);
    let lra = &directory.authorities[1];
    assert_eq!(lra.policy.mailbox_limit_bytes, 25_000_000);
    assert_eq!(
        lra.policy.embed_origins,
        ["https://www.lra-musterhausen.example"]
    );
    assert_eq!(
        lra.units[0].mailbox.as_deref(),
        Some("gewerbeamt@lra-musterhausen.example")
    );

    let again = postsiegel(&config, &["import", "--dry-run", example]);
    assert!(line(&again, "stays        landratsamt-musterhausen:").contains("1 certificate(s)"));

    // Switching the authority off makes its form and its units' forms vanish.
    let off = readme_example().replacen("activated = true", "activated = false", 1);
    let off_path = work.path().join("aus.toml");
    std::fs::write(&off_path, off).unwrap();
    let vanishing = postsiegel(
        &config,
        &["import", "--dry-run", off_path.to_str().unwrap()],
    );
    assert!(
        line(&vanishing, "vanishes     landratsamt-musterhausen:").contains("has not activated")
    );
    assert!(
        line(
            &vanishing,
            "vanishes     landratsamt-musterhausen/gewerbeamt:"
        )
        .contains("not offered")
    );
}

#[test]
fn broken_directory_files_are_refused_with_the_reason() {
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("v.toml");
    for (content, expected) in [
        (
            "[[authority]]\nslug = \"A B\"\nname = \"x\"\nstreet = \"s\"\npostal_code = \"1\"\nplace = \"p\"\n",
            "lower-case",
        ),
        (
            "[[authority]]\nslug = \"a\"\nname = \"x\"\nstreet = \"s\"\npostal_code = \"1\"\nplace = \"p\"\nactivatd = true\n",
            "activatd",
        ),
        (
            "[[certificate]]\nmailbox = \"a@b\"\nfile = \"missing.pem\"\n",
            "missing.pem",
        ),
        // An origin goes into the CSP header: a directive smuggled in must not get through.
        (
            "[[authority]]\nslug = \"a\"\nname = \"x\"\nstreet = \"s\"\npostal_code = \"1\"\nplace = \"p\"\npolicy = { embed_origins = [\"https://a.de; script-src *\"] }\n",
            "embed origin \"https://a.de; script-src *\" is not an origin",
        ),
    ] {
        std::fs::write(&path, content).unwrap();
        let error = postsiegel_server::directory::import::load(&path)
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{error}");
    }
}
