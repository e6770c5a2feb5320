//! Postsiegel's server. It never sees plaintext: the browser encrypts before upload.
//!
//! The layers, each importing only those below it (checked by `scripts/check_modules.py`):
//! `compose` (wiring) → `http` (the edge), `inbound` (the mail listener) → `relay` →
//! `directory` → `notices`, `store`, `mail` → `model`, `clock`, `durable`; `config` holds each
//! layer's own section.

pub mod answers;
pub mod clock;
pub mod compose;
pub mod config;
pub mod directory;
pub mod dkim;
pub mod durable;
pub mod http;
pub mod inbound;
pub mod mail;
pub mod model;
pub mod notices;
pub mod pkix;
pub mod relay;
pub mod store;
