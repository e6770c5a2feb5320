//! Expiry care: certificates run out after three years, and with them the form. Mailboxes
//! are warned 60, 30 and 7 days ahead, once each, through the outbox.

use smime::certificate::{format_time, not_after};

use crate::model::StoredCertificate;
use crate::notices;
use crate::store::OutboxMail;

/// Days before expiry at which a mailbox is warned.
pub const WARNING_DAYS: [u64; 3] = [60, 30, 7];
const DAY: u64 = 86_400;

/// The certificates that expire within `days` of `now` (and have not yet), soonest first.
pub fn expiring(
    certificates: &[StoredCertificate],
    now: u64,
    days: u64,
) -> Vec<&StoredCertificate> {
    let mut soon: Vec<&StoredCertificate> = certificates
        .iter()
        .filter(|c| {
            let end = not_after(&c.certificate);
            end >= now && end - now <= days * DAY
        })
        .collect();
    soon.sort_by_key(|c| not_after(&c.certificate));
    soon
}

/// The warning due now for each certificate: the most urgent threshold it has reached
/// (10 days left: the 30-day warning; the 60-day one is past its use). Its id makes the
/// outbox record it once.
pub fn due_warnings(certificates: &[StoredCertificate], now: u64) -> Vec<OutboxMail> {
    expiring(certificates, now, WARNING_DAYS[0])
        .into_iter()
        .filter_map(|c| {
            let left = (not_after(&c.certificate) - now) / DAY;
            let threshold = WARNING_DAYS.iter().rev().find(|&&t| left < t)?;
            let fingerprint = smime::certificate::fingerprint_hex(
                &smime::certificate::fingerprint_sha256(&c.certificate),
            );
            Some(notices::certificate_expiring(&notices::Expiring {
                mailbox: &c.mailbox,
                threshold: *threshold,
                days_left: left,
                end: &format_time(not_after(&c.certificate)),
                fingerprint: &fingerprint,
            }))
        })
        .collect()
}
