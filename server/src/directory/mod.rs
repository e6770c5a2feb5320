//! The authority directory: who offers a form, delivering where, encrypting to what.

pub mod activation;
pub mod expiry;
pub mod import;
pub mod model;
pub mod pki;
