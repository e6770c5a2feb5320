//! The return path: every mail goes out from a return address of its own, the portal's
//! mail listener takes reports for those addresses only, and what real mail servers wrote
//! (bounces and reports from flufl.bounce's corpus, `tests/data/flufl-bounce/`) reaches the
//! status page. The listener runs on a real socket; mail comes to it over SMTP (lettre as
//! the client, or a raw conversation where the protocol itself is under test).

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use common::{Portal, get, now, portal_with, post_json, send, to};
use postsiegel_server::inbound::{InboundConfig, TlsFiles};
use testkit::postfix::Postfix;
use testkit::smtp::{Behaviour, Received, SmtpServer};
use wire::{CONFIRMATION_HEADER, TOKEN_HEADER};

const TRADE: &str = "landratsamt-musterhausen/gewerbeamt";
const TRADE_MAILBOX: &str = "gewerbeamt@lra-musterhausen.example";
const CITIZEN: &str = "juergen@example.org";
const RETURN_DOMAIN: &str = "return.kontakt.example.de";

/// A portal whose mail goes to `smtp` and whose listener runs on a free port.
struct Returns {
    portal: Portal,
    smtp: SmtpServer,
    listener_port: u16,
    reader: postsiegel_server::inbound::reader::Reader,
    /// The Postfix between the portal and `smtp`, when there is one.
    postfix: Option<Postfix>,
}

async fn returns() -> Returns {
    returns_with(SmtpServer::start(), |_| {}, |_, sink| (sink, None)).await
}

/// Like [`returns`], the listener's configuration changed by `adjust`;
/// `route(listener port, sink port)` says where the portal sends its mail (and starts
/// what runs there).
async fn returns_with(
    smtp: SmtpServer,
    adjust: impl FnOnce(&mut InboundConfig),
    route: impl FnOnce(u16, u16) -> (u16, Option<Postfix>),
) -> Returns {
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener_port = socket.local_addr().unwrap().port();
    let (port, postfix) = route(listener_port, smtp.port());
    let transport = common::plain_smtp(port);
    let mut portal = portal_with(
        |_| {},
        Some(transport),
        None,
        None,
        |config| {
            let mut inbound = InboundConfig::new(
                "127.0.0.1:0".parse().unwrap(),
                RETURN_DOMAIN,
                "returns.portal.test",
            );
            adjust(&mut inbound);
            config.inbound = Some(inbound);
        },
    )
    .await;
    let inbound = portal.inbound.take().expect("configured");
    tokio::spawn(inbound.listener.run(socket));
    Returns {
        portal,
        smtp,
        listener_port,
        reader: inbound.reader,
        postfix,
    }
}

impl Returns {
    /// Confirms the citizen's address with the code from the mail.
    async fn verify(&self) -> String {
        common::verify_by_mail(&self.portal, &self.smtp, TRADE, CITIZEN).await
    }

    /// Sends a message and lets the worker hand it over; the accepted answer and the mail
    /// as the authority's server got it.
    async fn deliver(&self, token: &str, confirmation: bool) -> (serde_json::Value, Received) {
        let accepted = self.submit(token, confirmation).await;
        let before = to(&self.smtp.received(), TRADE_MAILBOX).len();
        self.portal.worker.work(now()).await.unwrap();
        let mail = to(
            &self.smtp.wait_for_to(TRADE_MAILBOX, before + 1),
            TRADE_MAILBOX,
        )
        .pop()
        .unwrap();
        (accepted, mail)
    }

    /// Confirms the citizen's address and lets one message be handed over.
    async fn handed_over(&self, confirmation: bool) -> (serde_json::Value, Received) {
        let token = self.verify().await;
        self.deliver(&token, confirmation).await
    }

    /// Uploads a message; the accepted answer.
    async fn submit(&self, token: &str, confirmation: bool) -> serde_json::Value {
        let der = common::encrypted_to(
            &self
                .portal
                .demo
                .folder
                .join("certificates/lra-gewerbeamt.pem"),
            b"Content-Type: text/plain\r\n\r\nHallo\r\n",
        );
        let mut request = Request::post(format!("/api/submissions/{TRADE}"))
            .header("content-type", "application/pkcs7-mime")
            .header(TOKEN_HEADER, token);
        if confirmation {
            request = request.header(CONFIRMATION_HEADER, "1");
        }
        let answer = send(&self.portal.app, request.body(Body::from(der)).unwrap()).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
        answer.json()
    }

    async fn status(&self, accepted: &serde_json::Value) -> serde_json::Value {
        let token = accepted["status_token"].as_str().unwrap();
        get(&self.portal.app, &format!("/api/status/{token}"))
            .await
            .json()
    }

    /// Hands `mail` to the listener over SMTP, from the null sender, as a reporting
    /// server does; then the reader reads what was taken.
    async fn report(&self, recipient: &str, mail: &[u8]) {
        self.report_from("mx.authority.example", recipient, mail)
            .await
    }

    /// Reports about `mail`, to its return address: the corpus file `name` with the
    /// mail's Message-ID for `original`.
    async fn report_about(&self, mail: &Received, name: &str, original: &str) {
        let report = corpus(name, original, &message_id(mail));
        self.report(&return_address_of(mail), &report).await
    }

    /// Like [`Returns::report`], the client greeting as `helo`.
    async fn report_from(&self, helo: &str, recipient: &str, mail: &[u8]) {
        let listener = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(self.listener_port)
            .hello_name(lettre::transport::smtp::extension::ClientId::Domain(
                helo.into(),
            ))
            .build();
        let envelope = Envelope::new(None, vec![recipient.parse().unwrap()]).unwrap();
        listener
            .send_raw(&envelope, mail)
            .await
            .expect("the listener takes the report");
        self.reader.read_all(now()).await.unwrap();
    }
}

trait WaitFor {
    fn wait_for_to(&self, address: &str, count: usize) -> Vec<Received>;
}

impl WaitFor for SmtpServer {
    /// Waits until `count` mails to `address` arrived.
    fn wait_for_to(&self, address: &str, count: usize) -> Vec<Received> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let received = self.received();
            if to(&received, address).len() >= count || std::time::Instant::now() > deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Exchange's DSN (`Action: failed`, 5.1.1) from the corpus, about `mail`.
fn exchange_bounce(mail: &Received) -> Vec<u8> {
    corpus("dsn_13.txt", EXCHANGE_ORIGINAL, &message_id(mail))
}

/// The Message-ID the Exchange DSN's returned message has in the corpus.
const EXCHANGE_ORIGINAL: &str = "mailman.8262.1143060203.1568.wed_ride@grizz.org";

/// The words of the status's report.
fn detail(status: &serde_json::Value) -> &str {
    status["report"]["detail"].as_str().expect("a report")
}

/// A corpus file with CRLF line ends, the portal's Message-ID in place of `original`.
fn corpus(name: &str, original: &str, message_id: &str) -> Vec<u8> {
    // A name of flufl.bounce's corpus, or a path below tests/data.
    let relative = if name.contains('/') {
        name.to_owned()
    } else {
        format!("flufl-bounce/{name}")
    };
    let path = format!("{}/tests/data/{relative}", env!("CARGO_MANIFEST_DIR"));
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    assert!(text.contains(original), "{name} names {original}");
    text.replace(original, message_id)
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

fn header<'a>(mail: &'a Received, name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(&mail.data).ok()?;
    let head = text.split("\r\n\r\n").next()?;
    head.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
}

fn message_id(mail: &Received) -> String {
    header(mail, "Message-ID")
        .unwrap()
        .trim_matches(['<', '>'])
        .to_owned()
}

fn return_address_of(mail: &Received) -> String {
    assert!(mail.mail_from.starts_with("r-"), "{}", mail.mail_from);
    assert!(mail.mail_from.ends_with(&format!("@{RETURN_DOMAIN}")));
    mail.mail_from.clone()
}

#[tokio::test]
async fn every_mail_goes_out_from_a_return_address_of_its_own() {
    let r = returns().await;
    let token = r.verify().await;
    let code_mail = to(&r.smtp.received(), CITIZEN).pop().unwrap();
    let (_, first) = r.deliver(&token, false).await;
    let (_, second) = r.deliver(&token, false).await;
    let senders = [
        return_address_of(&code_mail),
        return_address_of(&first),
        return_address_of(&second),
    ];
    assert_ne!(senders[0], senders[1]);
    assert_ne!(senders[1], senders[2]);
    // 26 characters of base32 after `r-`: 130 random bits, nothing derived from the mail.
    let token_part = senders[1]
        .strip_prefix("r-")
        .unwrap()
        .split('@')
        .next()
        .unwrap();
    assert_eq!(token_part.len(), 26);
    // No confirmation asked for: no Disposition-Notification-To.
    assert_eq!(header(&first, "Disposition-Notification-To"), None);
}

/// A raw SMTP conversation: each command and the reply lines it got.
async fn converse(port: u16, commands: &[&str]) -> Vec<String> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut replies = vec![lines.next_line().await.unwrap().unwrap()];
    for command in commands {
        write
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .unwrap();
        loop {
            let line = lines.next_line().await.unwrap().unwrap();
            let last = line.as_bytes().get(3) != Some(&b'-');
            replies.push(line);
            if last {
                break;
            }
        }
    }
    replies
}

#[tokio::test]
async fn the_listener_refuses_every_recipient_but_a_live_return_address() {
    let r = returns().await;
    let token = r.verify().await;
    let (_, mail) = r.deliver(&token, false).await;
    let live = return_address_of(&mail);
    let unknown = format!("r-{}@{RETURN_DOMAIN}", "a".repeat(26));
    let replies = converse(
        r.listener_port,
        &[
            "EHLO mx.authority.example",
            "MAIL FROM:<>",
            &format!("RCPT TO:<{unknown}>"),
            &format!("RCPT TO:<{}>", live.replace(RETURN_DOMAIN, "other.example")),
            "RCPT TO:<postmaster@return.kontakt.example.de>",
            &format!("RCPT TO:<{}>", live.to_uppercase()),
            "QUIT",
        ],
    )
    .await;
    assert!(
        replies[0].starts_with("220 returns.portal.test"),
        "{replies:?}"
    );
    assert!(
        replies.iter().any(|l| l.starts_with("250-SIZE ")),
        "{replies:?}"
    );
    assert!(
        !replies.iter().any(|l| l.contains("STARTTLS")),
        "no TLS configured: {replies:?}"
    );
    let rcpt: Vec<&String> = replies
        .iter()
        .filter(|l| l.contains("5.1.1") || l.contains("2.1.5"))
        .collect();
    assert_eq!(rcpt.len(), 4, "{replies:?}");
    assert!(rcpt[0].starts_with("550 5.1.1"));
    assert!(rcpt[1].starts_with("550 5.1.1"));
    assert!(rcpt[2].starts_with("550 5.1.1"));
    // Mail systems may upper-case a local part; the token is found all the same.
    assert!(rcpt[3].starts_with("250 2.1.5"), "{replies:?}");
    assert!(replies.iter().all(|l| l.is_ascii()));
}

#[tokio::test]
async fn an_exchange_bounce_after_hand_over_fails_the_message_and_tells_the_citizen() {
    let r = returns().await;
    let (accepted, mail) = r.handed_over(false).await;
    assert_eq!(r.status(&accepted).await["state"], "delivered");
    r.report_about(&mail, "dsn_13.txt", EXCHANGE_ORIGINAL).await;

    let status = r.status(&accepted).await;
    assert_eq!(status["state"], "failed_after_handover", "{status}");
    assert_eq!(status["report"]["verified"], false);
    assert!(detail(&status).contains("5.1.1"), "{status}");
    let before = to(&r.smtp.received(), CITIZEN).len();
    r.portal.worker.work(now()).await.unwrap();
    let notices = to(&r.smtp.wait_for_to(CITIZEN, before + 1), CITIZEN);
    let notice = String::from_utf8_lossy(&notices.last().unwrap().data).into_owned();
    assert!(notice.contains("nicht zugestellt"), "{notice}");
    assert!(notice.contains(accepted["receipt"].as_str().unwrap()));

    // The notice's own bounce causes nothing further.
    let notice_mail = notices.last().unwrap();
    r.report_about(notice_mail, "dsn_13.txt", EXCHANGE_ORIGINAL)
        .await;
    let count = to(&r.smtp.received(), CITIZEN).len();
    r.portal.worker.work(now()).await.unwrap();
    assert_eq!(to(&r.smtp.received(), CITIZEN).len(), count);
    let outcomes = r.portal.store.inbound_outcomes().await.unwrap();
    assert!(
        outcomes.contains(&("notice_bounced".into(), 1)),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_plain_text_bounce_counts_by_the_message_id_it_quotes() {
    let r = returns().await;
    let (accepted, mail) = r.handed_over(false).await;
    r.report_about(
        &mail,
        "exim_01.txt",
        "19990920022322.A19735@stereo.rotzorg.org",
    )
    .await;
    let status = r.status(&accepted).await;
    assert_eq!(status["state"], "failed_after_handover", "{status}");
    assert!(
        detail(&status).starts_with("553 5.1.1 unknown or illegal user"),
        "{status}"
    );
}

#[tokio::test]
async fn a_delay_report_only_adds_a_note() {
    let r = returns().await;
    let (accepted, mail) = r.handed_over(false).await;
    r.report_about(
        &mail,
        "dsn_06.txt",
        "j4d77kvs79.fsf@informatik.hu-berlin.de",
    )
    .await;
    let status = r.status(&accepted).await;
    assert_eq!(status["state"], "delayed", "{status}");
    assert!(detail(&status).contains("4.4.0"));
    // Still waiting for a final word: a bounce after the delay still fails it.
    r.report_about(&mail, "dsn_13.txt", EXCHANGE_ORIGINAL).await;
    assert_eq!(r.status(&accepted).await["state"], "failed_after_handover");
}

#[tokio::test]
async fn a_confirmation_of_receipt_asked_for_comes_back_as_an_mdn() {
    let r = returns().await;
    let (accepted, mail) = r.handed_over(true).await;
    let return_address = return_address_of(&mail);
    assert_eq!(
        header(&mail, "Disposition-Notification-To"),
        Some(format!("<{return_address}>").as_str())
    );
    assert_eq!(r.status(&accepted).await["confirmation_requested"], true);
    let mdn = corpus(
        "simple_38.txt",
        "2ee7df1322121930966bcc2318379726@localhost",
        &message_id(&mail),
    );
    r.report(&return_address, &mdn).await;
    let status = r.status(&accepted).await;
    assert_eq!(status["state"], "deleted_unread", "{status}");
    assert_eq!(status["report"]["detail"], "deleted");
}

#[tokio::test]
async fn an_mdn_displayed_shows_as_opened_and_a_later_delay_report_does_not_replace_it() {
    let r = returns().await;
    let (accepted, mail) = r.handed_over(true).await;
    r.report_about(
        &mail,
        "rfc8098/section9-displayed.eml",
        "199509192301.23456@example.org",
    )
    .await;
    let status = r.status(&accepted).await;
    assert_eq!(status["state"], "opened", "{status}");
    assert_eq!(status["report"]["detail"], "displayed");
    r.report_about(
        &mail,
        "dsn_06.txt",
        "j4d77kvs79.fsf@informatik.hu-berlin.de",
    )
    .await;
    assert_eq!(r.status(&accepted).await["state"], "opened");
    let outcomes = r.portal.store.inbound_outcomes().await.unwrap();
    assert!(
        outcomes.contains(&("dropped_stale".into(), 1)),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn reports_to_the_wrong_address_or_about_another_message_change_nothing() {
    let r = returns().await;
    let token = r.verify().await;
    let (first, first_mail) = r.deliver(&token, false).await;
    let (second, second_mail) = r.deliver(&token, false).await;
    // The first message's Message-ID, to the second one's return address.
    r.report(
        &return_address_of(&second_mail),
        &exchange_bounce(&first_mail),
    )
    .await;
    // The right address, another Message-ID.
    r.report(
        &return_address_of(&first_mail),
        &corpus("dsn_13.txt", EXCHANGE_ORIGINAL, "other@portal.example"),
    )
    .await;
    // Reports that name no Message-ID at all.
    for (name, id) in [
        ("simple_42.txt", "E1ipHal"),
        ("microsoft_02.txt", "ball.com"),
    ] {
        r.report(&return_address_of(&first_mail), &corpus(name, id, id))
            .await;
    }
    assert_eq!(r.status(&first).await["state"], "delivered");
    assert_eq!(r.status(&second).await["state"], "delivered");
    let outcomes = r.portal.store.inbound_outcomes().await.unwrap();
    assert_eq!(outcomes, vec![("dropped_unmatched".into(), 4)]);
}

#[tokio::test]
async fn the_form_learns_that_its_code_bounced() {
    let r = returns().await;
    let sent = post_json(
        &r.portal.app,
        "/api/verification/code",
        serde_json::json!({ "form": TRADE, "address": CITIZEN }),
    )
    .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    let delivery = format!(
        "/api/verification/delivery/{}",
        sent.json()["delivery"].as_str().unwrap()
    );
    r.portal.worker.work(now()).await.unwrap();
    assert_eq!(get(&r.portal.app, &delivery).await.json()["bounced"], false);
    let code_mail = to(&r.smtp.wait_for_to(CITIZEN, 1), CITIZEN).pop().unwrap();
    r.report_about(&code_mail, "dsn_13.txt", EXCHANGE_ORIGINAL)
        .await;
    assert_eq!(get(&r.portal.app, &delivery).await.json()["bounced"], true);
    let unknown = get(&r.portal.app, "/api/verification/delivery/nothing").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let outcomes = r.portal.store.inbound_outcomes().await.unwrap();
    assert_eq!(outcomes, vec![("code_bounced".into(), 1)]);
}

/// A self-signed certificate for the listener's STARTTLS, made by openssl.
fn listener_tls(dir: &std::path::Path) -> TlsFiles {
    testkit::openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=returns.portal.test",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ],
    );
    TlsFiles {
        certificate: dir.join("cert.pem"),
        private_key: dir.join("key.pem"),
    }
}

/// The whole way, with a real Postfix as the authority's mail server: it takes the mail
/// (handed over), the next server refuses it (550), and Postfix's own bounce daemon
/// writes the DSN and delivers it to the portal's listener, over STARTTLS.
#[tokio::test]
async fn a_real_postfix_bounce_fails_the_message_after_hand_over() {
    let keys = tempfile::tempdir().unwrap();
    let tls = listener_tls(keys.path());
    let r = returns_with(
        SmtpServer::start(),
        |inbound| inbound.tls = Some(tls),
        |listener, sink| {
            let postfix = Postfix::start("mta.postfix.test", sink, &[(RETURN_DOMAIN, listener)]);
            (postfix.port(), Some(postfix))
        },
    )
    .await;
    let token = r.verify().await;
    r.smtp.set(Behaviour::PermFailRcpt);
    let accepted = r.submit(&token, false).await;
    r.portal.worker.work(now()).await.unwrap();
    assert_eq!(r.status(&accepted).await["state"], "delivered");

    let postfix = r.postfix.as_ref().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        r.reader.read_all(now()).await.unwrap();
        let status = r.status(&accepted).await;
        if status["state"] != "delivered" || std::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        status["state"],
        "failed_after_handover",
        "{status}\n{}",
        postfix.log()
    );
    let detail = detail(&status);
    assert!(detail.starts_with("5.1.1 550 5.1.1"), "{detail}");
    let log = postfix.log();
    assert!(
        log.contains(&format!(
            "TLS connection established to 127.0.0.1[127.0.0.1]:{}",
            r.listener_port
        )),
        "the bounce came over STARTTLS:\n{log}"
    );

    r.smtp.set(Behaviour::Accept);
    let before = to(&r.smtp.received(), CITIZEN).len();
    r.portal.worker.work(now()).await.unwrap();
    let notices = to(&r.smtp.wait_for_to(CITIZEN, before + 1), CITIZEN);
    assert_eq!(notices.len(), before + 1, "{}", postfix.log());
    let notice = String::from_utf8_lossy(&notices.last().unwrap().data).into_owned();
    assert!(notice.contains("nicht zugestellt"), "{notice}");
}

/// Behind Postfix as the MX, as the README describes: Postfix takes mail for the return
/// domain only for recipients the listener takes (address verification over LMTP, so
/// that nothing is accepted that would have to bounce: no backscatter), and hands each
/// mail over LMTP, where the listener answers per recipient.
#[tokio::test]
async fn behind_postfix_as_the_mx_unknown_recipients_are_refused_at_rcpt_and_reports_arrive_over_lmtp()
 {
    let r = returns_with(
        SmtpServer::start(),
        |inbound| inbound.xforward_from = vec!["127.0.0.1".parse().unwrap()],
        |listener, sink| {
            let postfix = Postfix::mx_for("mx.return.test", RETURN_DOMAIN, listener);
            // The portal's own mail goes straight to the sink; Postfix is the way back in.
            let _ = postfix.port();
            (sink, Some(postfix))
        },
    )
    .await;
    let postfix = r.postfix.as_ref().unwrap();
    // The authority's server (as Postfix's client) passes SPF; Postfix itself would not.
    {
        use mail_auth::common::parse::TxtRecordParser;
        let spf = mail_auth::spf::Spf::parse(b"v=spf1 ip4:127.0.0.1 -all").unwrap();
        publish_txt(&r.portal, "mx.lra-musterhausen.example.", spf.into());
    }
    let (accepted, mail) = r.handed_over(false).await;
    let via_postfix = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(postfix.port())
        .hello_name(lettre::transport::smtp::extension::ClientId::Domain(
            "mx.lra-musterhausen.example".into(),
        ))
        .build();
    let unknown = format!("r-{}@{RETURN_DOMAIN}", "b".repeat(26));
    let refused = via_postfix
        .send_raw(
            &Envelope::new(None, vec![unknown.parse().unwrap()]).unwrap(),
            b"Subject: x\r\n\r\nx\r\n",
        )
        .await
        .expect_err("an unknown return address");
    assert!(refused.is_permanent(), "{refused}\n{}", postfix.log());
    assert!(refused.to_string().contains("550"), "{refused}");

    let dsn = exchange_bounce(&mail);
    via_postfix
        .send_raw(
            &Envelope::new(None, vec![return_address_of(&mail).parse().unwrap()]).unwrap(),
            &dsn,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", postfix.log()));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        r.reader.read_all(now()).await.unwrap();
        let status = r.status(&accepted).await;
        if status["state"] != "delivered" || std::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        status["state"],
        "failed_after_handover",
        "{status}\n{}",
        postfix.log()
    );
    let log = postfix.log();
    assert!(
        log.lines().any(|line| line.contains("postfix/lmtp[")
            && line.contains(&format!("relay=127.0.0.1[127.0.0.1]:{}", r.listener_port))
            && line.contains("status=sent (250 2.0.0 OK)")),
        "{log}"
    );
}

/// A DKIM key pair made by openssl: the private key (PKCS#8 PEM) and the DNS record.
fn dkim_key(dir: &std::path::Path) -> (String, String) {
    testkit::openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "dkim.pem",
        ],
    );
    let public = testkit::openssl(
        dir,
        &["pkey", "-in", "dkim.pem", "-pubout", "-outform", "DER"],
    );
    use base64::Engine;
    let record = format!(
        "v=DKIM1; k=rsa; p={}",
        base64::engine::general_purpose::STANDARD.encode(public)
    );
    (
        std::fs::read_to_string(dir.join("dkim.pem")).unwrap(),
        record,
    )
}

/// `mail` with a DKIM signature of `domain` (selector `sel`), made by mail-auth's signer.
fn dkim_signed(mail: &[u8], domain: &str, key_pem: &str) -> Vec<u8> {
    use mail_auth::common::crypto::{RsaKey, Sha256};
    use mail_auth::common::headers::HeaderWriter;
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let key =
        RsaKey::<Sha256>::from_key_der(PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap())
            .unwrap();
    let signature = mail_auth::dkim::DkimSigner::from_key(key)
        .domain(domain)
        .selector("sel")
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(mail)
        .unwrap();
    [signature.to_header().as_bytes(), mail].concat()
}

fn publish_txt(portal: &Portal, name: &str, record: mail_auth::Txt) {
    use mail_auth::ResolverCache;
    let until = std::time::Instant::now() + Duration::from_secs(3600);
    portal.dns.txt.insert(name.into(), record, until);
}

#[tokio::test]
async fn a_report_signed_by_the_authority_s_domain_is_confirmed_and_another_domain_s_is_not() {
    use mail_auth::common::parse::TxtRecordParser;
    use mail_auth::common::verify::DomainKey;
    let r = returns().await;
    let keys = tempfile::tempdir().unwrap();
    let (key, record) = dkim_key(keys.path());
    for domain in ["lra-musterhausen.example", "elsewhere.example"] {
        publish_txt(
            &r.portal,
            &format!("sel._domainkey.{domain}."),
            DomainKey::parse(record.as_bytes()).unwrap().into(),
        );
    }
    let token = r.verify().await;
    let (theirs, theirs_mail) = r.deliver(&token, false).await;
    let dsn = exchange_bounce(&theirs_mail);
    r.report(
        &return_address_of(&theirs_mail),
        &dkim_signed(&dsn, "lra-musterhausen.example", &key),
    )
    .await;
    let status = r.status(&theirs).await;
    assert_eq!(status["state"], "failed_after_handover", "{status}");
    assert_eq!(status["report"]["verified"], true, "{status}");

    let (other, other_mail) = r.deliver(&token, false).await;
    let dsn = exchange_bounce(&other_mail);
    r.report(
        &return_address_of(&other_mail),
        &dkim_signed(&dsn, "elsewhere.example", &key),
    )
    .await;
    let status = r.status(&other).await;
    assert_eq!(status["state"], "failed_after_handover", "{status}");
    assert_eq!(
        status["report"]["verified"], false,
        "a valid signature, the wrong domain: {status}"
    );

    // A signature that no longer matches what was signed.
    let (tampered, tampered_mail) = r.deliver(&token, false).await;
    let dsn = exchange_bounce(&tampered_mail);
    let signed = String::from_utf8(dkim_signed(&dsn, "lra-musterhausen.example", &key)).unwrap();
    let forged = signed.replace(
        "Delivery Status Notification (Failure)",
        "Delivery Status Notification (Faked)",
    );
    assert_ne!(forged, signed);
    r.report(&return_address_of(&tampered_mail), forged.as_bytes())
        .await;
    assert_eq!(r.status(&tampered).await["report"]["verified"], false);
}

#[tokio::test]
async fn a_bounce_whose_helo_passes_spf_for_the_authority_s_domain_is_confirmed() {
    use mail_auth::common::parse::TxtRecordParser;
    use mail_auth::spf::Spf;
    let r = returns().await;
    for name in ["mx.lra-musterhausen.example.", "mx.elsewhere.example."] {
        publish_txt(
            &r.portal,
            name,
            Spf::parse(b"v=spf1 ip4:127.0.0.1 -all").unwrap().into(),
        );
    }
    let token = r.verify().await;
    let (aligned, aligned_mail) = r.deliver(&token, false).await;
    let dsn = exchange_bounce(&aligned_mail);
    r.report_from(
        "mx.lra-musterhausen.example",
        &return_address_of(&aligned_mail),
        &dsn,
    )
    .await;
    assert_eq!(r.status(&aligned).await["report"]["verified"], true);

    let (unaligned, unaligned_mail) = r.deliver(&token, false).await;
    let dsn = exchange_bounce(&unaligned_mail);
    r.report_from(
        "mx.elsewhere.example",
        &return_address_of(&unaligned_mail),
        &dsn,
    )
    .await;
    let status = r.status(&unaligned).await;
    assert_eq!(status["state"], "failed_after_handover");
    assert_eq!(
        status["report"]["verified"], false,
        "SPF passes, for another domain: {status}"
    );
}

/// Reads what the listener sends within `wait`: its lines, and whether it closed.
async fn lines_within(read: &mut tokio::net::tcp::OwnedReadHalf, wait: Duration) -> (String, bool) {
    use tokio::io::AsyncReadExt;
    let mut text = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, read.read(&mut buffer)).await {
            Err(_) => return (String::from_utf8_lossy(&text).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&text).into_owned(), true),
            Ok(Ok(n)) => text.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test]
async fn the_listener_keeps_its_limits_silent_clients_oversized_mail_pipelining_before_starttls() {
    let keys = tempfile::tempdir().unwrap();
    let tls = listener_tls(keys.path());
    let r = returns_with(
        SmtpServer::start(),
        |inbound| {
            inbound.tls = Some(tls);
            inbound.idle_seconds = 1;
            inbound.max_message_bytes = 10_000;
        },
        |_, sink| (sink, None),
    )
    .await;
    let (accepted, mail) = r.handed_over(false).await;
    let connect = || async {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", r.listener_port))
            .await
            .unwrap();
        stream.into_split()
    };

    // Silent after the greeting: closed once the idle time is over.
    let (mut read, _write) = connect().await;
    let (greeting, closed) = lines_within(&mut read, Duration::from_millis(2500)).await;
    assert!(greeting.starts_with("220 "), "{greeting}");
    assert!(closed, "a silent client stays connected");

    // A declared size over the limit is refused at MAIL; a mail over it after its DATA,
    // and nothing of it is taken.
    let (mut read, mut write) = connect().await;
    let big = exchange_bounce(&mail).repeat(3);
    assert!(big.len() > 10_000);
    write
        .write_all(
            format!(
                "EHLO mx.authority.example\r\nMAIL FROM:<> SIZE=20000\r\nRSET\r\nMAIL FROM:<>\r\n\
                 RCPT TO:<{}>\r\nDATA\r\n",
                return_address_of(&mail)
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (answers, _) = lines_within(&mut read, Duration::from_millis(500)).await;
    assert!(answers.contains("250-SIZE 10000\r\n"), "{answers}");
    assert!(answers.contains("552 5.3.4"), "{answers}");
    assert!(answers.contains("354 "), "{answers}");
    write.write_all(&big).await.unwrap();
    write.write_all(b".\r\nQUIT\r\n").await.unwrap();
    let (answers, _) = lines_within(&mut read, Duration::from_millis(500)).await;
    assert!(answers.starts_with("552 5.3.4"), "{answers}");
    assert!(answers.contains("221 "), "pipelined after DATA: {answers}");
    r.reader.read_all(now()).await.unwrap();
    assert_eq!(r.status(&accepted).await["state"], "delivered");

    // Commands sent in the clear right behind STARTTLS are never answered: they would
    // pass as if they had come over TLS (CVE-2011-0411).
    let (mut read, mut write) = connect().await;
    write
        .write_all(b"EHLO mx.authority.example\r\nSTARTTLS\r\nMAIL FROM:<>\r\n")
        .await
        .unwrap();
    let (answers, _) = lines_within(&mut read, Duration::from_millis(500)).await;
    assert!(answers.contains("250-STARTTLS\r\n"), "{answers}");
    assert!(
        answers.ends_with("220 2.0.0 Ready to start TLS\r\n"),
        "{answers}"
    );
    assert!(!answers.contains("2.1.0"), "{answers}");
}

#[tokio::test]
async fn mails_per_client_are_limited_and_connections_beyond_the_cap_turned_away() {
    let r = returns_with(
        SmtpServer::start(),
        |inbound| {
            inbound.messages = postsiegel_server::relay::limits::Limit {
                burst: 2,
                period_ms: 60_000,
            };
            inbound.max_connections = 1;
        },
        |_, sink| (sink, None),
    )
    .await;
    let replies = converse(
        r.listener_port,
        &[
            "EHLO mx.authority.example",
            "MAIL FROM:<>",
            "RSET",
            "MAIL FROM:<>",
            "RSET",
            "MAIL FROM:<>",
        ],
    )
    .await;
    let mail: Vec<&String> = replies
        .iter()
        .filter(|l| l.contains(".7.0") || l.contains("2.1.0"))
        .collect();
    assert_eq!(mail.len(), 3, "{replies:?}");
    assert!(mail[0].starts_with("250 2.1.0") && mail[1].starts_with("250 2.1.0"));
    assert!(mail[2].starts_with("450 4.7.0"), "{replies:?}");

    // One connection at a time: a second one is told so and closed. (The conversation
    // above ends as its socket closes; until then a first one may be turned away too.)
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let _first = loop {
        let (mut first, keep) = tokio::net::TcpStream::connect(("127.0.0.1", r.listener_port))
            .await
            .unwrap()
            .into_split();
        let (greeting, _) = lines_within(&mut first, Duration::from_millis(300)).await;
        if greeting.starts_with("220 ") {
            break (first, keep);
        }
        assert!(std::time::Instant::now() < deadline, "{greeting}");
    };
    let (mut second, _keep2) = tokio::net::TcpStream::connect(("127.0.0.1", r.listener_port))
        .await
        .unwrap()
        .into_split();
    let (answer, closed) = lines_within(&mut second, Duration::from_millis(1000)).await;
    assert!(answer.starts_with("421 4.3.2"), "{answer}");
    assert!(closed);
}
