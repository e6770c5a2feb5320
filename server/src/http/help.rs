//! `/antworten`: the page the portal's refusal of an unencrypted answer names, for the
//! authority's staff. Rendered here as plain HTML in German and English, without the app:
//! an office browser that blocks WebAssembly still shows it, and it costs the citizen's
//! form nothing in download size. It gives what trusting the answers CA once needs (the
//! certificate, the fingerprint to compare, the CRL) and how to answer per mail program.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use wire::AnswersInfo;

use super::api::ApiState;
use super::web::Frontend;

/// One language's words; `{domain}` and `{days}` are filled in.
struct Words {
    lang: &'static str,
    title: &'static str,
    intro: &'static str,
    days: &'static str,
    trust: &'static str,
    download: &'static str,
    fingerprint: &'static str,
    reply: &'static str,
    refused: &'static str,
    clients: &'static str,
    thunderbird: &'static str,
    outlook: &'static str,
    kmail: &'static str,
    crl: &'static str,
    not_offered: &'static str,
}

const GERMAN: Words = Words {
    lang: "de",
    title: "Antworten auf Nachrichten aus dem Kontaktformular",
    intro: "Diese Seite ist für Beschäftigte von Behörden. Nachrichten aus diesem Portal, auf \
            die Sie antworten können, kommen von einer Adresse antwort-…@{domain} und sind \
            mit ihr signiert. Antworten Sie mit der Schaltfläche „Antworten“ Ihres \
            Mailprogramms, verschlüsselt mit S/MIME: Das Zertifikat der Bürgerin oder des \
            Bürgers steckt in der Signatur der Nachricht.",
    days: "Ein Gespräch bleibt {days} Tage nach der ersten Nachricht offen.",
    trust: "Einmal im Voraus: Vertrauen Sie der Antwort-Zertifizierungsstelle des Portals. \
            Laden Sie ihr Zertifikat herunter und vergleichen Sie den Fingerabdruck mit dem, \
            den Ihre IT auf anderem Weg (Brief, Intranet) vom Betreiber des Portals erhalten \
            hat.",
    download: "Zertifikat der Antwort-Zertifizierungsstelle herunterladen (PEM)",
    fingerprint: "SHA-256-Fingerabdruck",
    reply: "Öffnen Sie die Nachricht, wählen Sie „Antworten“, schalten Sie die \
            Verschlüsselung (S/MIME) ein und senden Sie.",
    refused: "Unverschlüsselte Antworten nimmt das Portal nicht an; Ihr Mailserver meldet \
              Ihnen das mit „550 5.7.1“. Senden Sie die Antwort dann verschlüsselt noch einmal.",
    clients: "In Ihrem Mailprogramm",
    thunderbird: "Thunderbird: Einstellungen → Datenschutz & Sicherheit → Zertifikate \
                  verwalten → Zertifizierungsstellen → Importieren, dann „Dieser \
                  Zertifizierungsstelle vertrauen, um E-Mail-Nutzer zu identifizieren“ \
                  ankreuzen. Beim Antworten: Sicherheit → Verschlüsseln.",
    outlook: "Outlook: Die Zertifikatsdatei öffnen → Zertifikat installieren → \
              Vertrauenswürdige Stammzertifizierungsstellen. Beim Antworten: Optionen → \
              Verschlüsseln → Mit S/MIME verschlüsseln.",
    kmail: "KMail und Kleopatra (gpgsm): Das Zertifikat in Kleopatra importieren und als \
            Wurzelzertifikat beglaubigen. Beim Antworten die Verschlüsselung einschalten. \
            gpgsm prüft die Sperrliste; sie muss aus Ihrem Netz erreichbar sein:",
    crl: "Sperrliste (CRL)",
    not_offered: "Dieses Portal nimmt keine Antworten an. Antworten Sie der Bürgerin oder dem \
                  Bürger auf dem Weg, den die Nachricht nennt.",
};

const ENGLISH: Words = Words {
    lang: "en",
    title: "Answering messages from the contact form",
    intro: "This page is for the staff of authorities. Messages from this portal that you can \
            answer come from an address antwort-…@{domain} and are signed with it. Answer \
            with your mail program's Reply button, encrypted with S/MIME: the citizen's \
            certificate is in the message's signature.",
    days: "A conversation stays open for {days} days after the first message.",
    trust: "Once, beforehand: trust the portal's answers certificate authority. Download its \
            certificate and compare the fingerprint with the one your IT department received \
            from the portal's operator by another way (a letter, the intranet).",
    download: "Download the answers certificate authority's certificate (PEM)",
    fingerprint: "SHA-256 fingerprint",
    reply: "Open the message, choose Reply, turn on encryption (S/MIME) and send.",
    refused: "The portal does not take unencrypted answers; your mail server tells you so \
              with \"550 5.7.1\". Then send the answer again, encrypted.",
    clients: "In your mail program",
    thunderbird: "Thunderbird: Settings → Privacy & Security → Manage Certificates → \
                  Authorities → Import, then tick \"Trust this CA to identify email users\". \
                  When replying: Security → Encrypt.",
    outlook: "Outlook: open the certificate file → Install Certificate → Trusted Root \
              Certification Authorities. When replying: Options → Encrypt → Encrypt with \
              S/MIME.",
    kmail: "KMail and Kleopatra (gpgsm): import the certificate in Kleopatra and certify it as \
            a root certificate. Turn on encryption when replying. gpgsm checks the revocation \
            list; it must be reachable from your network:",
    crl: "Revocation list (CRL)",
    not_offered: "This portal takes no answers. Answer the citizen the way their message names.",
};

/// The page, German first, English below it.
pub(super) async fn answers_help(
    State((frontend, api)): State<(Arc<Frontend>, ApiState)>,
) -> Response {
    let info = api
        .relay
        .as_ref()
        .and_then(|relay| relay.answers_info().ok());
    let body = [&GERMAN, &ENGLISH]
        .iter()
        .map(|words| section(words, info.as_ref()))
        .collect::<String>();
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"de\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} – Postsiegel</title>\n{stylesheet}\n</head>\n<body>\n\
         <header class=\"site-header\"><p class=\"brand\">Postsiegel</p>\
         <div class=\"options\"><a class=\"option\" href=\"#en\" lang=\"en\" hreflang=\"en\">English</a></div></header>\n\
         <main id=\"main\" class=\"page help\">\n{body}</main>\n</body>\n</html>\n",
        title = GERMAN.title,
        stylesheet = frontend.stylesheet_link(),
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// One language's part: the steps, or that the portal takes no answers.
fn section(words: &Words, info: Option<&AnswersInfo>) -> String {
    // German first, under the page's one h1; English a level below.
    let (heading, subheading) = if words.lang == "de" {
        ("h1", "h2")
    } else {
        ("h2", "h3")
    };
    let mut out = format!(
        "<section lang=\"{lang}\" id=\"{lang}\" aria-labelledby=\"{lang}-title\">\n\
         <{heading} id=\"{lang}-title\">{title}</{heading}>\n",
        lang = words.lang,
        title = escape(words.title),
    );
    let Some(info) = info else {
        out.push_str(&format!(
            "<p>{}</p>\n</section>\n",
            escape(words.not_offered)
        ));
        return out;
    };
    let fill = |text: &str| {
        escape(text)
            .replace("{domain}", &escape(&info.domain))
            .replace("{days}", &info.conversation_days.to_string())
    };
    out.push_str(&format!(
        "<p>{intro}</p>\n<p>{days}</p>\n<ol class=\"help-steps\">\n\
         <li><p>{trust}</p>\n\
         <p><a href=\"{ca}\" download=\"postsiegel-antwort-ca.pem\">{download}</a></p>\n\
         <p>{fingerprint_label}: <code class=\"fingerprint\" translate=\"no\">{fingerprint}</code></p></li>\n\
         <li>{reply}</li>\n<li>{refused}</li>\n</ol>\n\
         <{subheading}>{clients}</{subheading}>\n<ul class=\"help-clients\">\n<li>{thunderbird}</li>\n\
         <li>{outlook}</li>\n<li>{kmail} <a href=\"{crl_url}\">{crl}</a></li>\n</ul>\n</section>\n",
        intro = fill(words.intro),
        days = fill(words.days),
        trust = escape(words.trust),
        ca = escape(&info.ca_certificate_url),
        download = escape(words.download),
        fingerprint_label = escape(words.fingerprint),
        fingerprint = escape(&info.fingerprint_sha256),
        reply = escape(words.reply),
        refused = escape(words.refused),
        clients = escape(words.clients),
        thunderbird = escape(words.thunderbird),
        outlook = escape(words.outlook),
        kmail = escape(words.kmail),
        crl_url = escape(&info.crl_url),
        crl = escape(words.crl),
    ));
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
