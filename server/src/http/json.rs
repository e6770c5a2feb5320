//! JSON request bodies, refused in the API's own shape: `{code, field, params}` with a
//! code of its own for each way a body can be wrong (not JSON, a field of the wrong type,
//! a field missing, not JSON at all by its content type, too large), never axum's plain
//! text.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_value::DeserializerError;
use wire::{ErrorCode, ErrorParams};

use super::error::ApiError;

/// The largest JSON body the API takes; its requests are a few hundred bytes.
pub const MAX_JSON_BYTES: usize = 16 * 1024;

/// A JSON request body, deserialised into `T`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        if !is_json {
            return Err(ApiError::new(ErrorCode::JsonWrongContentType));
        }
        let too_large = || {
            ApiError::new(ErrorCode::RequestTooLarge).params(ErrorParams {
                max_bytes: Some(MAX_JSON_BYTES as u64),
                ..ErrorParams::default()
            })
        };
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_JSON_BYTES as u64) {
            return Err(too_large());
        }
        let limited = http_body_util::Limited::new(request.into_body(), MAX_JSON_BYTES);
        let bytes = match limited.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                return Err(too_large());
            }
            Err(_) => return Err(ApiError::new(ErrorCode::JsonMalformed)),
        };
        parse(&bytes).map(JsonBody)
    }
}

/// `bytes` as a `T`, or the refusal that says what is wrong, naming the field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_value::Value =
        serde_json::from_slice(bytes).map_err(|_| ApiError::new(ErrorCode::JsonMalformed))?;
    // Every body of the API is an object (serde would take an array for a struct, too).
    if !matches!(value, serde_value::Value::Map(_)) {
        return Err(ApiError::new(ErrorCode::JsonWrongType));
    }
    let deserializer = serde_value::ValueDeserializer::<DeserializerError>::new(value);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let (code, field) = match error.inner() {
            DeserializerError::MissingField(name) if path == "." => {
                (ErrorCode::JsonMissingField, (*name).to_owned())
            }
            DeserializerError::MissingField(name) => {
                (ErrorCode::JsonMissingField, format!("{path}.{name}"))
            }
            _ => (ErrorCode::JsonWrongType, path),
        };
        let refusal = ApiError::new(code);
        if field == "." {
            refusal
        } else {
            refusal.field(&field)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Sample {
        #[allow(dead_code)]
        form: String,
        #[serde(default)]
        #[allow(dead_code)]
        remember: bool,
    }

    fn refusal(json: &str) -> (ErrorCode, Option<String>) {
        let error = parse::<Sample>(json.as_bytes()).unwrap_err();
        (error.code(), error.body.field)
    }

    #[test]
    fn each_way_a_body_is_wrong_has_its_code_and_field() {
        assert!(parse::<Sample>(br#"{"form": "a", "remember": true}"#).is_ok());
        assert_eq!(refusal("{\"form\": "), (ErrorCode::JsonMalformed, None));
        assert_eq!(refusal(""), (ErrorCode::JsonMalformed, None));
        assert_eq!(
            refusal(r#"{"form": 5}"#),
            (ErrorCode::JsonWrongType, Some("form".into()))
        );
        assert_eq!(
            refusal(r#"{"form": "a", "remember": "yes"}"#),
            (ErrorCode::JsonWrongType, Some("remember".into()))
        );
        assert_eq!(
            refusal(r#"{"remember": true}"#),
            (ErrorCode::JsonMissingField, Some("form".into()))
        );
        assert_eq!(refusal("[\"a\", true]"), (ErrorCode::JsonWrongType, None));
        assert_eq!(refusal("\"a\""), (ErrorCode::JsonWrongType, None));
    }
}
