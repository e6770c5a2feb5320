//! Every mail the portal writes itself, word for word: verification codes, receipts and
//! failure notices for citizens, expiry warnings for authorities, notices for the operator.
//! One place, so that the wording (German first, English after) stays consistent and no
//! notice says more than it must: none names the authority a citizen writes to, as a
//! shared mailbox should not reveal it, and none carries anything the citizen typed.

use crate::store::OutboxMail;

fn mail(id: String, recipient: &str, subject: impl Into<String>, body: String) -> OutboxMail {
    OutboxMail {
        id,
        recipient: recipient.to_owned(),
        subject: subject.into(),
        body,
    }
}

/// The code that confirms a citizen's address. `id` is the code's record.
pub fn verification_code(id: &str, address: &str, code: &str) -> OutboxMail {
    mail(
        format!("code:{id}"),
        address,
        format!("Ihr Bestätigungscode: {code}"),
        format!(
            "Ihr Bestätigungscode für das sichere Kontaktformular lautet:\n\n    {code}\n\n\
             Er gilt 10 Minuten. Geben Sie ihn im Formular ein, um Ihre E-Mail-Adresse \
             {address} zu bestätigen.\n\nWenn Sie keinen Code angefordert haben, \
             ignorieren Sie diese Nachricht.\n\n---\n\nYour confirmation code for the \
             secure contact form is {code}. It is valid for 10 minutes.\n",
        ),
    )
}

/// The citizen's receipt for an accepted message.
pub fn receipt(receipt: &str, status_url: &str, address: &str) -> OutboxMail {
    mail(
        format!("receipt:{receipt}"),
        address,
        format!("Eingangsbestätigung {receipt}"),
        format!(
            "Ihre verschlüsselte Nachricht ist bei uns eingegangen.\n\n\
             Eingangsnummer: {receipt}\n\
             Stand der Zustellung: {status_url}\n\n\
             Wir leiten sie an das Postfach der Behörde weiter. Wenn das nicht gelingt, \
             erhalten Sie eine weitere Nachricht.\n\n---\n\n\
             Your encrypted message has been received. Receipt number: {receipt}. \
             Delivery status: {status_url}\n",
        ),
    )
}

/// Tells the citizen that an answer to their message arrived: nothing of the answer, nor
/// who wrote it. `id` is the answer's record.
pub fn answer_arrived(id: &str, receipt: &str, status_url: &str, address: &str) -> OutboxMail {
    mail(
        format!("answer:{id}"),
        address,
        format!("Antwort auf Ihre Nachricht {receipt}"),
        format!(
            "Auf Ihre Nachricht {receipt} ist eine verschlüsselte Antwort eingegangen.\n\n\
             Stand Ihrer Nachricht: {status_url}\n\n---\n\n\
             An encrypted answer to your message {receipt} has arrived. \
             Status of your message: {status_url}\n",
        ),
    )
}

/// Reminds the citizen that unread answers to their message will be deleted on `date`.
pub fn answers_expire(
    alias: &str,
    receipt: &str,
    status_url: &str,
    date: &str,
    address: &str,
) -> OutboxMail {
    mail(
        format!("reminder:{alias}"),
        address,
        format!("Ungelesene Antwort auf Ihre Nachricht {receipt}"),
        format!(
            "Auf Ihre Nachricht {receipt} ist eine verschlüsselte Antwort eingegangen, die Sie \
             noch nicht geöffnet haben. Sie wird am {date} gelöscht.\n\n\
             Stand Ihrer Nachricht: {status_url}\n\n---\n\n\
             An encrypted answer to your message {receipt} has not been opened yet. It will be \
             deleted on {date}. Status of your message: {status_url}\n",
        ),
    )
}

/// Tells the citizen that their message failed for good.
pub fn delivery_failed(receipt: &str, address: &str) -> OutboxMail {
    mail(
        format!("failure:{receipt}"),
        address,
        format!("Nachricht {receipt} nicht zugestellt"),
        format!(
            "Ihre verschlüsselte Nachricht mit der Eingangsnummer {receipt} konnte dem \
             Postfach der Behörde nicht zugestellt werden. Sie wurde gelöscht und nicht \
             gelesen.\n\nBitte senden Sie sie erneut über das Kontaktformular, oder \
             wenden Sie sich auf anderem Weg an die Behörde (Telefon, Post).\n\n---\n\n\
             Your encrypted message {receipt} could not be delivered to the authority's \
             mailbox. It has been deleted unread. Please send it again through the \
             contact form, or reach the authority another way (telephone, post).\n",
        ),
    )
}

/// Tells the citizen that their message, already handed over, was reported undeliverable
/// by a server further on.
pub fn bounced(receipt: &str, address: &str) -> OutboxMail {
    mail(
        format!("bounce:{receipt}"),
        address,
        format!("Nachricht {receipt} nicht zugestellt"),
        format!(
            "Ihre verschlüsselte Nachricht mit der Eingangsnummer {receipt} wurde an den \
             Mailserver der Behörde übergeben, dort aber nicht zugestellt: ein Mailserver \
             hat sie zurückgewiesen. Die Behörde hat sie also nicht erhalten.\n\n\
             Bitte senden Sie sie erneut über das Kontaktformular, oder wenden Sie sich \
             auf anderem Weg an die Behörde (Telefon, Post). Den Grund finden Sie auf der \
             Statusseite Ihrer Nachricht.\n\n---\n\n\
             Your encrypted message {receipt} was handed to the authority's mail server but \
             was then refused by a mail server on the way: the authority has not received \
             it. Please send it again through the contact form, or reach the authority \
             another way (telephone, post). The status page of your message names the \
             reason.\n",
        ),
    )
}

/// What an expiry warning names.
pub struct Expiring<'a> {
    pub mailbox: &'a str,
    /// The warning's threshold in days (60, 30 or 7): each is sent once.
    pub threshold: u64,
    pub days_left: u64,
    /// The end of validity, as people read it.
    pub end: &'a str,
    pub fingerprint: &'a str,
}

/// Warns a mailbox that its encryption certificate, and with it the form, runs out.
pub fn certificate_expiring(expiring: &Expiring) -> OutboxMail {
    let Expiring {
        mailbox,
        threshold,
        days_left,
        end,
        fingerprint,
    } = expiring;
    mail(
        format!("expiry-warning:{threshold}:{mailbox}:{fingerprint}"),
        mailbox,
        format!(
            "Ihr Verschlüsselungszertifikat läuft in {days_left} Tagen ab (sicheres Kontaktformular)"
        ),
        format!(
            "Guten Tag,\r\n\r\n\
             das Verschlüsselungszertifikat für {mailbox} läuft am {end} ab.\r\n\
             Danach bietet das sichere Kontaktformular kein Formular mehr an, das an\r\n\
             dieses Postfach zustellt, bis ein neues Zertifikat hinterlegt ist.\r\n\r\n\
             Bitte beantragen Sie rechtzeitig ein neues Zertifikat bei Ihrer\r\n\
             Registrierungsstelle und veröffentlichen Sie es im Verzeichnisdienst.\r\n\r\n\
             Fingerabdruck (SHA-256): {fingerprint}\r\n",
        ),
    )
}

/// Tells the operator that a certificate has no current revocation list, once a day.
pub fn revocation_unknown(
    operator: &str,
    fingerprint: &str,
    mailbox: &str,
    issuer: &str,
    day: u64,
) -> OutboxMail {
    mail(
        format!("revocation-unknown:{fingerprint}:{day}"),
        operator,
        "Postsiegel: Sperrliste nicht aktuell / revocation list out of date",
        format!(
            "Für das Zertifikat {fingerprint} des Postfachs {mailbox} liegt keine aktuelle \
             Sperrliste vor (Aussteller: {issuer}). Formulare, die an dieses Postfach \
             liefern, werden nicht angeboten, bis eine aktuelle Sperrliste \
             vorliegt.\n\nThere is no current revocation list for certificate \
             {fingerprint} of mailbox {mailbox}; forms delivering there are not offered \
             until one is available.\n",
        ),
    )
}
