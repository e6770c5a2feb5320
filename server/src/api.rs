//! The JSON API under `/api`, described at `/api/openapi.json`. Errors are
//! `{code, field, params}` with stable codes that the app words in the citizen's language.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tower_http::timeout::TimeoutLayer;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::directory::catalog::{
    AuthorityInfo, Catalog, Contact, Delivery, Embed, FormPage, PolicyInfo, Privacy,
    PublishedCertificate, Reason, SearchHit, UnitInfo,
};
use crate::relay::submission::Accepted;
use crate::relay::verification::{TOKEN_HEADER, VerifyError};
use crate::relay::{Relay, limits};
use crate::store::SubmissionState;

/// The catalog in use; replaced whole when the directory changes.
pub type SharedCatalog = Arc<RwLock<Arc<Catalog>>>;

#[derive(Clone)]
pub struct ApiState {
    pub catalog: SharedCatalog,
    /// The portal runs on the generated demo directory.
    pub demo: bool,
    /// Verification, submissions and status; absent in tests of the directory alone.
    pub relay: Option<Arc<Relay>>,
}

impl ApiState {
    pub fn new(catalog: Catalog, demo: bool) -> ApiState {
        ApiState {
            catalog: Arc::new(RwLock::new(Arc::new(catalog))),
            demo,
            relay: None,
        }
    }

    fn relay(&self) -> Result<&Relay, ApiError> {
        self.relay
            .as_deref()
            .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "relay_unavailable"))
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

pub const MAX_QUERY_CHARS: usize = 100;
pub const MAX_SEARCH_LIMIT: usize = 50;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Postsiegel",
        description = "A secure contact form for public authorities: the browser encrypts, \
                       the server relays S/MIME mail."
    ),
    paths(health, portal, search, authority_form, unit_form),
    components(schemas(
        ApiError,
        Health,
        Portal,
        SearchResult,
        SearchHit,
        FormPage,
        Reason,
        AuthorityInfo,
        UnitInfo,
        Contact,
        Delivery,
        PublishedCertificate,
        PolicyInfo,
        Embed,
        Privacy
    ))
)]
pub struct ApiDoc;

pub fn router(state: ApiState) -> Router {
    let mut codes = Router::new().route("/verification/code", post(request_code));
    // An upload of 25 MB over a poor mobile connection takes minutes; nothing else should.
    let mut submissions = Router::new()
        .route("/submissions/{authority}", post(submit_to_authority))
        .route("/submissions/{authority}/{unit}", post(submit_to_unit))
        .layer(DefaultBodyLimit::disable())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(15 * 60),
        ));
    if let Some(relay) = &state.relay {
        codes = codes.layer(limits::layer(relay.limits.codes, relay.client_key.clone()));
        submissions = submissions.layer(limits::layer(
            relay.limits.submissions,
            relay.client_key.clone(),
        ));
    }
    let mut api = Router::new()
        .route("/health", get(health))
        .route("/portal", get(portal))
        .route("/forms", get(search))
        .route("/forms/{authority}", get(authority_form))
        .route("/forms/{authority}/{unit}", get(unit_form))
        .route("/openapi.json", get(openapi))
        .route("/verification/confirm", post(confirm_code))
        .route("/status/{token}", get(status))
        .merge(codes)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .merge(submissions)
        .with_state(state.clone())
        .fallback(not_found);
    if let Some(relay) = &state.relay {
        api = api.layer(limits::layer(relay.limits.api, relay.client_key.clone()));
    }
    api
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[derive(Serialize, ToSchema)]
struct Health {
    status: &'static str,
    version: &'static str,
}

/// Whether the server is up.
#[utoipa::path(get, path = "/api/health", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Serialize, ToSchema)]
struct Portal {
    /// The portal runs on generated demo data: nothing sent reaches a real authority.
    demo: bool,
    /// How many forms are offered now.
    forms_offered: usize,
    /// The trust anchors (PEM), at a path whose name carries their hash.
    trust_anchors: String,
}

/// What the app needs to know about the portal itself.
#[utoipa::path(get, path = "/api/portal", responses((status = 200, body = Portal)))]
async fn portal(State(state): State<ApiState>) -> Json<Portal> {
    let catalog = state.catalog();
    Json(Portal {
        demo: state.demo,
        forms_offered: catalog.offered,
        trust_anchors: format!("/trust/{}", catalog.trust_anchors.file_name),
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchParams {
    /// Words of a name, unit, place or postal code; case and umlaut spelling are ignored.
    q: Option<String>,
    /// At most this many hits (default 10, at most 50).
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
struct SearchResult {
    hits: Vec<SearchHit>,
    /// How many forms matched in all.
    total: usize,
}

/// Search the forms that are offered, as the citizen types.
#[utoipa::path(
    get,
    path = "/api/forms",
    params(SearchParams),
    responses(
        (status = 200, body = SearchResult),
        (status = 400, body = ApiError, description = "`search_query_empty`, `search_query_too_long` or `search_query_invalid`")
    )
)]
async fn search(
    State(state): State<ApiState>,
    params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SearchResult>, ApiError> {
    let Ok(Query(params)) = params else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "search_query_invalid",
        ));
    };
    let query = params.q.unwrap_or_default();
    let query = query.trim();
    if query.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "search_query_empty").field("q"));
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "search_query_too_long")
                .field("q")
                .param("max", MAX_QUERY_CHARS.into()),
        );
    }
    let limit = params.limit.unwrap_or(10).clamp(1, MAX_SEARCH_LIMIT);
    let (hits, total) = state.catalog().search(query, limit);
    Ok(Json(SearchResult { hits, total }))
}

/// An authority's form, offered or not (then with the reasons and other contact ways).
#[utoipa::path(
    get,
    path = "/api/forms/{authority}",
    params(("authority" = String, Path, description = "The authority's slug")),
    responses(
        (status = 200, body = FormPage),
        (status = 404, body = ApiError, description = "`form_not_found`")
    )
)]
async fn authority_form(
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
        ("authority" = String, Path, description = "The authority's slug"),
        ("unit" = String, Path, description = "The unit's slug")
    ),
    responses(
        (status = 200, body = FormPage),
        (status = 404, body = ApiError, description = "`form_not_found`")
    )
)]
async fn unit_form(
    State(state): State<ApiState>,
    Path((authority, unit)): Path<(String, String)>,
) -> Result<Json<FormPage>, ApiError> {
    form(&state, &format!("{authority}/{unit}"))
}

fn form(state: &ApiState, slug: &str) -> Result<Json<FormPage>, ApiError> {
    state
        .catalog()
        .form(slug)
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "form_not_found"))
}

fn now() -> u64 {
    crate::directory::refresh::unix_now()
}

fn offered_form(state: &ApiState, slug: &str) -> Result<FormPage, ApiError> {
    let form = state
        .catalog()
        .form(slug)
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "form_not_found"))?;
    if !form.available {
        return Err(ApiError::new(StatusCode::CONFLICT, "form_not_available"));
    }
    Ok(form)
}

fn verify_error(error: VerifyError) -> ApiError {
    match error {
        VerifyError::AddressInvalid => {
            ApiError::new(StatusCode::BAD_REQUEST, "email_invalid").field("address")
        }
        VerifyError::TooManyCodes { retry_after } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_codes")
                .field("address")
                .param("retry_after_seconds", retry_after.into())
        }
        VerifyError::CodeExpired => {
            ApiError::new(StatusCode::BAD_REQUEST, "code_expired").field("code")
        }
        VerifyError::CodeWrong { attempts_left } => {
            ApiError::new(StatusCode::BAD_REQUEST, "code_wrong")
                .field("code")
                .param("attempts_left", attempts_left.into())
        }
        VerifyError::AttemptsExhausted => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "code_attempts_exhausted").field("code")
        }
        VerifyError::Store(e) => {
            tracing::error!("verification: {e}");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
        }
    }
}

#[derive(Deserialize, ToSchema)]
struct CodeRequest {
    /// The form's slug (`authority` or `authority/unit`).
    form: String,
    address: String,
}

#[derive(Serialize, ToSchema)]
struct CodeSent {
    /// How long the code is valid.
    valid_seconds: u64,
}

/// Send a six-digit code to the citizen's address (3 per hour, 10 per day).
#[utoipa::path(
    post,
    path = "/api/verification/code",
    request_body = CodeRequest,
    responses(
        (status = 202, body = CodeSent),
        (status = 400, body = ApiError, description = "`email_invalid`"),
        (status = 404, body = ApiError, description = "`form_not_found`"),
        (status = 429, body = ApiError, description = "`too_many_codes`")
    )
)]
async fn request_code(
    State(state): State<ApiState>,
    Json(request): Json<CodeRequest>,
) -> Result<(StatusCode, Json<CodeSent>), ApiError> {
    let relay = state.relay()?;
    let form = offered_form(&state, &request.form)?;
    relay
        .verifier
        .request_code(&request.address, &form.slug, now())
        .await
        .map_err(verify_error)?;
    relay.queue.wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(CodeSent {
            valid_seconds: crate::relay::verification::CODE_VALID_SECONDS,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
struct CodeConfirmation {
    form: String,
    address: String,
    code: String,
    /// Remember the address for 30 days (off unless the citizen ticks it).
    #[serde(default)]
    remember: bool,
}

#[derive(Serialize, ToSchema)]
struct Token {
    /// Send it in the `X-Postsiegel-Verification` header with the submission.
    token: String,
    /// Seconds since the Unix epoch.
    expires_at: u64,
    address: String,
}

/// Confirm the code; answers a token bound to the address and the form.
#[utoipa::path(
    post,
    path = "/api/verification/confirm",
    request_body = CodeConfirmation,
    responses(
        (status = 200, body = Token),
        (status = 400, body = ApiError, description = "`code_wrong` (with `attempts_left`), `code_expired`, `email_invalid`"),
        (status = 429, body = ApiError, description = "`code_attempts_exhausted`")
    )
)]
async fn confirm_code(
    State(state): State<ApiState>,
    Json(request): Json<CodeConfirmation>,
) -> Result<Json<Token>, ApiError> {
    let relay = state.relay()?;
    let form = offered_form(&state, &request.form)?;
    let (token, verified) = relay
        .verifier
        .confirm(
            &request.address,
            &form.slug,
            &request.code,
            request.remember,
            now(),
        )
        .await
        .map_err(verify_error)?;
    Ok(Json(Token {
        token,
        expires_at: verified.expires_at,
        address: verified.address,
    }))
}

/// Upload a message for an authority's form: the DER bytes of the EnvelopedData (or
/// AuthEnvelopedData), `Content-Type: application/pkcs7-mime`, at most the form's
/// `max_upload_bytes`, addressed exactly to the form's current certificates.
#[utoipa::path(
    post,
    path = "/api/submissions/{authority}",
    params(
        ("authority" = String, Path, description = "The authority's slug"),
        ("X-Postsiegel-Verification" = Option<String>, Header, description = "The verification token")
    ),
    request_body(content = Vec<u8>, content_type = "application/pkcs7-mime"),
    responses(
        (status = 201, body = Accepted),
        (status = 403, body = ApiError, description = "`not_verified`"),
        (status = 404, body = ApiError, description = "`form_not_found`"),
        (status = 409, body = ApiError, description = "`certificate_changed` (fetch the form and encrypt again) or `form_not_available`"),
        (status = 413, body = ApiError, description = "`upload_too_large`"),
        (status = 415, body = ApiError, description = "`upload_wrong_content_type`"),
        (status = 422, body = ApiError, description = "`upload_empty`, `upload_truncated`, `upload_trailing_bytes`, `upload_not_cms`, `upload_not_der`, `upload_signed_only`, `upload_not_encrypted`, `upload_wrong_algorithm`"),
        (status = 503, body = ApiError, description = "`queue_full`")
    )
)]
async fn submit_to_authority(
    State(state): State<ApiState>,
    Path(authority): Path<String>,
    request: axum::extract::Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let (parts, body) = request.into_parts();
    submit(&state, &authority, &parts.extensions, &parts.headers, body).await
}

/// Upload a message for a unit's form (see the authority's).
#[utoipa::path(
    post,
    path = "/api/submissions/{authority}/{unit}",
    params(
        ("authority" = String, Path, description = "The authority's slug"),
        ("unit" = String, Path, description = "The unit's slug"),
        ("X-Postsiegel-Verification" = Option<String>, Header, description = "The verification token")
    ),
    request_body(content = Vec<u8>, content_type = "application/pkcs7-mime"),
    responses((status = 201, body = Accepted))
)]
async fn submit_to_unit(
    State(state): State<ApiState>,
    Path((authority, unit)): Path<(String, String)>,
    request: axum::extract::Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let (parts, body) = request.into_parts();
    let slug = format!("{authority}/{unit}");
    submit(&state, &slug, &parts.extensions, &parts.headers, body).await
}

async fn submit(
    state: &ApiState,
    slug: &str,
    extensions: &axum::http::Extensions,
    headers: &HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let relay = state.relay()?;
    let form = offered_form(state, slug)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/pkcs7-mime") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "upload_wrong_content_type",
        ));
    }
    let now = now();
    let verified = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|token| relay.verifier.check_token(token, &form.slug, now));
    let needs_verification = form.policy.as_ref().is_none_or(|p| p.verify_email);
    if needs_verification && verified.is_none() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "not_verified"));
    }
    if !needs_verification {
        relay
            .unverified
            .check(relay.client_key.client_ip(extensions, headers))?;
    }
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let accepted = relay
        .queue
        .accept(&form, verified.as_ref(), declared_len, body, now)
        .await?;
    Ok((StatusCode::CREATED, Json(accepted)))
}

#[derive(Serialize, ToSchema)]
struct Status {
    receipt: String,
    /// `queued`, `delivered` (handed to the authority's mailbox; never "read") or `failed`.
    state: &'static str,
    /// RFC 3339.
    accepted_at: String,
    /// When it was handed to the mailbox, or when it failed.
    finished_at: Option<String>,
    failure: Option<Failure>,
}

#[derive(Serialize, ToSchema)]
struct Failure {
    /// `delivery_refused` (the mail server refused it) or `delivery_timed_out`.
    code: &'static str,
    /// The mail server's answer, for the authority's IT.
    detail: String,
}

/// Where a message is: reached with the status token from the receipt.
#[utoipa::path(
    get,
    path = "/api/status/{token}",
    params(("token" = String, Path, description = "The status token")),
    responses(
        (status = 200, body = Status),
        (status = 404, body = ApiError, description = "`status_not_found` (unknown, or past the retention)")
    )
)]
async fn status(
    State(state): State<ApiState>,
    Path(token): Path<String>,
) -> Result<Json<Status>, ApiError> {
    let relay = state.relay()?;
    let submission = relay
        .queue
        .store
        .submission_by_status_token(&crate::relay::submission::token_hash(&token))
        .await
        .map_err(|e| {
            tracing::error!("status: {e}");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
        })?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "status_not_found"))?;
    let time = crate::directory::catalog::rfc3339;
    Ok(Json(Status {
        state: match submission.state {
            SubmissionState::Queued => "queued",
            SubmissionState::Delivered => "delivered",
            SubmissionState::Failed => "failed",
        },
        accepted_at: time(submission.accepted_at),
        finished_at: submission.finished_at.map(time),
        failure: (submission.state == SubmissionState::Failed).then(|| Failure {
            code: if submission
                .last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("not delivered within"))
            {
                "delivery_timed_out"
            } else {
                "delivery_refused"
            },
            detail: submission.last_error.clone().unwrap_or_default(),
        }),
        receipt: submission.receipt,
    }))
}

/// The body of every API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    /// Stable, e.g. `form_not_found`; the app words it in the citizen's language.
    pub code: &'static str,
    /// The request field the error is about, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    pub status: StatusCode,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str) -> ApiError {
        ApiError {
            code,
            field: None,
            params: serde_json::Map::new(),
            status,
        }
    }

    pub fn field(mut self, field: &'static str) -> ApiError {
        self.field = Some(field);
        self
    }

    pub fn param(mut self, name: &str, value: serde_json::Value) -> ApiError {
        self.params.insert(name.to_owned(), value);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found")
}
