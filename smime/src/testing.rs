//! For tests only (feature `test-support`): reading back what this crate encrypted, so that
//! a test in the browser can check a message end to end where no openssl runs. Panics on
//! anything unexpected: it is for tests, never for messages.

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use cms::enveloped_data::{EnvelopedData, RecipientInfo};
use der::{Decode, Encode};
use rsa::pkcs8::DecodePrivateKey;

/// Decrypts an EnvelopedData (AES-256-CBC, RSA PKCS#1 v1.5, the first recipient) with a
/// private key in PKCS#8 PEM.
pub fn decrypt_cbc(der: &[u8], key_pem: &str) -> Vec<u8> {
    let content_info = cms::content_info::ContentInfo::from_der(der).expect("a ContentInfo");
    let enveloped = EnvelopedData::from_der(&content_info.content.to_der().expect("encodes"))
        .expect("an EnvelopedData");
    let RecipientInfo::Ktri(ktri) = enveloped.recip_infos.0.get(0).expect("a recipient") else {
        panic!("not key transport")
    };
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(key_pem).expect("a PKCS#8 key");
    let content_key = key
        .decrypt(rsa::Pkcs1v15Encrypt, ktri.enc_key.as_bytes())
        .expect("the key transport decrypts");
    let info = &enveloped.encrypted_content;
    let parameters = info.content_enc_alg.parameters.as_ref().expect("an IV");
    let iv = der::asn1::OctetString::from_der(&parameters.to_der().expect("encodes"))
        .expect("the IV is an octet string");
    let mut buffer = info
        .encrypted_content
        .as_ref()
        .expect("content")
        .as_bytes()
        .to_vec();
    let plain: &[u8] =
        cbc::Decryptor::<aes::Aes256>::new(content_key.as_slice().into(), iv.as_bytes().into())
            .decrypt_padded_mut::<Pkcs7>(&mut buffer)
            .expect("the content decrypts");
    plain.to_vec()
}
