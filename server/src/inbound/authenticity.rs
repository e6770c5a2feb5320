//! Whether a report's sender is who it should be: a DKIM signature that passes with a
//! signing domain aligned with the expected one, or SPF passing for the SMTP client with
//! an aligned identity (the MAIL FROM, or for a bounce's null sender the HELO name). The
//! expected domains are the authority mailbox's, and for bounces also the mail server's
//! the portal handed the mail to. mail-auth does the DKIM and SPF; alignment is relaxed
//! (RFC 7489 §3.1: one domain below or equal to the other, as far as it can be said
//! without a public suffix list: never a bare top-level domain).
//!
//! DNS answers are kept in [`Dns`], the caches mail-auth asks first, for their time to
//! live. That is all the caching the server does, and the way tests give fixed answers.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, DkimResult, MX, MessageAuthenticator, Parameters, RecordSet,
    ResolverCache, SpfResult, Txt,
};

/// A DNS cache as mail-auth uses it: an answer is kept until it expires.
pub struct DnsCache<K, V>(Mutex<HashMap<K, (V, Instant)>>);

impl<K, V> Default for DnsCache<K, V> {
    fn default() -> Self {
        DnsCache(Mutex::new(HashMap::new()))
    }
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for DnsCache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.0.lock().expect("no panic while held");
        map.get(name)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(value, _)| value.clone())
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.0.lock().expect("no panic while held");
        map.remove(name).map(|(value, _)| value)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        let mut map = self.0.lock().expect("no panic while held");
        // Bounded: reports are few; an attacker's flood of names must not fill memory.
        if map.len() >= 10_000 {
            let now = Instant::now();
            map.retain(|_, (_, until)| *until > now);
            if map.len() >= 10_000 {
                map.clear();
            }
        }
        map.insert(key, (value, valid_until));
    }
}

/// The DNS answers the checks use, by record type (names as FQDNs, with the final dot).
#[derive(Default)]
pub struct Dns {
    pub txt: DnsCache<Box<str>, Txt>,
    pub mx: DnsCache<Box<str>, RecordSet<MX>>,
    pub ipv4: DnsCache<Box<str>, RecordSet<Ipv4Addr>>,
    pub ipv6: DnsCache<Box<str>, RecordSet<Ipv6Addr>>,
    pub ptr: DnsCache<IpAddr, RecordSet<Box<str>>>,
}

/// mail-auth's parameters for one check, with these caches.
type Cached<'a, P> = Parameters<
    'a,
    P,
    DnsCache<Box<str>, Txt>,
    DnsCache<Box<str>, RecordSet<MX>>,
    DnsCache<Box<str>, RecordSet<Ipv4Addr>>,
    DnsCache<Box<str>, RecordSet<Ipv6Addr>>,
    DnsCache<IpAddr, RecordSet<Box<str>>>,
>;

impl Dns {
    /// `params` for a check that asks these caches first.
    fn around<P>(&self, params: P) -> Cached<'_, P> {
        Parameters::new(params)
            .with_txt_cache(&self.txt)
            .with_mx_cache(&self.mx)
            .with_ipv4_cache(&self.ipv4)
            .with_ipv6_cache(&self.ipv6)
            .with_ptr_cache(&self.ptr)
    }
}

/// The SMTP facts of a received mail that SPF judges.
pub struct Envelope<'a> {
    pub client_ip: IpAddr,
    pub helo: &'a str,
    /// Empty for the null sender.
    pub mail_from: &'a str,
}

pub struct Authenticity {
    authenticator: MessageAuthenticator,
    dns: Arc<Dns>,
    /// The listener's own name (SPF's `host_domain`).
    hostname: String,
}

impl Authenticity {
    /// Checks with the system's resolver (`/etc/resolv.conf`) and the answers in `dns`.
    pub fn new(hostname: &str, dns: Arc<Dns>) -> Result<Authenticity, String> {
        Ok(Authenticity {
            authenticator: MessageAuthenticator::new_system_conf().map_err(|e| e.to_string())?,
            dns,
            hostname: hostname.to_owned(),
        })
    }

    /// Whether DKIM or SPF vouches for the mail as coming from one of `domains`.
    pub async fn vouches(&self, raw: &[u8], envelope: &Envelope<'_>, domains: &[&str]) -> bool {
        self.dkim_aligned(raw, domains).await || self.spf_aligned(envelope, domains).await
    }

    async fn dkim_aligned(&self, raw: &[u8], domains: &[&str]) -> bool {
        let Some(message) = AuthenticatedMessage::parse(raw) else {
            return false;
        };
        let outputs = self
            .authenticator
            .verify_dkim(self.dns.around(&message))
            .await;
        outputs.iter().any(|output| {
            output.result() == &DkimResult::Pass
                && output
                    .signature()
                    .is_some_and(|s| domains.iter().any(|d| aligned(&s.d, d)))
        })
    }

    async fn spf_aligned(&self, envelope: &Envelope<'_>, domains: &[&str]) -> bool {
        let helo = envelope.helo.trim_end_matches('.');
        let parameters = if envelope.mail_from.is_empty() {
            // A bounce comes from the null sender: SPF judges the HELO name (RFC 7208 §2.3).
            SpfParameters::verify_ehlo(envelope.client_ip, helo, &self.hostname)
        } else {
            SpfParameters::verify_mail_from(
                envelope.client_ip,
                helo,
                &self.hostname,
                envelope.mail_from,
            )
        };
        let output = self
            .authenticator
            .verify_spf(self.dns.around(parameters))
            .await;
        output.result() == SpfResult::Pass && domains.iter().any(|d| aligned(output.domain(), d))
    }
}

/// Relaxed alignment: one domain equal to the other or below it, the shorter one having at
/// least two labels (`example.de`, never `de`).
pub fn aligned(a: &str, b: &str) -> bool {
    let a = a.trim_end_matches('.').to_ascii_lowercase();
    let b = b.trim_end_matches('.').to_ascii_lowercase();
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.contains('.') && (long == short || long.ends_with(&format!(".{short}")))
}

#[cfg(test)]
mod tests {
    use super::aligned;

    #[test]
    fn alignment_is_relaxed_but_never_a_top_level_domain() {
        assert!(aligned(
            "lra-musterhausen.example",
            "LRA-Musterhausen.example."
        ));
        assert!(aligned(
            "mail.lra-musterhausen.example",
            "lra-musterhausen.example"
        ));
        assert!(aligned(
            "lra-musterhausen.example",
            "mx1.lra-musterhausen.example"
        ));
        assert!(!aligned("example", "lra-musterhausen.example"));
        assert!(!aligned(
            "evil-lra-musterhausen.example",
            "lra-musterhausen.example"
        ));
        assert!(!aligned("other.example", "lra-musterhausen.example"));
    }
}
