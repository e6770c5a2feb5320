//! The server's JSON API, as far as the app reads it (see `/api/openapi.json`).

use serde::Deserialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[derive(Clone, Debug, Deserialize)]
pub struct SearchResult {
    pub hits: Vec<SearchHit>,
    pub total: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SearchHit {
    pub slug: String,
    pub title: String,
    pub place: String,
    pub postal_code: String,
    pub kind: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FormPage {
    pub title: String,
    pub available: bool,
    pub reasons: Vec<Reason>,
    pub authority: Authority,
    pub contact: Contact,
    pub delivery: Option<Delivery>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Reason {
    pub code: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Authority {
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Contact {
    pub name: String,
    pub street: String,
    pub postal_code: String,
    pub place: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Delivery {
    pub mailbox: String,
    pub via_authority: Option<String>,
    pub certificates: Vec<Certificate>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Certificate {
    pub subject: String,
    pub not_after: String,
    pub sha256_fingerprint: String,
}

/// Why a request failed: the server's stable code, or none when it could not be reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    Code(String),
    Unreachable,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
}

pub async fn get<T: DeserializeOwned>(url: &str) -> Result<T, Failure> {
    let window = web_sys::window().ok_or(Failure::Unreachable)?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|_| Failure::Unreachable)?
        .unchecked_into();
    let body = JsFuture::from(response.text().map_err(|_| Failure::Unreachable)?)
        .await
        .map_err(|_| Failure::Unreachable)?
        .as_string()
        .unwrap_or_default();
    if !response.ok() {
        return Err(serde_json::from_str::<ErrorBody>(&body)
            .map(|e| Failure::Code(e.code))
            .unwrap_or(Failure::Unreachable));
    }
    serde_json::from_str(&body).map_err(|_| Failure::Unreachable)
}

/// Percent-encodes a search term for the query string.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
