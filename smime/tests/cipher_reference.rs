#![cfg(not(target_arch = "wasm32"))]
//! The reference the browser holds WebCrypto to (`support/cipher_reference.rs`) is what
//! RustCrypto makes of its content, key and IV, in one call.

#[path = "support/cipher_reference.rs"]
mod reference;

use sha2::{Digest, Sha256};
use smime::envelope::{ContentEncryption, SoftwareCipher, ciphertext_len};

#[test]
fn the_browser_tests_reference_is_rustcryptos_output() {
    let content = reference::content();
    for encryption in [ContentEncryption::Aes256Cbc, ContentEncryption::Aes256Gcm] {
        let mut out = vec![0u8; ciphertext_len(encryption, content.len() as u64) as usize];
        let tag = SoftwareCipher::new(&reference::key(encryption))
            .finish_now(&content, &mut out)
            .unwrap();
        let made = (
            reference::hex(&Sha256::digest(&out)),
            tag.map(|t| reference::hex(&t)),
        );
        println!("{encryption:?}: {made:?}");
        let (digest, tag) = reference::reference(encryption);
        assert_eq!(
            (made.0.as_str(), made.1.as_deref()),
            (digest, tag),
            "{encryption:?}"
        );
    }
}
