//! The relay: e-mail verification, accepting ciphertext uploads, and delivering them as
//! S/MIME mail through a durable queue.

pub mod dkim;
pub mod limits;
pub mod secret;
pub mod signing;
pub mod submission;
pub mod transport;
pub mod verification;
pub mod worker;

/// What the API's relay routes use.
pub struct Relay {
    pub verifier: verification::Verifier,
    pub queue: submission::Queue,
    pub limits: limits::Limits,
    pub client_key: limits::ClientKey,
    pub unverified: limits::UnverifiedLimiter,
}
