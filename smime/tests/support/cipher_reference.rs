//! One content, key and IV, and what RustCrypto makes of them: the native test
//! `cipher_reference.rs` computes it, the browser test holds WebCrypto to it. The reference
//! is computed natively because WebKitGTK 2.50's JavaScriptCore, under load, sometimes
//! miscomputes RustCrypto's software AES in a debug wasm build (an index of 1431655764 into
//! a slice of 2, in `inout`): the app never runs that code in the browser, the test did.

use smime::envelope::{ContentEncryption, ContentKey};

pub fn content() -> Vec<u8> {
    (0..200_003u32).map(|i| (i * 31 % 251) as u8).collect()
}

pub fn key(encryption: ContentEncryption) -> ContentKey {
    ContentKey {
        encryption,
        key: zeroize::Zeroizing::new([0x5a; 32]),
        iv: if encryption == ContentEncryption::Aes256Cbc {
            [0x3c; 16]
        } else {
            [
                0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0, 0, 0, 0,
            ]
        },
    }
}

/// SHA-256 of the ciphertext and the GCM tag, in hex, as RustCrypto makes them.
pub fn reference(encryption: ContentEncryption) -> (&'static str, Option<&'static str>) {
    match encryption {
        ContentEncryption::Aes256Cbc => (CBC_SHA256, None),
        ContentEncryption::Aes256Gcm => (GCM_SHA256, Some(GCM_TAG)),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const CBC_SHA256: &str = "09204479149fc6a89ce785fb6a16559b0f1a69b89af5b52d544ffca148204d10";
const GCM_SHA256: &str = "e233c2fe736bbfae7b43a3b6b16e996f8181b41cd521ef2fa9f567bafa3a76a9";
const GCM_TAG: &str = "3358b55cb5da19298a8e4b7a57b8920e";
