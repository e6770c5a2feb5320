//! A real Postfix (Debian's `postfix`) for the return path's tests: an instance of its own
//! with its own configuration and queue folder in a temporary folder, listening on a free
//! loopback port, relaying everything to one SMTP server and the domains given to others.
//! It bounces as Postfix does (its own `bounce` daemon writes the DSN), tries each mail
//! once (`maximal_queue_lifetime = 0`) and logs to the test's output on failure.
//!
//! Postfix's master must start as root (postfix(1)); the tests run as root in CI. Started
//! with `start-fg`, so that the instance is the test's child and dies with it.

use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// The daemons the instance runs: Debian's master.cf without chroot, and only what a
/// relay that bounces needs.
const SERVICES: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

pub struct Postfix {
    process: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Postfix {
    /// An instance named `hostname` that relays to `127.0.0.1:relay_port`, and mail for
    /// each `(domain, port)` of `routes` to `127.0.0.1:port` instead.
    pub fn start(hostname: &str, relay_port: u16, routes: &[(&str, u16)]) -> Postfix {
        let routes: Vec<(&str, String)> = routes
            .iter()
            .map(|(domain, port)| (*domain, format!("smtp:[127.0.0.1]:{port}")))
            .collect();
        Postfix::start_with(hostname, relay_port, &routes, "")
    }

    /// The MX of a domain, as the README says to run Postfix before the portal's listener:
    /// mail for `domain` goes over LMTP to `127.0.0.1:lmtp_port`, and a recipient is taken
    /// at RCPT only if the listener takes it (Postfix's address verification), so that
    /// Postfix never accepts what it would then have to bounce; XFORWARD tells the
    /// listener whom Postfix talked to.
    pub fn mx_for(hostname: &str, domain: &str, lmtp_port: u16) -> Postfix {
        let extra = format!(
            "relay_domains = {domain}\n\
             smtpd_relay_restrictions = reject_unauth_destination\n\
             smtpd_recipient_restrictions = reject_unverified_recipient\n\
             unverified_recipient_reject_code = 550\n\
             address_verify_poll_delay = 1s\n\
             address_verify_poll_count = 10\n\
             lmtp_send_xforward_command = yes\n"
        );
        Postfix::start_with(
            hostname,
            // Nothing else is relayed; the port is never reached.
            9,
            &[(domain, format!("lmtp:inet:127.0.0.1:{lmtp_port}"))],
            &extra,
        )
    }

    /// Like [`Postfix::start`], routes given as Postfix transports (`smtp:[host]:port`,
    /// `lmtp:inet:host:port`), `extra` main.cf lines last (a later line wins).
    pub fn start_with(
        hostname: &str,
        relay_port: u16,
        routes: &[(&str, String)],
        extra: &str,
    ) -> Postfix {
        assert!(
            Path::new("/usr/sbin/postfix").exists(),
            "Postfix is missing: apt-get install postfix (scripts/setup.sh installs it)"
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let port = free_port();
        let queue = root.join("queue");
        let data = root.join("data");
        std::fs::create_dir_all(&queue).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        // Postfix's daemons (user postfix) must reach the queue; a temporary folder is 0700.
        for folder in [root, queue.as_path()] {
            chmod(folder, "755");
        }
        run(Command::new("chown").arg("postfix:postfix").arg(&data));
        let transport: String = routes
            .iter()
            .map(|(domain, transport)| format!("{domain} {transport}\n"))
            .collect();
        std::fs::write(root.join("transport"), transport).unwrap();
        let domain = hostname.split_once('.').map_or(hostname, |(_, d)| d);
        let main = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {queue}\n\
             data_directory = {data}\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             myhostname = {hostname}\n\
             mydomain = {domain}\n\
             myorigin = {domain}\n\
             inet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\n\
             mydestination =\n\
             local_recipient_maps =\n\
             alias_maps =\n\
             alias_database =\n\
             mynetworks = 127.0.0.0/8\n\
             smtpd_relay_restrictions = permit_mynetworks, reject\n\
             relayhost = [127.0.0.1]:{relay_port}\n\
             transport_maps = texthash:{transport}\n\
             smtp_dns_support_level = disabled\n\
             smtp_tls_security_level = may\n\
             smtp_tls_loglevel = 1\n\
             maximal_queue_lifetime = 0\n\
             bounce_queue_lifetime = 0\n\
             minimal_backoff_time = 1s\n\
             maximal_backoff_time = 2s\n\
             queue_run_delay = 1s\n\
             maillog_file = /dev/stdout\n\
             multi_instance_directories =\n\
             {extra}",
            queue = queue.display(),
            data = data.display(),
            transport = root.join("transport").display(),
        );
        std::fs::write(root.join("main.cf"), main).unwrap();
        std::fs::write(
            root.join("master.cf"),
            format!("127.0.0.1:{port} inet n - n - - smtpd\n{SERVICES}"),
        )
        .unwrap();
        let log = std::fs::File::create(root.join("postfix.log")).unwrap();
        run(Command::new("postfix").arg("-c").arg(root).arg("check"));
        let process = Command::new("postfix")
            .arg("-c")
            .arg(root)
            .arg("start-fg")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting postfix");
        let postfix = Postfix { process, port, dir };
        postfix.wait_until_listening();
        postfix
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What Postfix logged so far (its maillog), for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postfix.log")).unwrap_or_default()
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Postfix did not start (it must run as root):\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(self.dir.path())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn chmod(path: &Path, mode: &str) {
    run(Command::new("chmod").arg(mode).arg(path));
}

fn run(command: &mut Command) {
    crate::run(command);
}
