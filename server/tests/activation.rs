//! Every activation rule, with certificates made by the openssl command line.

use postsiegel_server::directory::activation::{
    Checks, Unavailable, ViaAuthority, authority_form, unit_form,
};
use postsiegel_server::directory::pki::{MailboxCertificate, Revocation};
use postsiegel_server::model::{Authority, FormPolicy, Imprint, Unit, UnitKind};
use testkit::{Issued, Leaf, Pki, unix};

const CENTRAL: &str = "poststelle@lra-test.example";
const TRADE: &str = "gewerbeamt@lra-test.example";

fn authority(units: Vec<Unit>) -> Authority {
    Authority {
        slug: "landratsamt-test".into(),
        name: "Landratsamt Test".into(),
        street: "Marktplatz 1".into(),
        postal_code: "12345".into(),
        place: "Teststadt".into(),
        website: Some("https://www.lra-test.example".into()),
        phone: Some("+49 1234 56-0".into()),
        central_mailbox: Some(CENTRAL.into()),
        imprint: Imprint {
            representative: Some("Landrätin Dr. Erika Beispiel".into()),
            content_responsible: Some("Max Mustermann, Pressestelle".into()),
            data_protection_officer: Some("datenschutz@lra-test.example".into()),
            vat_id: None,
        },
        activated: true,
        policy: FormPolicy::default(),
        units,
    }
}

fn unit(slug: &str, mailbox: Option<&str>) -> Unit {
    Unit {
        slug: slug.into(),
        name: format!("Amt {slug}"),
        kind: UnitKind::TradeOffice,
        mailbox: mailbox.map(Into::into),
        phone: None,
    }
}

fn entry(mailbox: &str, issued: &Issued, revocation: Revocation) -> MailboxCertificate {
    MailboxCertificate {
        mailbox: mailbox.into(),
        certificate: issued.certificate.clone(),
        revocation,
    }
}

struct Fixture {
    pki: Pki,
    central: Issued,
    renewed: Issued,
    expired: Issued,
    trade: Issued,
    trade_expired: Issued,
    untrusted: Issued,
}

fn fixture() -> Fixture {
    let pki = Pki::new();
    let central = pki.issue(&Leaf::good("central", CENTRAL));
    let renewed = pki.issue(&Leaf {
        not_before: "20260601000000Z",
        not_after: "20290601000000Z",
        ..Leaf::good("renewed", CENTRAL)
    });
    let expired = pki.issue(&Leaf {
        not_before: "20200101000000Z",
        not_after: "20230101000000Z",
        ..Leaf::good("expired", CENTRAL)
    });
    let trade = pki.issue(&Leaf::good("trade", TRADE));
    let trade_expired = pki.issue(&Leaf {
        not_before: "20200101000000Z",
        not_after: "20230101000000Z",
        ..Leaf::good("trade-expired", TRADE)
    });
    let untrusted = pki.issue(&Leaf {
        issuer: testkit::Issuer::Stranger,
        ..Leaf::good("untrusted", CENTRAL)
    });
    Fixture {
        pki,
        central,
        renewed,
        expired,
        trade,
        trade_expired,
        untrusted,
    }
}

fn checks<'a>(f: &'a Fixture, certificates: &'a [MailboxCertificate]) -> Checks<'a> {
    Checks::new(
        unix("2026-11-27"),
        &f.pki.anchors,
        &f.pki.intermediates,
        certificates,
    )
}

fn codes(reasons: &[Unavailable]) -> Vec<&'static str> {
    reasons.iter().map(Unavailable::code).collect()
}

#[test]
fn an_authority_form_needs_activation_imprint_mailbox_and_a_passing_certificate() {
    let f = fixture();
    let good = [entry(CENTRAL, &f.central, Revocation::Good)];
    let a = authority(vec![]);

    let form = authority_form(&a, &checks(&f, &good)).unwrap();
    assert_eq!(form.mailbox, CENTRAL);
    assert_eq!(form.certificates, vec![&f.central.certificate]);
    assert_eq!(form.slug, "landratsamt-test");
    assert_eq!(form.via_authority, None);

    let off = Authority {
        activated: false,
        ..a.clone()
    };
    assert_eq!(
        codes(&authority_form(&off, &checks(&f, &good)).unwrap_err()),
        ["form_not_activated"]
    );

    let mut no_dpo = a.clone();
    no_dpo.imprint.data_protection_officer = Some("  ".into());
    assert_eq!(
        authority_form(&no_dpo, &checks(&f, &good)).unwrap_err(),
        vec![Unavailable::ImprintIncomplete {
            missing: vec!["data_protection_officer"]
        }]
    );

    let no_mailbox = Authority {
        central_mailbox: None,
        ..a.clone()
    };
    assert_eq!(
        codes(&authority_form(&no_mailbox, &checks(&f, &good)).unwrap_err()),
        ["form_no_mailbox"]
    );

    // No certificate at all; then only failing ones, each with its reasons.
    let none = authority_form(&a, &checks(&f, &[])).unwrap_err();
    assert_eq!(
        none,
        vec![Unavailable::NoUsableCertificate {
            mailbox: CENTRAL.into(),
            rejections: vec![]
        }]
    );
    let failing = [
        entry(CENTRAL, &f.expired, Revocation::Good),
        entry(CENTRAL, &f.untrusted, Revocation::Good),
        entry(CENTRAL, &f.central, Revocation::Revoked),
        entry(CENTRAL, &f.renewed, Revocation::Unknown),
        // A certificate filed under the central mailbox but issued for another address.
        entry(CENTRAL, &f.trade, Revocation::Good),
    ];
    let Err(reasons) = authority_form(&a, &checks(&f, &failing)) else {
        panic!("offered")
    };
    let [Unavailable::NoUsableCertificate { rejections, .. }] = &reasons[..] else {
        panic!("{reasons:?}")
    };
    let rejection_codes: Vec<_> = rejections.iter().map(|r| r.codes.clone()).collect();
    assert_eq!(
        rejection_codes,
        vec![
            vec!["certificate_expired"],
            vec!["certificate_untrusted"],
            vec!["certificate_revoked"],
            vec!["certificate_revocation_unknown"],
            vec!["certificate_address_missing"],
        ]
    );

    // Every reason at once, so an operator can fix them in one go.
    let everything_wrong = Authority {
        activated: false,
        central_mailbox: None,
        imprint: Imprint::default(),
        ..a
    };
    assert_eq!(
        codes(&authority_form(&everything_wrong, &checks(&f, &good)).unwrap_err()),
        [
            "form_not_activated",
            "form_imprint_incomplete",
            "form_no_mailbox"
        ]
    );
}

#[test]
fn during_renewal_the_form_encrypts_to_every_passing_certificate() {
    let f = fixture();
    let a = authority(vec![]);
    let overlap = [
        entry(CENTRAL, &f.expired, Revocation::Good),
        entry(CENTRAL, &f.central, Revocation::Good),
        entry(CENTRAL, &f.renewed, Revocation::Good),
    ];
    let form = authority_form(&a, &checks(&f, &overlap)).unwrap();
    assert_eq!(
        form.certificates,
        vec![&f.central.certificate, &f.renewed.certificate]
    );
    // The address matches without regard to case.
    let upper = Authority {
        central_mailbox: Some(CENTRAL.to_uppercase()),
        ..a
    };
    assert_eq!(
        authority_form(&upper, &checks(&f, &overlap))
            .unwrap()
            .certificates
            .len(),
        2
    );
}

#[test]
fn units_get_their_own_form_only_with_their_own_passing_certificate() {
    let f = fixture();
    let a = authority(vec![
        unit("gewerbeamt", Some(TRADE)),
        unit("zulassung", None),
        unit("kaemmerei", Some(CENTRAL)),
        unit("bauamt", Some("bauamt@lra-test.example")),
    ]);
    let certificates = [
        entry(CENTRAL, &f.central, Revocation::Good),
        entry(TRADE, &f.trade, Revocation::Good),
        entry(
            "bauamt@lra-test.example",
            &f.trade_expired,
            Revocation::Good,
        ),
    ];
    let checks = checks(&f, &certificates);

    let own = unit_form(&a, &a.units[0], &checks).unwrap();
    assert_eq!(own.slug, "landratsamt-test/gewerbeamt");
    assert_eq!(own.title, "Landratsamt Test – Amt gewerbeamt");
    assert_eq!(own.mailbox, TRADE);
    assert_eq!(own.certificates, vec![&f.trade.certificate]);
    assert_eq!(own.via_authority, None);

    let no_address = unit_form(&a, &a.units[1], &checks).unwrap();
    assert_eq!(no_address.via_authority, Some(ViaAuthority::NoOwnAddress));
    assert_eq!(no_address.mailbox, CENTRAL);
    assert_eq!(no_address.certificates, vec![&f.central.certificate]);
    assert_eq!(no_address.slug, "landratsamt-test/zulassung");

    let central_address = unit_form(&a, &a.units[2], &checks).unwrap();
    assert_eq!(
        central_address.via_authority,
        Some(ViaAuthority::CentralAddress)
    );

    let failing = unit_form(&a, &a.units[3], &checks).unwrap();
    assert_eq!(failing.mailbox, CENTRAL);
    let Some(ViaAuthority::OwnCertificatesFail(rejections)) = &failing.via_authority else {
        panic!()
    };
    // Expired, and issued for another address than the unit's.
    assert_eq!(
        rejections[0].codes,
        vec!["certificate_expired", "certificate_address_missing"]
    );

    // No authority form, no unit form: not even the unit's own.
    let off = Authority {
        activated: false,
        ..a.clone()
    };
    let reasons = unit_form(&off, &off.units[0], &checks).unwrap_err();
    assert_eq!(
        reasons,
        vec![Unavailable::AuthorityUnavailable(vec![
            Unavailable::NotActivated
        ])]
    );
    assert!(reasons[0].to_string().contains("not activated"));
}
