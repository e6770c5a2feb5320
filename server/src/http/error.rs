//! The one place where refusals become HTTP: a stable code (from the domain's own error
//! enums) gets its status here, and the answer is always `{code, field, params}` as JSON.
//! Nothing else in the server picks a status code for an error.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wire::{ErrorBody, ErrorCode, ErrorParams};

use crate::answers::AnswersError;
use crate::directory::catalog::{FormError, SearchError};
use crate::relay::RelayError;
use crate::relay::submission::UploadError;
use crate::relay::verification::VerifyError;

/// An error answer: its status and its body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

/// The status of each code.
pub fn status(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        NotFound | FormNotFound | StatusNotFound | AnswerNotFound => StatusCode::NOT_FOUND,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        JsonMalformed | SearchQueryEmpty | SearchQueryTooLong | SearchQueryInvalid
        | EmailInvalid | CodeExpired | CodeWrong | UploadInterrupted | RequestInvalid => {
            StatusCode::BAD_REQUEST
        }
        JsonWrongType | JsonMissingField | UploadEmpty | UploadTruncated | UploadTrailingBytes
        | UploadNotCms | UploadNotDer | UploadSignedOnly | UploadNotEncrypted
        | UploadWrongAlgorithm | UploadWrongRecipient | CsrInvalid | CsrKeyUnsuitable => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        JsonWrongContentType | UploadWrongContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        RequestTooLarge | UploadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        UriTooLong => StatusCode::URI_TOO_LONG,
        HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        RateLimited | TooManyCodes | CodeAttemptsExhausted | TooManyConnections => {
            StatusCode::TOO_MANY_REQUESTS
        }
        NotVerified | SignatureInvalid => StatusCode::FORBIDDEN,
        FormNotAvailable | CertificateChanged | AnswersNotOffered | ConversationUnknown => {
            StatusCode::CONFLICT
        }
        RelayUnavailable | QueueFull => StatusCode::SERVICE_UNAVAILABLE,
        InternalError => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    pub fn new(code: ErrorCode) -> ApiError {
        ApiError {
            status: status(code),
            body: ErrorBody {
                code,
                field: None,
                params: ErrorParams::default(),
            },
        }
    }

    /// The request field the error is about.
    pub fn field(mut self, field: &str) -> ApiError {
        self.body.field = Some(field.to_owned());
        self
    }

    pub fn params(mut self, params: ErrorParams) -> ApiError {
        self.body.params = params;
        self
    }

    /// Too many requests; try again after `seconds` (also said in `Retry-After`).
    pub fn rate_limited(seconds: u64) -> ApiError {
        ApiError::new(ErrorCode::RateLimited).params(retry_after(seconds))
    }

    pub fn code(&self) -> ErrorCode {
        self.body.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.body.params.retry_after_seconds;
        let mut response = (self.status, axum::Json(&self.body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<FormError> for ApiError {
    fn from(error: FormError) -> ApiError {
        ApiError::new(error.code())
    }
}

impl From<SearchError> for ApiError {
    fn from(error: SearchError) -> ApiError {
        let refusal = ApiError::new(error.code()).field("q");
        match error {
            SearchError::TooLong { max } => refusal.params(ErrorParams {
                max: Some(max as u64),
                ..ErrorParams::default()
            }),
            SearchError::Empty => refusal,
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(error: VerifyError) -> ApiError {
        let refusal = ApiError::new(error.code());
        match error {
            VerifyError::AddressInvalid => refusal.field("address"),
            VerifyError::TooManyCodes {
                retry_after: seconds,
            } => refusal.field("address").params(retry_after(seconds)),
            VerifyError::CodeExpired | VerifyError::AttemptsExhausted => refusal.field("code"),
            VerifyError::CodeWrong { attempts_left } => refusal.field("code").params(ErrorParams {
                attempts_left: Some(attempts_left),
                ..ErrorParams::default()
            }),
            VerifyError::Store(e) => internal(&e),
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(error: UploadError) -> ApiError {
        match error {
            UploadError::TooLarge { max_upload_bytes } => {
                ApiError::new(error.code()).params(ErrorParams {
                    max_upload_bytes: Some(max_upload_bytes),
                    ..ErrorParams::default()
                })
            }
            UploadError::SignatureInvalid => ApiError::new(error.code()).field("signature"),
            // Logged where it happened.
            _ => ApiError::new(error.code()),
        }
    }
}

impl From<RelayError> for ApiError {
    fn from(error: RelayError) -> ApiError {
        match error {
            RelayError::Form(e) => e.into(),
            RelayError::Verify(e) => e.into(),
            RelayError::Upload(e) => e.into(),
            RelayError::RateLimited { retry_after } => ApiError::rate_limited(retry_after),
            RelayError::Store(e) => internal(&e),
            RelayError::Answers(e) => e.into(),
            RelayError::WrongContentType | RelayError::NotVerified | RelayError::StatusNotFound => {
                ApiError::new(error.code())
            }
        }
    }
}

impl From<AnswersError> for ApiError {
    fn from(error: AnswersError) -> ApiError {
        match error {
            AnswersError::Csr(_) => ApiError::new(error.code()).field("csr"),
            AnswersError::Ca(e) => internal(&e),
            AnswersError::Store(e) => internal(&e),
            AnswersError::SignatureInvalid => ApiError::new(error.code()).field("signature"),
            AnswersError::NotOffered
            | AnswersError::ConversationUnknown
            | AnswersError::AnswerNotFound => ApiError::new(error.code()),
        }
    }
}

fn retry_after(seconds: u64) -> ErrorParams {
    ErrorParams {
        retry_after_seconds: Some(seconds),
        ..ErrorParams::default()
    }
}

/// A failure of the server's own: logged (without request data), answered plainly.
fn internal(error: &dyn std::fmt::Display) -> ApiError {
    tracing::error!("a request failed: {error}");
    ApiError::new(ErrorCode::InternalError)
}
