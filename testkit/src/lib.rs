//! Test helpers shared by Postsiegel's crates: certificates made with the openssl command
//! line, a real LDAP server (`slapd`), and running external tools. Used only from tests and
//! benchmarks.

pub mod postfix;
pub mod slapd;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use der::{DecodePem, Encode};
pub use x509_cert::Certificate;

/// A loopback port free at this moment.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn run(command: &mut Command) -> Vec<u8> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    output.stdout
}

pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    run(Command::new("openssl").current_dir(dir).args(args))
}

/// What a leaf certificate should look like.
#[derive(Clone)]
pub struct Leaf {
    pub name: &'static str,
    pub email: &'static str,
    /// `rsa:2048`, `rsa:1024`, `ec` (P-256) ...
    pub key: &'static str,
    pub key_usage: &'static str,
    pub extended_key_usage: Option<&'static str>,
    /// `YYYYMMDDHHMMSSZ`
    pub not_before: &'static str,
    pub not_after: &'static str,
    pub issuer: Issuer,
    pub digest: &'static str,
    /// CRL distribution points (`URI:http://...`), comma-separated.
    pub crl_distribution_points: Option<&'static str>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Issuer {
    /// The intermediate under the trusted RSA root.
    Intermediate,
    /// The intermediate (ECDSA P-256) under the trusted ECDSA P-384 root.
    EcIntermediate,
    /// A root nobody trusts.
    Stranger,
}

impl Leaf {
    pub fn good(name: &'static str, email: &'static str) -> Leaf {
        Leaf {
            name,
            email,
            key: "rsa:2048",
            key_usage: "critical,keyEncipherment,digitalSignature",
            extended_key_usage: Some("emailProtection"),
            not_before: "20250101000000Z",
            not_after: "20350101000000Z",
            issuer: Issuer::Intermediate,
            digest: "sha256",
            crl_distribution_points: None,
        }
    }
}

pub struct Issued {
    pub dir: PathBuf,
    pub name: &'static str,
    pub der: Vec<u8>,
    pub certificate: Certificate,
}

impl Issued {
    pub fn key_path(&self) -> PathBuf {
        self.dir.join(format!("{}.key", self.name))
    }
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(format!("{}.pem", self.name))
    }
    /// A PKCS#12 file with legacy algorithms (gpgsm cannot read OpenSSL 3's default) and
    /// an empty password.
    pub fn p12_path(&self) -> PathBuf {
        let path = self.dir.join(format!("{}.p12", self.name));
        if !path.exists() {
            self.make_p12(&path);
        }
        path
    }

    /// Makes the PKCS#12 file again, with fresh salts.
    ///
    /// gpgsm 2.2.40 refuses about 1 in 100 of the files OpenSSL makes with 3DES, which is
    /// the only key encryption it reads here (measured: 3 of 300 fresh files; a refused
    /// file is refused every time, so it depends on the random salts). A test that meets
    /// such a file makes it again instead of failing on a bug in its tool.
    pub fn remake_p12(&self) -> PathBuf {
        let path = self.dir.join(format!("{}.p12", self.name));
        self.make_p12(&path);
        path
    }

    fn make_p12(&self, path: &Path) {
        openssl(
            &self.dir,
            &[
                "pkcs12",
                "-export",
                "-in",
                &self.cert_path().to_string_lossy(),
                "-inkey",
                &self.key_path().to_string_lossy(),
                "-out",
                &path.to_string_lossy(),
                "-passout",
                "pass:",
                "-keypbe",
                "PBE-SHA1-3DES",
                "-certpbe",
                "PBE-SHA1-3DES",
                "-macalg",
                "sha1",
                "-name",
                self.name,
            ],
        );
    }
}

/// A small PKI in a temporary folder: a trusted RSA root with an intermediate, a trusted
/// ECDSA root with an ECDSA intermediate, and an untrusted root.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub anchors: Vec<Certificate>,
    pub intermediates: Vec<Certificate>,
}

const CA_CONFIG: &str = "\
[ca]
default_ca = ca_default
[ca_default]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = policy_any
email_in_dn = no
unique_subject = no
copy_extensions = none
# RFC 5280 CAs issue v2 CRLs (with extensions); x509-cert cannot read v1 CRLs.
crl_extensions = crl_ext
[crl_ext]
authorityKeyIdentifier = keyid:always
[policy_any]
commonName = supplied
organizationName = optional
countryName = optional
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

impl Pki {
    // Making a PKI runs openssl several times: no `Default` to hide that.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ca.cnf"), CA_CONFIG).unwrap();
        std::fs::write(d.join("index.txt"), "").unwrap();
        std::fs::write(d.join("serial"), "1000\n").unwrap();
        let root = |name: &str, key: &[&str], cn: &str| {
            let mut args = vec!["req", "-x509", "-new", "-nodes", "-days", "7300", "-sha256"];
            args.extend_from_slice(key);
            let keyout = format!("{name}.key");
            let out = format!("{name}.pem");
            let subj = format!("/C=DE/O=Postsiegel Test PKI/CN={cn}");
            args.extend_from_slice(&[
                "-keyout",
                &keyout,
                "-out",
                &out,
                "-subj",
                &subj,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
            openssl(d, &args);
        };
        root("root", &["-newkey", "rsa:2048"], "Test Root CA");
        root(
            "ecroot",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            "Test EC Root CA",
        );
        root("stranger", &["-newkey", "rsa:2048"], "Stranger Root CA");
        let pki = Pki {
            dir,
            anchors: vec![],
            intermediates: vec![],
        };
        pki.sign_ca(
            "intermediate",
            "rsa:2048",
            "root",
            "Test Issuing CA",
            "sha384",
        );
        pki.sign_ca(
            "ecintermediate",
            "ec",
            "ecroot",
            "Test EC Issuing CA",
            "sha384",
        );
        let load = |name: &str| pki.load(name);
        Pki {
            anchors: vec![load("root"), load("ecroot")],
            intermediates: vec![load("intermediate"), load("ecintermediate")],
            dir: pki.dir,
        }
    }

    fn load(&self, name: &str) -> Certificate {
        let pem = std::fs::read(self.dir.path().join(format!("{name}.pem"))).unwrap();
        Certificate::from_pem(&pem).unwrap()
    }

    fn new_key_and_csr(&self, name: &str, key: &str, subject: &str) {
        let d = self.dir.path();
        let mut args = vec!["req", "-new", "-nodes", "-keyout"];
        let keyout = format!("{name}.key");
        let csr = format!("{name}.csr");
        args.push(&keyout);
        let key_args: Vec<&str> = if key == "ec" {
            vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        } else {
            vec!["-newkey", key]
        };
        args.extend(key_args);
        args.extend_from_slice(&["-out", &csr, "-subj", subject]);
        openssl(d, &args);
    }

    fn sign(&self, name: &str, issuer: &str, extensions: &str, from: &str, to: &str, digest: &str) {
        let d = self.dir.path();
        let ext_file = format!("{name}.ext");
        std::fs::write(d.join(&ext_file), format!("[ext]\n{extensions}")).unwrap();
        self.openssl_ca(&[
            "-notext",
            "-md",
            digest,
            "-cert",
            &format!("{issuer}.pem"),
            "-keyfile",
            &format!("{issuer}.key"),
            "-in",
            &format!("{name}.csr"),
            "-out",
            &format!("{name}.pem"),
            "-startdate",
            from,
            "-enddate",
            to,
            "-extfile",
            &ext_file,
            "-extensions",
            "ext",
        ]);
    }

    fn sign_ca(&self, name: &str, key: &str, issuer: &str, cn: &str, digest: &str) {
        self.new_key_and_csr(name, key, &format!("/C=DE/O=Postsiegel Test PKI/CN={cn}"));
        let ext = "basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n";
        self.sign(
            name,
            issuer,
            ext,
            "20240101000000Z",
            "20400101000000Z",
            digest,
        );
    }

    /// Issues a leaf certificate as `leaf` describes.
    pub fn issue(&self, leaf: &Leaf) -> Issued {
        let subject = format!("/C=DE/O=Landratsamt Test/CN={}", leaf.name);
        self.new_key_and_csr(leaf.name, leaf.key, &subject);
        let mut ext = format!(
            "basicConstraints = CA:FALSE\nkeyUsage = {}\nsubjectAltName = email:{}\n",
            leaf.key_usage, leaf.email
        );
        if let Some(eku) = leaf.extended_key_usage {
            ext.push_str(&format!("extendedKeyUsage = {eku}\n"));
        }
        if let Some(points) = leaf.crl_distribution_points {
            ext.push_str(&format!("crlDistributionPoints = {points}\n"));
        }
        let issuer = match leaf.issuer {
            Issuer::Intermediate => "intermediate",
            Issuer::EcIntermediate => "ecintermediate",
            Issuer::Stranger => "stranger",
        };
        self.sign(
            leaf.name,
            issuer,
            &ext,
            leaf.not_before,
            leaf.not_after,
            leaf.digest,
        );
        let pem = std::fs::read(self.dir.path().join(format!("{}.pem", leaf.name))).unwrap();
        let certificate = Certificate::from_pem(&pem).unwrap();
        let der = certificate.to_der().unwrap();
        Issued {
            dir: self.dir.path().to_owned(),
            name: leaf.name,
            der,
            certificate,
        }
    }
}

impl Pki {
    /// Runs `openssl ca` with this PKI's configuration.
    fn openssl_ca(&self, args: &[&str]) {
        let mut all = vec!["ca", "-batch", "-config", "ca.cnf"];
        all.extend_from_slice(args);
        openssl(self.dir.path(), &all);
    }

    /// Marks `issued` revoked in the CA database; the next [`Pki::crl`] lists it.
    pub fn revoke(&self, issued: &Issued) {
        let cert = issued.cert_path().to_string_lossy().into_owned();
        self.openssl_ca(&[
            "-cert",
            "intermediate.pem",
            "-keyfile",
            "intermediate.key",
            "-revoke",
            &cert,
            "-crl_reason",
            "keyCompromise",
        ]);
    }

    /// A CRL of the RSA issuing CA (`intermediate`, or another `issuer` such as
    /// `stranger`), valid for `hours`, as DER.
    pub fn crl(&self, issuer: &str, hours: u32) -> Vec<u8> {
        let out = format!("{issuer}.crl");
        self.openssl_ca(&[
            "-gencrl",
            "-cert",
            &format!("{issuer}.pem"),
            "-keyfile",
            &format!("{issuer}.key"),
            "-crlhours",
            &hours.to_string(),
            "-out",
            &out,
        ]);
        openssl(self.dir.path(), &["crl", "-in", &out, "-outform", "DER"])
    }

    /// A CA certificate of this PKI by name (`intermediate`, `root`, `stranger`...).
    pub fn ca(&self, name: &str) -> Certificate {
        self.load(name)
    }
}

/// Seconds since the Unix epoch for a `YYYY-MM-DD` date.
pub fn unix(date: &str) -> u64 {
    let parts: Vec<u16> = date.split('-').map(|p| p.parse().unwrap()).collect();
    der::DateTime::new(parts[0], parts[1] as u8, parts[2] as u8, 0, 0, 0)
        .unwrap()
        .unix_duration()
        .as_secs()
}

/// A self-signed server certificate (`CA:FALSE`, so that rustls accepts it as the end
/// entity it trusts) for `localhost` and `127.0.0.1`; returns the paths of cert and key.
pub fn tls_server_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::write(
        dir.join("tls.cnf"),
        "\
[req]
distinguished_name = dn
x509_extensions = ext
prompt = no
[dn]
CN = localhost
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-sha256", "-days", "2",
            "-config", "tls.cnf", "-keyout", "tls.key", "-out", "tls.pem",
        ],
    );
    (dir.join("tls.pem"), dir.join("tls.key"))
}
