//! The S/MIME core of Postsiegel: what the browser needs to compose and encrypt a message
//! and what the server needs to inspect an upload.
//!
//! Invariant: this crate does no I/O. It never opens a file, a socket or a clock, and has
//! no randomness source of its own; callers pass bytes, times and a secure random generator
//! in. That keeps it buildable for `wasm32-unknown-unknown` and native alike, and testable
//! without a network.

#[cfg(feature = "answers")]
pub mod backup;
pub mod ber;
pub mod certificate;
pub mod envelope;
pub mod files;
pub mod inspect;
pub mod mime;
pub mod names;
#[cfg(feature = "answers")]
pub mod open;
pub mod revocation;
#[cfg(feature = "answers")]
pub mod signed;
#[cfg(feature = "answers")]
pub mod signing;
pub mod sniff;
#[cfg(feature = "test-support")]
pub mod testing;
#[cfg(target_arch = "wasm32")]
pub mod webcrypto;

pub use der;
pub use x509_cert::Certificate;

#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
