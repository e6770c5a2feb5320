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
    pub slug: String,
    pub title: String,
    pub unit: Option<Unit>,
    pub policy: Option<Policy>,
    pub max_upload_bytes: Option<u64>,
    pub available: bool,
    pub reasons: Vec<Reason>,
    pub authority: Authority,
    pub contact: Contact,
    pub delivery: Option<Delivery>,
    pub embed: Embed,
    pub privacy: Privacy,
}

/// How long the portal keeps what it sees in clear.
#[derive(Clone, Debug, Deserialize)]
pub struct Privacy {
    pub retention_days: u64,
}

/// How an authority links or embeds the form on its own site.
#[derive(Clone, Debug, Deserialize)]
pub struct Embed {
    pub link: String,
    pub snippet: String,
    pub allowed_origins: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Unit {
    pub slug: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Policy {
    pub verify_email: bool,
    pub allowed_types: Vec<smime::files::FileType>,
    pub content_encryption: smime::envelope::ContentEncryption,
    pub key_transport: smime::envelope::KeyTransport,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Reason {
    pub code: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Authority {
    pub name: String,
    pub street: String,
    pub postal_code: String,
    pub place: String,
    pub representative: Option<String>,
    pub content_responsible: Option<String>,
    pub data_protection_officer: Option<String>,
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
    pub intermediates: Vec<String>,
    pub trust_anchors: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Certificate {
    /// DER, base64.
    pub der: String,
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
    #[serde(default)]
    params: serde_json::Map<String, serde_json::Value>,
}

/// A refusal with its parameters (`attempts_left` …), for wording.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub code: String,
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl Refusal {
    /// No answer from the server (or none it wrote).
    fn unreachable() -> Refusal {
        Refusal {
            code: "unreachable".into(),
            params: Default::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
pub struct Token {
    pub token: String,
    pub address: String,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Status {
    pub receipt: String,
    /// `queued`, `delivered` or `failed`.
    pub state: String,
    pub finished_at: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Accepted {
    pub receipt: String,
    pub status_token: String,
}

/// POSTs `body` (JSON text or a Blob) and reads the JSON answer or the refusal.
pub async fn post<T: DeserializeOwned>(
    url: &str,
    content_type: &str,
    body: &wasm_bindgen::JsValue,
    token: Option<&str>,
) -> Result<T, Refusal> {
    let unreachable = Refusal::unreachable;
    let window = web_sys::window().ok_or_else(unreachable)?;
    let headers = web_sys::Headers::new().map_err(|_| unreachable())?;
    headers
        .set("content-type", content_type)
        .map_err(|_| unreachable())?;
    if let Some(token) = token {
        headers
            .set("x-postsiegel-verification", token)
            .map_err(|_| unreachable())?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(body);
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| unreachable())?
        .unchecked_into();
    let text = JsFuture::from(response.text().map_err(|_| unreachable())?)
        .await
        .map_err(|_| unreachable())?
        .as_string()
        .unwrap_or_default();
    answer(response.ok(), &text)
}

/// Uploads the ciphertext with XMLHttpRequest, which (unlike fetch) reports how much of the
/// body has gone: `progress(sent, total)`.
pub async fn upload<T: DeserializeOwned>(
    url: &str,
    body: &web_sys::Blob,
    token: Option<&str>,
    progress: impl Fn(f64, f64) + 'static,
) -> Result<T, Refusal> {
    use wasm_bindgen::closure::Closure;
    let unreachable = Refusal::unreachable;
    let request = web_sys::XmlHttpRequest::new().map_err(|_| unreachable())?;
    request.open("POST", url).map_err(|_| unreachable())?;
    request
        .set_request_header("content-type", "application/pkcs7-mime")
        .map_err(|_| unreachable())?;
    if let Some(token) = token {
        request
            .set_request_header("x-postsiegel-verification", token)
            .map_err(|_| unreachable())?;
    }
    let on_progress =
        Closure::<dyn Fn(web_sys::ProgressEvent)>::new(move |event: web_sys::ProgressEvent| {
            progress(event.loaded(), event.total())
        });
    request
        .upload()
        .map_err(|_| unreachable())?
        .set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    // Settles when the request ends, one way or the other; the status says which.
    let finished = js_sys::Promise::new(&mut |resolve, _reject| {
        request.set_onloadend(Some(&resolve));
    });
    request
        .send_with_opt_blob(Some(body))
        .map_err(|_| unreachable())?;
    let _ = JsFuture::from(finished).await;
    drop(on_progress);
    let status = request.status().map_err(|_| unreachable())?;
    let text = request.response_text().ok().flatten().unwrap_or_default();
    answer((200..300).contains(&status), &text)
}

/// The JSON of a successful answer, or the refusal in an error body (`unreachable` when
/// there is none, e.g. from a proxy in between).
fn answer<T: DeserializeOwned>(ok: bool, text: &str) -> Result<T, Refusal> {
    let unreachable = Refusal::unreachable;
    if !ok {
        return Err(serde_json::from_str::<ErrorBody>(text)
            .map(|e| Refusal {
                code: e.code,
                params: e.params,
            })
            .unwrap_or_else(|_| unreachable()));
    }
    serde_json::from_str(text).map_err(|_| unreachable())
}

/// The body of a file, as text (the trust anchors).
pub async fn get_text(url: &str) -> Result<String, Failure> {
    let window = web_sys::window().ok_or(Failure::Unreachable)?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|_| Failure::Unreachable)?
        .unchecked_into();
    if !response.ok() {
        return Err(Failure::Unreachable);
    }
    JsFuture::from(response.text().map_err(|_| Failure::Unreachable)?)
        .await
        .map_err(|_| Failure::Unreachable)?
        .as_string()
        .ok_or(Failure::Unreachable)
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
