//! Talking to the server: fetch and upload helpers that turn answers into the wire crate's
//! types (the very ones the server sends) and refusals into their stable codes.

use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wire::{ErrorBody, ErrorCode, ErrorParams};

/// Why a request failed: the server's stable code, or none when it could not be reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    Code(ErrorCode),
    Unreachable,
}

/// A refusal with its parameters (`attempts_left` …), for wording; no code when the
/// server could not be reached (or what answered was not the server).
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub code: Option<ErrorCode>,
    pub params: ErrorParams,
}

impl Refusal {
    /// No answer from the server (or none it wrote).
    fn unreachable() -> Refusal {
        Refusal {
            code: None,
            params: Default::default(),
        }
    }

    pub fn is(&self, code: ErrorCode) -> bool {
        self.code == Some(code)
    }
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
            .set(wire::TOKEN_HEADER, token)
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
    headers: &[(&str, String)],
    progress: impl Fn(f64, f64) + 'static,
) -> Result<T, Refusal> {
    use wasm_bindgen::closure::Closure;
    let unreachable = Refusal::unreachable;
    let request = web_sys::XmlHttpRequest::new().map_err(|_| unreachable())?;
    request.open("POST", url).map_err(|_| unreachable())?;
    request
        .set_request_header("content-type", wire::UPLOAD_CONTENT_TYPE)
        .map_err(|_| unreachable())?;
    for (name, value) in headers {
        request
            .set_request_header(name, value)
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
                code: Some(e.code),
                params: e.params,
            })
            .unwrap_or_else(|_| unreachable()));
    }
    serde_json::from_str(text).map_err(|_| unreachable())
}

/// The body of a file as text (the trust anchors), if the server answers 2xx before the
/// deadline.
pub async fn get_text(url: &str, deadline: &smime::webcrypto::Deadline) -> Option<String> {
    let response = deadline.settle(web_sys::window()?.fetch_with_str(url));
    let response: web_sys::Response = response.await?.ok()?.unchecked_into();
    if !response.ok() {
        return None;
    }
    deadline
        .settle(response.text().ok()?)
        .await?
        .ok()?
        .as_string()
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
