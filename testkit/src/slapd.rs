//! A real OpenLDAP server for tests, laid out as state PKIs publish certificates: entries
//! with `mail` and `userCertificate;binary`, CA entries with `certificateRevocationList`.
//!
//! Each [`Slapd`] is its own process on a free port with its own database in a temporary
//! folder, so tests run in parallel without seeing each other's entries.

use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::{free_port, run};

const SUFFIX: &str = "o=Freistaat Demo,c=DE";
const ROOT_DN: &str = "cn=admin,o=Freistaat Demo,c=DE";
const ROOT_PASSWORD: &str = "postsiegel-test";
const SCHEMA_DIR: &str = "/etc/ldap/schema";
const MODULE_DIR: &str = "/usr/lib/ldap";
const STARTUP_LIMIT: Duration = Duration::from_secs(10);

pub struct Slapd {
    process: Child,
    port: u16,
    /// The `ldaps://` port, when started [`Slapd::with_tls`].
    tls_port: Option<u16>,
    dir: tempfile::TempDir,
}

impl Slapd {
    /// Starts slapd on a free port of 127.0.0.1 with an empty directory under
    /// [`Slapd::base_dn`] that anyone may read, and waits until it accepts connections.
    pub fn start() -> Slapd {
        launch(false)
    }

    /// Like [`Slapd::start`], and also listening for `ldaps://` with a self-signed
    /// certificate for `localhost` and `127.0.0.1` ([`Slapd::tls_certificate`]).
    pub fn with_tls() -> Slapd {
        launch(true)
    }

    /// `ldaps://localhost:<port>`
    ///
    /// Panics unless started [`Slapd::with_tls`].
    pub fn ldaps_url(&self) -> String {
        let port = self
            .tls_port
            .expect("this slapd has no TLS: start it with_tls()");
        format!("ldaps://localhost:{port}")
    }

    /// The PEM certificate of the `ldaps://` listener: what a client must trust.
    pub fn tls_certificate(&self) -> PathBuf {
        self.dir.path().join("tls.pem")
    }

    /// `ldap://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn base_dn(&self) -> &'static str {
        SUFFIX
    }

    /// Adds the entries of `ldif` (as the administrator).
    pub fn add(&self, ldif: &str) {
        self.ldap_tool("ldapadd", ldif);
    }

    /// Applies the `changetype:` records of `ldif` (modify, delete...).
    pub fn modify(&self, ldif: &str) {
        self.ldap_tool("ldapmodify", ldif);
    }

    fn ldap_tool(&self, tool: &str, ldif: &str) {
        let file = tempfile::Builder::new()
            .suffix(".ldif")
            .tempfile_in(self.dir.path())
            .unwrap();
        std::fs::write(file.path(), ldif).unwrap();
        run(Command::new(tool)
            // No ~/.ldaprc or /etc/ldap/ldap.conf: only what is given here counts.
            .env("LDAPNOINIT", "1")
            .args([
                "-x",
                "-H",
                &self.url(),
                "-D",
                ROOT_DN,
                "-w",
                ROOT_PASSWORD,
                "-f",
            ])
            .arg(file.path()));
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        // Our own child by its PID; the temporary folder goes when `dir` drops after this.
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn launch(tls: bool) -> Slapd {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("db")).unwrap();
    let tls_lines = if tls {
        let (cert, key) = crate::tls_server_certificate(dir.path());
        format!(
            "TLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
            cert.display(),
            key.display()
        )
    } else {
        String::new()
    };
    std::fs::write(
        dir.path().join("slapd.conf"),
        config(dir.path(), &tls_lines),
    )
    .unwrap();
    // The ports are free when asked but may be taken before slapd binds them: try again.
    let mut attempts = 0;
    let (process, port, tls_port) = loop {
        attempts += 1;
        let port = free_port();
        let tls_port = tls.then(free_port);
        match spawn(dir.path(), port, tls_port) {
            Ok(process) => break (process, port, tls_port),
            Err(log) if log.contains("Address already in use") && attempts < 5 => continue,
            Err(log) => panic!("slapd did not start on port {port}:\n{log}"),
        }
    };
    let slapd = Slapd {
        process,
        port,
        tls_port,
        dir,
    };
    slapd.add(&format!(
        "dn: {SUFFIX}\nobjectClass: organization\no: Freistaat Demo\n"
    ));
    slapd
}

/// `global` goes where slapd expects global directives (TLS), before the database.
fn config(dir: &Path, global: &str) -> String {
    let dir = dir.display();
    format!(
        "\
include {SCHEMA_DIR}/core.schema
include {SCHEMA_DIR}/cosine.schema
include {SCHEMA_DIR}/inetorgperson.schema
pidfile {dir}/slapd.pid
modulepath {MODULE_DIR}
moduleload back_mdb
{global}database mdb
suffix \"{SUFFIX}\"
rootdn \"{ROOT_DN}\"
rootpw {ROOT_PASSWORD}
directory {dir}/db
dbnosync
index mail eq
# As state PKIs publish: anyone may read.
access to * by * read
"
    )
}

/// Starts slapd in the foreground (`-d`) and waits until its ports accept connections;
/// `Err` carries slapd's log if it exits or does not listen in time.
fn spawn(dir: &Path, port: u16, tls_port: Option<u16>) -> Result<Child, String> {
    let log_path = dir.join(format!("slapd-{port}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut urls = format!("ldap://127.0.0.1:{port}/");
    if let Some(tls_port) = tls_port {
        urls.push_str(&format!(" ldaps://127.0.0.1:{tls_port}/"));
    }
    let mut process = Command::new("/usr/sbin/slapd")
        .arg("-f")
        .arg(dir.join("slapd.conf"))
        .args(["-h", &urls, "-d", "none"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run /usr/sbin/slapd (apt-get install slapd): {e}"));
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let started = Instant::now();
    loop {
        if let Some(status) = process.try_wait().unwrap() {
            return Err(format!("slapd exited with {status}:\n{}", read_log()));
        }
        let listening = |port: u16| TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok();
        if listening(port) && tls_port.is_none_or(listening) {
            return Ok(process);
        }
        if started.elapsed() > STARTUP_LIMIT {
            let _ = process.kill();
            let _ = process.wait();
            return Err(format!(
                "slapd did not listen within {STARTUP_LIMIT:?}:\n{}",
                read_log()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An LDIF line `attribute: value`, or `attribute:: <base64>` when the value is not a
/// plain LDIF SAFE-STRING (binary, non-ASCII...), folded at 76 columns.
pub fn ldif_line(attribute: &str, value: &[u8]) -> String {
    let safe = !value.is_empty()
        && value
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'\r' && b != b'\n')
        && !matches!(value[0], b' ' | b':' | b'<')
        && value.last() != Some(&b' ');
    let line = if safe {
        format!("{attribute}: {}", String::from_utf8_lossy(value))
    } else {
        format!("{attribute}:: {}", BASE64.encode(value))
    };
    let mut folded = String::new();
    let mut rest = line.as_str();
    let mut width = 76;
    while rest.len() > width {
        let (head, tail) = rest.split_at(width);
        folded.push_str(head);
        folded.push_str("\n ");
        rest = tail;
        width = 75;
    }
    folded.push_str(rest);
    folded.push('\n');
    folded
}

/// An entry as state PKIs publish a mailbox: `inetOrgPerson` with `mail` and each of
/// `certificates` (DER) as a `userCertificate;binary` value.
pub fn mailbox_entry(dn: &str, mail: &str, certificates: &[impl AsRef<[u8]>]) -> String {
    let cn = first_rdn_value(dn);
    let mut ldif = ldif_line("dn", dn.as_bytes());
    ldif.push_str("objectClass: inetOrgPerson\n");
    ldif.push_str(&ldif_line("cn", cn.as_bytes()));
    ldif.push_str(&ldif_line("sn", cn.as_bytes()));
    ldif.push_str(&ldif_line("mail", mail.as_bytes()));
    for certificate in certificates {
        ldif.push_str(&ldif_line("userCertificate;binary", certificate.as_ref()));
    }
    ldif
}

/// A CA entry (`applicationProcess` + RFC 4523 `pkiCA`) with its certificate, its CRL
/// and, if given, an ARL (the CRL for CA certificates), all DER.
pub fn ca_entry(
    dn: &str,
    ca_certificate: &[u8],
    crl: &[u8],
    authority_revocation_list: Option<&[u8]>,
) -> String {
    let mut ldif = ldif_line("dn", dn.as_bytes());
    ldif.push_str("objectClass: applicationProcess\nobjectClass: pkiCA\n");
    ldif.push_str(&ldif_line("cn", first_rdn_value(dn).as_bytes()));
    ldif.push_str(&ldif_line("cACertificate;binary", ca_certificate));
    ldif.push_str(&ldif_line("certificateRevocationList;binary", crl));
    if let Some(arl) = authority_revocation_list {
        ldif.push_str(&ldif_line("authorityRevocationList;binary", arl));
    }
    ldif
}

/// An `ldapmodify` record that removes one certificate value from an entry.
pub fn remove_certificate(dn: &str, certificate: &[u8]) -> String {
    let mut ldif = ldif_line("dn", dn.as_bytes());
    ldif.push_str("changetype: modify\ndelete: userCertificate;binary\n");
    ldif.push_str(&ldif_line("userCertificate;binary", certificate));
    ldif.push_str("-\n");
    ldif
}

/// `Poststelle` of `cn=Poststelle,o=...`; entries need their RDN value as an attribute.
fn first_rdn_value(dn: &str) -> &str {
    let rdn = dn.split(',').next().unwrap_or(dn);
    rdn.split_once('=').map_or(rdn, |(_, value)| value).trim()
}
