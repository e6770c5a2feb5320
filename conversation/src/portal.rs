//! Requests to the portal that served this module: JSON in, bytes out, refusals by code.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// A request to the portal (GET, or `(method, JSON body)`): the body of a 2xx answer, or
/// the error code of a refusal.
pub async fn fetch(
    url: &str,
    body: Option<(&str, &str)>,
    headers: &[(&str, &str)],
) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let init = web_sys::RequestInit::new();
    let sent = web_sys::Headers::new().map_err(|_| "headers")?;
    for (name, value) in headers {
        sent.set(name, value).map_err(|_| "header")?;
    }
    if let Some((method, json)) = body {
        init.set_method(method);
        sent.set("content-type", "application/json")
            .map_err(|_| "header")?;
        init.set_body(&json.into());
    }
    init.set_headers(&sent);
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| "unreachable")?
        .unchecked_into();
    let bytes = JsFuture::from(response.array_buffer().map_err(|_| "body")?)
        .await
        .map_err(|_| "body")?;
    let bytes = js_sys::Uint8Array::new(&bytes).to_vec();
    if !response.ok() {
        let code = serde_json::from_slice::<wire::ErrorBody>(&bytes)
            .map(|e| e.code.as_str().to_owned())
            .unwrap_or_else(|_| response.status().to_string());
        return Err(code);
    }
    Ok(bytes)
}
