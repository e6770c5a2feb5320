//! The directory file operators import: TOML, validated, then judged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postsiegel_server::directory::import;
use postsiegel_server::directory::pki::Pki;

fuzz_target!(|text: &str| {
    let Ok(directory) = import::parse(text, "fuzz.toml", std::path::Path::new("/nonexistent")) else {
        return;
    };
    let pki = Pki {
        anchors: Vec::new(),
        intermediates: Vec::new(),
        crls: Vec::new(),
    };
    let _ = import::offers(&directory, &pki, 1_800_000_000);
});
