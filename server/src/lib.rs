//! Postsiegel's server. It never sees plaintext: the browser encrypts before upload.

pub mod api;
pub mod config;
pub mod directory;
pub mod mail;
pub mod relay;
pub mod store;
pub mod web;
