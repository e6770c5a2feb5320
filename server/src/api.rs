//! The JSON API under `/api`, described at `/api/openapi.json`. Errors are
//! `{code, field, params}` with stable codes that the app words in the citizen's language.

use std::sync::{Arc, RwLock};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::directory::catalog::{
    AuthorityInfo, Catalog, Contact, Delivery, Embed, FormPage, PolicyInfo, PublishedCertificate,
    Reason, SearchHit, UnitInfo,
};

/// The catalog in use; replaced whole when the directory changes.
pub type SharedCatalog = Arc<RwLock<Arc<Catalog>>>;

#[derive(Clone)]
pub struct ApiState {
    pub catalog: SharedCatalog,
    /// The portal runs on the generated demo directory.
    pub demo: bool,
}

impl ApiState {
    pub fn new(catalog: Catalog, demo: bool) -> ApiState {
        ApiState {
            catalog: Arc::new(RwLock::new(Arc::new(catalog))),
            demo,
        }
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
        Embed
    ))
)]
pub struct ApiDoc;

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/portal", get(portal))
        .route("/forms", get(search))
        .route("/forms/{authority}", get(authority_form))
        .route("/forms/{authority}/{unit}", get(unit_form))
        .route("/openapi.json", get(openapi))
        .with_state(state)
        .fallback(not_found)
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
