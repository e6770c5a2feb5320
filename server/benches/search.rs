//! Search as you type over 10,000 units, through the real HTTP stack: the latency a
//! citizen's browser sees for each keystroke, p50/p95/p99, beside `/api/health` measured in
//! the same run as the reference (these machines are noisy).
//!
//! `POSTSIEGEL_DEV_BENCH_SMOKE=1` runs it once, small (1,000 units, a few keystrokes), as the
//! test command does. Writes `bench-results/search.json` when `POSTSIEGEL_DEV_BENCH_OUT` names
//! a folder.

use std::time::{Duration, Instant};

use postsiegel_server::directory::catalog::{Catalog, Settings};
use postsiegel_server::directory::demo;
use postsiegel_server::directory::pki::{Pki, PkiConfig};
use postsiegel_server::http::ApiState;
use postsiegel_server::http::router;
use postsiegel_server::http::web::Frontend;
use postsiegel_server::model::{
    Authority, Directory, FormPolicy, Imprint, StoredCertificate, Unit, UnitKind,
};

const KINDS: [&str; 4] = ["Landratsamt", "Stadt", "Gemeinde", "Markt"];
const PLACES: [&str; 20] = [
    "Musterhausen",
    "Beispielstadt",
    "Neudorf",
    "Talheim",
    "Bergheim",
    "Altötting",
    "Lindau",
    "Würzburg",
    "Bad Tölz",
    "Füssen",
    "Günzburg",
    "Straubing",
    "Erding",
    "Dachau",
    "Kelheim",
    "Cham",
    "Regen",
    "Passau",
    "Hof",
    "Coburg",
];
const UNITS: [&str; 25] = [
    "Gewerbeamt",
    "Bürgerbüro",
    "Standesamt",
    "Bauamt",
    "Ordnungsamt",
    "Jugendamt",
    "Sozialamt",
    "Gesundheitsamt",
    "Veterinäramt",
    "Führerscheinstelle",
    "Kfz-Zulassungsstelle",
    "Ausländerbehörde",
    "Wohngeldstelle",
    "Kämmerei",
    "Steueramt",
    "Friedhofsverwaltung",
    "Umweltamt",
    "Wasserwirtschaft",
    "Schulamt",
    "Kulturamt",
    "Sportamt",
    "Forstverwaltung",
    "Vermessungsamt",
    "Denkmalschutz",
    "Seniorenberatung",
];

fn main() {
    let smoke = std::env::var_os("POSTSIEGEL_DEV_BENCH_SMOKE").is_some();
    let authorities = if smoke { 40 } else { 400 };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run(authorities, smoke));
}

async fn run(authority_count: usize, smoke: bool) {
    let data = tempfile::tempdir().unwrap();
    let now = postsiegel_server::clock::unix_now();
    let demo = demo::ensure(data.path(), now).unwrap();
    let mut authorities = Vec::new();
    let mut mailboxes = Vec::new();
    for n in 0..authority_count {
        let kind = KINDS[n % KINDS.len()];
        let place = format!("{} {}", PLACES[n % PLACES.len()], n / PLACES.len() + 1);
        let slug = format!("behoerde-{n}");
        let mailbox = format!("poststelle@{slug}.example");
        mailboxes.push((mailbox.clone(), format!("{kind} {place}")));
        authorities.push(Authority {
            slug,
            name: format!("{kind} {place}"),
            street: "Hauptstraße 1".into(),
            postal_code: format!("{:05}", 10_000 + n * 7),
            place,
            website: None,
            phone: None,
            central_mailbox: Some(mailbox),
            imprint: Imprint {
                representative: Some("Die Leitung".into()),
                content_responsible: Some("Pressestelle".into()),
                data_protection_officer: Some("datenschutz@example.org".into()),
                vat_id: None,
            },
            activated: true,
            policy: FormPolicy::default(),
            units: UNITS
                .iter()
                .enumerate()
                .map(|(u, name)| Unit {
                    slug: format!("amt-{u}"),
                    name: (*name).into(),
                    kind: UnitKind::Department,
                    mailbox: None,
                    phone: None,
                })
                .collect(),
        });
    }
    let certificates = demo.issue(&mailboxes, now).unwrap();
    let directory = Directory {
        authorities,
        certificates: certificates
            .into_iter()
            .zip(&mailboxes)
            .map(|(certificate, (mailbox, _))| StoredCertificate {
                mailbox: mailbox.clone(),
                certificate,
            })
            .collect(),
    };
    let units = authority_count * UNITS.len();
    let pki = Pki::load(&demo.pki(&PkiConfig::default())).unwrap();
    let settings = Settings {
        public_url: "http://127.0.0.1".into(),
        mail_from: "Postsiegel <kontaktformular@portal.example>".into(),
        extra_header_bytes: 0,
        signature_len: None,
        retention_days: 30,
        report_days: None,
        answer_mail: None,
    };
    let started = Instant::now();
    let catalog = Catalog::build(&directory, &pki, &settings, now);
    let build = started.elapsed();
    assert_eq!(
        catalog.offered,
        authority_count + units,
        "every form is offered"
    );

    std::fs::write(
        data.path().join("index.html"),
        "<!DOCTYPE html><body></body>",
    )
    .unwrap();
    let app = router(
        Frontend::load(data.path()).unwrap(),
        ApiState::new(catalog, false),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();

    // What citizens type, one request per keystroke.
    let words = [
        "gewerbeamt",
        "landratsamt würzburg",
        "bürgerbüro",
        "stadt bad tölz 3",
        "kfz-zulassung",
        "standesamt passau",
        "10049",
        "führerscheinstelle füssen",
        "amt",
        "xyzzy",
    ];
    let keystrokes: Vec<String> = words
        .iter()
        .flat_map(|word| {
            let chars: Vec<char> = word.chars().collect();
            (1..=chars.len())
                .map(|n| chars[..n].iter().collect())
                .collect::<Vec<String>>()
        })
        .collect();
    let rounds = if smoke { 1 } else { 5 };
    let mut search = Vec::new();
    let mut health = Vec::new();
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            let started = Instant::now();
            let response = client.get(&url).send().await.unwrap();
            assert!(response.status().is_success(), "{url}");
            response.bytes().await.unwrap();
            started.elapsed()
        }
    };
    for _ in 0..rounds {
        for keystroke in &keystrokes {
            // Alternate with the reference so that both see the same machine state.
            health.push(get("/api/health".into()).await);
            search.push(get(format!("/api/forms?q={}", urlencode(keystroke))).await);
        }
    }
    let search_ms = percentiles(&mut search);
    let health_ms = percentiles(&mut health);
    let target_ms = 50.0;
    println!(
        "search as you type: {} forms ({} authorities, {units} units), {} keystrokes",
        authority_count + units,
        authority_count,
        search.len()
    );
    println!("catalog build: {:.0} ms", build.as_secs_f64() * 1000.0);
    println!("| request | p50 ms | p95 ms | p99 ms | max ms |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, p) in [("search", search_ms), ("health (reference)", health_ms)] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            p[0], p[1], p[2], p[3]
        );
    }
    println!(
        "search p95 = {:.2} ms: {:.1}x the health round trip; target < {target_ms} ms: {}",
        search_ms[1],
        search_ms[1] / health_ms[1].max(0.001),
        if search_ms[1] < target_ms {
            "met"
        } else {
            "MISSED"
        }
    );
    if let Some(folder) = std::env::var_os("POSTSIEGEL_DEV_BENCH_OUT") {
        let json = serde_json::json!({
            "forms": authority_count + units,
            "units": units,
            "keystrokes": search.len(),
            "catalog_build_ms": build.as_secs_f64() * 1000.0,
            "search_ms": { "p50": search_ms[0], "p95": search_ms[1], "p99": search_ms[2], "max": search_ms[3] },
            "health_ms": { "p50": health_ms[0], "p95": health_ms[1], "p99": health_ms[2], "max": health_ms[3] },
            "target_p95_ms": target_ms,
        });
        let path = std::path::Path::new(&folder).join("search.json");
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    }
    if !smoke {
        assert!(search_ms[1] < target_ms, "the search misses its target");
    }
}

/// p50, p95, p99 and max in milliseconds (nearest rank).
fn percentiles(samples: &mut [Duration]) -> [f64; 4] {
    samples.sort();
    let at = |q: f64| {
        let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
        samples[rank - 1].as_secs_f64() * 1000.0
    };
    [at(0.50), at(0.95), at(0.99), at(1.0)]
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
