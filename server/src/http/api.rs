//! The JSON API under `/api`: each handler takes what the request carries, calls the
//! directory or the relay, and answers the wire type or an [`ApiError`]. No decision about
//! a message is taken here; they are all the relay's.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use serde::Deserialize;
use utoipa::IntoParams;
use wire::{
    Accepted, AnswersInfo, CertificateRequest, CodeConfirmation, CodeDelivery, CodeRequest,
    CodeSent, ConversationCertificate, ErrorBody, ErrorCode, FormPage, Health, Portal,
    SearchResult, SignedRequest, Status, Token,
};

use super::error::ApiError;
use super::json::JsonBody;
use super::limits::ClientKey;
use crate::directory::catalog::{Catalog, SharedCatalog};
use crate::relay::limits::Limits;
use crate::relay::{FollowUp, Relay, Upload};

#[derive(Clone)]
pub struct ApiState {
    pub catalog: SharedCatalog,
    /// The portal runs on the generated demo directory.
    pub demo: bool,
    /// Verification, submissions and status; absent in tests of the directory alone.
    pub relay: Option<Arc<Relay>>,
    /// Rate limits per client (applied only with a relay).
    pub limits: Limits,
    pub client_key: ClientKey,
}

impl ApiState {
    /// The directory's API alone, without a relay.
    pub fn new(catalog: Catalog, demo: bool) -> ApiState {
        ApiState {
            catalog: SharedCatalog::new(catalog),
            demo,
            relay: None,
            limits: Limits::default(),
            client_key: ClientKey::default(),
        }
    }

    fn relay(&self) -> Result<&Relay, ApiError> {
        self.relay
            .as_deref()
            .ok_or_else(|| ApiError::new(ErrorCode::RelayUnavailable))
    }
}

/// Whether the server is up.
#[utoipa::path(get, path = "/api/health", responses((status = 200, body = Health)))]
pub(super) async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// What the app needs to know about the portal itself.
#[utoipa::path(get, path = "/api/portal", responses((status = 200, body = Portal)))]
pub(super) async fn portal(State(state): State<ApiState>) -> Json<Portal> {
    let catalog = state.catalog.get();
    Json(Portal {
        demo: state.demo,
        forms_offered: catalog.offered,
        trust_anchors: format!("/trust/{}", catalog.trust_anchors.file_name),
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchParams {
    /// Words of a name, unit, place or postal code; case and umlaut spelling are ignored.
    /// Required: without it (or with blanks only) the answer is `search_query_empty`.
    #[param(required = true, min_length = 1, max_length = 100)]
    q: Option<String>,
    /// At most this many hits (default 10, at most 50).
    limit: Option<usize>,
}

/// Search the forms that are offered, as the citizen types.
#[utoipa::path(
    get,
    path = "/api/forms",
    params(SearchParams),
    responses(
        (status = 200, body = SearchResult),
        (status = 400, body = ErrorBody, description = "`search_query_empty`, `search_query_too_long` or `search_query_invalid`")
    )
)]
pub(super) async fn search(
    State(state): State<ApiState>,
    params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SearchResult>, ApiError> {
    let Ok(Query(params)) = params else {
        return Err(ApiError::new(ErrorCode::SearchQueryInvalid));
    };
    let query = params.q.unwrap_or_default();
    Ok(Json(state.catalog.get().find(&query, params.limit)?))
}

/// An authority's form, offered or not (then with the reasons and other contact ways).
#[utoipa::path(
    get,
    path = "/api/forms/{authority}",
    params(("authority" = String, Path, description = "The authority's slug", example = "landratsamt-musterhausen")),
    responses(
        (status = 200, body = FormPage),
        (status = 404, body = ErrorBody, description = "`form_not_found`")
    )
)]
pub(super) async fn authority_form(
    State(state): State<ApiState>,
    Path(authority): Path<String>,
) -> Result<Json<FormPage>, ApiError> {
    form(&state, &authority)
}

/// A unit's form: its own, or its authority's (then `delivery.via_authority` says why).
#[utoipa::path(
    get,
    path = "/api/forms/{authority}/{unit}",
    params(
        ("authority" = String, Path, description = "The authority's slug", example = "landratsamt-musterhausen"),
        ("unit" = String, Path, description = "The unit's slug", example = "gewerbeamt")
    ),
    responses(
        (status = 200, body = FormPage),
        (status = 404, body = ErrorBody, description = "`form_not_found`")
    )
)]
pub(super) async fn unit_form(
    State(state): State<ApiState>,
    Path((authority, unit)): Path<(String, String)>,
) -> Result<Json<FormPage>, ApiError> {
    form(&state, &format!("{authority}/{unit}"))
}

fn form(state: &ApiState, slug: &str) -> Result<Json<FormPage>, ApiError> {
    state
        .catalog
        .get()
        .form(slug)
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::new(ErrorCode::FormNotFound))
}

/// Send a six-digit code to the citizen's address (3 per hour, 10 per day).
#[utoipa::path(
    post,
    path = "/api/verification/code",
    request_body = CodeRequest,
    responses(
        (status = 202, body = CodeSent),
        (status = "4XX", body = ErrorBody, description = "`email_invalid` (400), `form_not_found` (404), `form_not_available` (409), `too_many_codes` or `rate_limited` (429); or a wrong body: `json_malformed` (400), `json_wrong_content_type` (415), `json_wrong_type` or `json_missing_field` with `field` (422)")
    )
)]
pub(super) async fn request_code(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<CodeRequest>,
) -> Result<(StatusCode, Json<CodeSent>), ApiError> {
    let sent = state.relay()?.request_code(&request).await?;
    Ok((StatusCode::ACCEPTED, Json(sent)))
}

/// Whether the mail with a code came back undeliverable, by the `delivery` of its
/// `CodeSent`: the form then says that the address seems wrong.
#[utoipa::path(
    get,
    path = "/api/verification/delivery/{delivery}",
    params(("delivery" = String, Path, description = "`delivery` from the code request's answer")),
    responses(
        (status = 200, body = CodeDelivery),
        (status = 404, body = ErrorBody, description = "`status_not_found` (unknown, or past the retention)")
    )
)]
pub(super) async fn code_delivery(
    State(state): State<ApiState>,
    Path(delivery): Path<String>,
) -> Result<Json<CodeDelivery>, ApiError> {
    Ok(Json(state.relay()?.code_delivery(&delivery).await?))
}

/// Confirm the code; answers a token bound to the address and the form.
#[utoipa::path(
    post,
    path = "/api/verification/confirm",
    request_body = CodeConfirmation,
    responses(
        (status = 200, body = Token),
        (status = "4XX", body = ErrorBody, description = "`code_wrong` with `attempts_left`, `code_expired` or `email_invalid` (400), `form_not_found` (404), `form_not_available` (409), `code_attempts_exhausted` or `rate_limited` (429); or a wrong body, as for the code request")
    )
)]
pub(super) async fn confirm_code(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<CodeConfirmation>,
) -> Result<Json<Token>, ApiError> {
    Ok(Json(state.relay()?.confirm_code(&request).await?))
}

/// Upload a message for an authority's form: the DER bytes of the EnvelopedData (or
/// AuthEnvelopedData), `Content-Type: application/pkcs7-mime`, at most the form's
/// `max_upload_bytes`, addressed exactly to the form's current certificates.
#[utoipa::path(
    post,
    path = "/api/submissions/{authority}",
    params(
        ("authority" = String, Path, description = "The authority's slug", example = "landratsamt-musterhausen"),
        ("X-Postsiegel-Verification" = Option<String>, Header, description = "The verification token"),
        ("X-Postsiegel-Confirmation" = Option<String>, Header, description = "`1` asks for a confirmation of receipt (an MDN from the authority's mail program), where the portal takes reports"),
        ("X-Postsiegel-Conversation" = Option<String>, Header, description = "The alias of the conversation certificate this message opens (`POST /api/answers/certificate`): the mail's From and Reply-To become the alias")
    ),
    request_body(content = Vec<u8>, content_type = "application/pkcs7-mime"),
    responses(
        (status = 201, body = Accepted),
        (status = 400, body = ErrorBody, description = "`upload_interrupted`"),
        (status = 403, body = ErrorBody, description = "`not_verified`"),
        (status = 404, body = ErrorBody, description = "`form_not_found`"),
        (status = 409, body = ErrorBody, description = "`certificate_changed` (fetch the form and encrypt again), `form_not_available`, `answers_not_offered` or `conversation_unknown` (ask for a new certificate)"),
        (status = 413, body = ErrorBody, description = "`upload_too_large` (with `max_upload_bytes`)"),
        (status = 415, body = ErrorBody, description = "`upload_wrong_content_type`"),
        (status = 422, body = ErrorBody, description = "`upload_empty`, `upload_truncated`, `upload_trailing_bytes`, `upload_not_cms`, `upload_not_der`, `upload_signed_only`, `upload_not_encrypted`, `upload_wrong_algorithm`"),
        (status = 429, body = ErrorBody, description = "`rate_limited`"),
        (status = 503, body = ErrorBody, description = "`queue_full`")
    )
)]
pub(super) async fn submit_to_authority(
    State(state): State<ApiState>,
    Path(authority): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    submit(&state, authority, request).await
}

/// Upload a message for a unit's form (see the authority's).
#[utoipa::path(
    post,
    path = "/api/submissions/{authority}/{unit}",
    params(
        ("authority" = String, Path, description = "The authority's slug", example = "landratsamt-musterhausen"),
        ("unit" = String, Path, description = "The unit's slug", example = "gewerbeamt"),
        ("X-Postsiegel-Verification" = Option<String>, Header, description = "The verification token"),
        ("X-Postsiegel-Confirmation" = Option<String>, Header, description = "`1` asks for a confirmation of receipt (an MDN from the authority's mail program), where the portal takes reports"),
        ("X-Postsiegel-Conversation" = Option<String>, Header, description = "The alias of the conversation this message opens")
    ),
    request_body(content = Vec<u8>, content_type = "application/pkcs7-mime"),
    responses(
        (status = 201, body = Accepted),
        (status = "4XX", body = ErrorBody, description = "as for the authority's form"),
        (status = 503, body = ErrorBody, description = "`queue_full`")
    )
)]
pub(super) async fn submit_to_unit(
    State(state): State<ApiState>,
    Path((authority, unit)): Path<(String, String)>,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    submit(&state, format!("{authority}/{unit}"), request).await
}

async fn submit(
    state: &ApiState,
    form: String,
    request: Request<Body>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let relay = state.relay()?;
    let (parts, body) = request.into_parts();
    let header = |name: &str| text_header(&parts.headers, name);
    let upload = Upload {
        content_type: header(header::CONTENT_TYPE.as_str()),
        token: header(wire::TOKEN_HEADER),
        declared_len: declared_len(&parts.headers),
        receipt_requested: receipt_requested(&parts.headers),
        conversation: header(wire::CONVERSATION_HEADER),
        client: state
            .client_key
            .client_ip(&parts.extensions, &parts.headers),
        body: body.into_data_stream(),
        form,
    };
    let accepted = relay.submit(upload).await?;
    Ok((StatusCode::CREATED, Json(accepted)))
}

/// Write again in a live conversation (from its status page): the upload as for a form
/// (the conversation's form, its current certificates and limit), without verification but
/// signed by the conversation's key over `message_statement(alias, sha256)`, the SHA-256
/// of the body in lower-case hex. The mail comes from the alias, with In-Reply-To and
/// References as the status's `conversation.thread` says.
#[utoipa::path(
    post,
    path = "/api/conversations/{alias}/messages",
    params(
        ("alias" = String, Path, description = "The conversation's alias"),
        ("X-Postsiegel-Signature" = String, Header, description = "base64 of the RSASSA-PKCS1-v1_5 SHA-256 signature over `message_statement`"),
        ("X-Postsiegel-Confirmation" = Option<String>, Header, description = "`1` asks for a confirmation of receipt")
    ),
    request_body(content = Vec<u8>, content_type = "application/pkcs7-mime"),
    responses(
        (status = 201, body = Accepted),
        (status = 403, body = ErrorBody, description = "`signature_invalid` with `field` `signature`"),
        (status = 409, body = ErrorBody, description = "`conversation_unknown` (closed, ended or never opened), `certificate_changed`, `form_not_available` or `answers_not_offered`"),
        (status = "4XX", body = ErrorBody, description = "otherwise as for a form's upload"),
        (status = 503, body = ErrorBody, description = "`queue_full`")
    )
)]
pub(super) async fn continue_conversation(
    State(state): State<ApiState>,
    Path(alias): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let relay = state.relay()?;
    let (parts, body) = request.into_parts();
    let follow_up = FollowUp {
        alias,
        signature: text_header(&parts.headers, wire::SIGNATURE_HEADER),
        content_type: text_header(&parts.headers, header::CONTENT_TYPE.as_str()),
        declared_len: declared_len(&parts.headers),
        receipt_requested: receipt_requested(&parts.headers),
        body: body.into_data_stream(),
    };
    let accepted = relay.continue_conversation(follow_up).await?;
    Ok((StatusCode::CREATED, Json(accepted)))
}

/// A request header's value, if it is text.
fn text_header(headers: &header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The length an upload declares (`Content-Length`), if it does.
fn declared_len(headers: &header::HeaderMap) -> Option<u64> {
    text_header(headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok())
}

/// `X-Postsiegel-Confirmation: 1`: a confirmation of receipt is asked for.
fn receipt_requested(headers: &header::HeaderMap) -> bool {
    text_header(headers, wire::CONFIRMATION_HEADER).as_deref() == Some("1")
}

/// Where a message is: reached with the status token from the receipt.
#[utoipa::path(
    get,
    path = "/api/status/{token}",
    params(("token" = String, Path, description = "The status token")),
    responses(
        (status = 200, body = Status),
        (status = 404, body = ErrorBody, description = "`status_not_found` (unknown, or past the retention)")
    )
)]
pub(super) async fn status(
    State(state): State<ApiState>,
    Path(token): Path<String>,
) -> Result<Json<Status>, ApiError> {
    Ok(Json(state.relay()?.status(&token).await?))
}

pub(super) async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound)
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed)
}

/// The answers CA: where its certificate and CRL are, and its fingerprint.
#[utoipa::path(
    get,
    path = "/api/answers",
    responses(
        (status = 200, body = AnswersInfo),
        (status = 409, body = ErrorBody, description = "`answers_not_offered`: this portal takes no answers")
    )
)]
pub(super) async fn answers(State(state): State<ApiState>) -> Result<Json<AnswersInfo>, ApiError> {
    Ok(Json(state.relay()?.answers_info()?))
}

/// A conversation's certificate for the key in the CSR, for the address the token
/// verified: the browser signs the message with it, and the authority answers to it.
#[utoipa::path(
    post,
    path = "/api/answers/certificate",
    params(
        ("X-Postsiegel-Verification" = Option<String>, Header, description = "The verification token for this form; without it, `not_verified`")
    ),
    request_body = CertificateRequest,
    responses(
        (status = 201, body = ConversationCertificate),
        (status = "4XX", body = ErrorBody, description = "`not_verified` (403), `form_not_found` (404), `answers_not_offered` or `form_not_available` (409), `csr_invalid` or `csr_key_unsuitable` with `field` `csr` (422), `rate_limited` (429); or a wrong body: `json_malformed` (400), `json_wrong_content_type` (415), `json_wrong_type` or `json_missing_field` with `field` (422)")
    )
)]
pub(super) async fn request_certificate(
    State(state): State<ApiState>,
    headers: axum::http::HeaderMap,
    JsonBody(request): JsonBody<CertificateRequest>,
) -> Result<(StatusCode, Json<ConversationCertificate>), ApiError> {
    let token = headers
        .get(wire::TOKEN_HEADER)
        .and_then(|v| v.to_str().ok());
    let issued = state.relay()?.request_certificate(token, &request).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// An answer the authority sent, as the portal received it: the whole mail, still
/// encrypted to the conversation's key (`message/rfc822`). Reached with the status token of
/// the message it answers; fetching it does not count as opening it.
#[utoipa::path(
    get,
    path = "/api/status/{token}/answers/{id}",
    params(
        ("token" = String, Path, description = "The status token"),
        ("id" = String, Path, description = "The answer's `id` from the status")
    ),
    responses(
        (status = 200, content_type = "message/rfc822", description = "The received mail"),
        (status = 404, body = ErrorBody, description = "`status_not_found`, or `answer_not_found` (unknown, or deleted)"),
        (status = 409, body = ErrorBody, description = "`answers_not_offered`")
    )
)]
pub(super) async fn answer_mail(
    State(state): State<ApiState>,
    Path((token, id)): Path<(String, String)>,
) -> Result<([(header::HeaderName, &'static str); 2], Vec<u8>), ApiError> {
    let mail = state.relay()?.answer_mail(&token, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "message/rfc822"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        mail,
    ))
}

/// The citizen's browser decrypted an answer: from the first time, it is kept 30 days
/// more (at most until the conversation ends). Signed by the conversation's key over
/// `opened_statement(alias, id)`; repeating it changes nothing.
#[utoipa::path(
    post,
    path = "/api/conversations/{alias}/answers/{id}/opened",
    params(
        ("alias" = String, Path, description = "The conversation's alias"),
        ("id" = String, Path, description = "The answer's `id`")
    ),
    request_body = SignedRequest,
    responses(
        (status = 204, description = "Recorded"),
        (status = "4XX", body = ErrorBody, description = "`signature_invalid` with `field` `signature` (403), `answer_not_found` (404), `conversation_unknown` (not live) or `answers_not_offered` (409); or a wrong body, as for the code request")
    )
)]
pub(super) async fn answer_opened(
    State(state): State<ApiState>,
    Path((alias, id)): Path<(String, String)>,
    JsonBody(request): JsonBody<SignedRequest>,
) -> Result<StatusCode, ApiError> {
    state.relay()?.answer_opened(&alias, &id, &request).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The citizen closes the conversation early: its answers are deleted now, its
/// certificate revoked (the CRL lists it) and its alias refuses mail. Signed by the
/// conversation's key over `close_statement(alias)`.
#[utoipa::path(
    post,
    path = "/api/conversations/{alias}/close",
    params(("alias" = String, Path, description = "The conversation's alias")),
    request_body = SignedRequest,
    responses(
        (status = 204, description = "Closed"),
        (status = "4XX", body = ErrorBody, description = "`signature_invalid` with `field` `signature` (403), `conversation_unknown` (not live, or closed already) or `answers_not_offered` (409); or a wrong body, as for the code request")
    )
)]
pub(super) async fn close_conversation(
    State(state): State<ApiState>,
    Path(alias): Path<String>,
    JsonBody(request): JsonBody<SignedRequest>,
) -> Result<StatusCode, ApiError> {
    state.relay()?.close_conversation(&alias, &request).await?;
    Ok(StatusCode::NO_CONTENT)
}
