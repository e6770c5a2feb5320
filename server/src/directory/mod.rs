//! The authority directory: who offers a form, delivering where, encrypting to what.

pub mod activation;
pub mod catalog;
pub mod crl;
pub mod demo;
pub mod expiry;
pub mod import;
pub mod ldap;
pub mod pki;
pub mod refresh;
