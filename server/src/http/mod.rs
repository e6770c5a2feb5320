//! The HTTP edge: the app's static files with their security headers, and the JSON API.
//! Requests come in here and leave as the domain's answers; every refusal is shaped in
//! `error.rs`, every JSON body read in `json.rs`. Below this module nothing knows HTTP.

pub mod api;
pub mod error;
mod help;
pub mod json;
pub mod limits;
pub mod openapi;
pub mod serve;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;
use wire::ErrorCode;

pub use api::ApiState;
use error::ApiError;
use openapi::ApiDoc;
use web::Frontend;

/// The whole site: `/api`, the trust anchors, and the app with deep links.
pub fn router(frontend: Frontend, api: ApiState) -> Router {
    let frontend = Arc::new(frontend);
    let static_files = ServeDir::new(&frontend.dist_dir)
        .fallback(axum::routing::get(web::deep_link).with_state(frontend.clone()));
    // The page itself always comes from memory (it may carry the demo banner).
    let page = axum::routing::get(web::deep_link).with_state(frontend.clone());
    Router::new()
        .route("/", page.clone())
        .route("/index.html", page)
        .route(
            "/trust/{file}",
            axum::routing::get(web::trust_anchors).with_state(api.clone()),
        )
        .route(
            "/antworten",
            axum::routing::get(help::answers_help).with_state((frontend.clone(), api.clone())),
        )
        .route(
            crate::answers::CA_PATH,
            axum::routing::get(web::answers_ca).with_state(api.clone()),
        )
        .route(
            crate::answers::CRL_PATH,
            axum::routing::get(web::answers_crl).with_state(api.clone()),
        )
        .nest(
            "/api",
            api_router(api.clone()).layer(middleware::from_fn(error_contract)),
        )
        .fallback_service(static_files)
        .layer(middleware::from_fn_with_state(
            (frontend.clone(), api.clone()),
            web::security_headers,
        ))
        .layer(CompressionLayer::new())
}

fn api_router(state: ApiState) -> Router {
    let mut codes = Router::new().route("/verification/code", post(api::request_code));
    let mut confirmations = Router::new().route("/verification/confirm", post(api::confirm_code));
    let mut certificates =
        Router::new().route("/answers/certificate", post(api::request_certificate));
    // An upload of 25 MB over a poor mobile connection takes minutes; nothing else should.
    let mut submissions = Router::new()
        .route("/submissions/{authority}", post(api::submit_to_authority))
        .route("/submissions/{authority}/{unit}", post(api::submit_to_unit))
        .route(
            "/conversations/{alias}/messages",
            post(api::continue_conversation),
        )
        .layer(DefaultBodyLimit::disable())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(15 * 60),
        ));
    let with_relay = state.relay.is_some();
    if with_relay {
        let key = &state.client_key;
        codes = limits::limited(codes, state.limits.codes, key.clone());
        confirmations = limits::limited(confirmations, state.limits.confirmations, key.clone());
        // As many as codes can be confirmed: each certificate needs a verified address.
        certificates = limits::limited(certificates, state.limits.confirmations, key.clone());
        submissions = limits::limited(submissions, state.limits.submissions, key.clone());
    }
    let mut api = Router::new()
        .route("/health", get(api::health))
        .route("/portal", get(api::portal))
        .route("/forms", get(api::search))
        .route("/forms/{authority}", get(api::authority_form))
        .route("/forms/{authority}/{unit}", get(api::unit_form))
        .route("/openapi.json", get(openapi_document))
        .route("/status/{token}", get(api::status))
        .route("/verification/delivery/{delivery}", get(api::code_delivery))
        .route("/answers", get(api::answers))
        .route("/status/{token}/answers/{id}", get(api::answer_mail))
        .route(
            "/conversations/{alias}/answers/{id}/opened",
            post(api::answer_opened),
        )
        .route(
            "/conversations/{alias}/close",
            post(api::close_conversation),
        )
        .merge(codes)
        .merge(confirmations)
        .merge(certificates)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .merge(submissions)
        .with_state(state.clone())
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed);
    if with_relay {
        api = limits::limited(api, state.limits.api, state.client_key.clone());
    }
    api
}

async fn openapi_document() -> Json<utoipa::openapi::OpenApi> {
    Json(<ApiDoc as utoipa::OpenApi>::openapi())
}

/// Error answers that no handler wrote (a timeout, a rejection by a layer or an extractor
/// of axum's) get the API's shape too, with their status kept.
async fn error_contract(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let code = match status.as_u16() {
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        408 => ErrorCode::RequestTimeout,
        413 => ErrorCode::RequestTooLarge,
        400..=499 => ErrorCode::RequestInvalid,
        _ => ErrorCode::InternalError,
    };
    let mut refusal = ApiError::new(code);
    refusal.status = status;
    refusal.into_response()
}
