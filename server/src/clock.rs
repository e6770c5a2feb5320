//! The one clock of the server: whole seconds since the Unix epoch. Everything that judges
//! time (certificates, codes, tokens, retention) takes such a number, so that tests can
//! pass any moment; only the server's loops and request handlers read the clock itself.

/// Now, in seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}
