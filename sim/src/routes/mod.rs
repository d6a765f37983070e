//! The HTTP adapter: URL shapes of the D365FO `/data` endpoint mapped onto
//! the data set and the OData engine.
//!
//! Paths are parsed from the raw request URI, one percent-decoded segment at
//! a time, because entity keys (`CustomersV3(dataAreaId='usmf',…)`) arrive
//! with quotes, commas and even `/` percent-encoded by clients.

mod actions;
mod batch;
mod entities;
mod expand;
mod metadata;
mod reports;
mod services;
mod write;

use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use percent_encoding::percent_decode_str;

use crate::data::Dataset;
use crate::{SimConfig, SimError};

/// Shared, read-only state of one simulator.
#[derive(Debug)]
pub(crate) struct AppState {
    pub config: SimConfig,
    pub data: Dataset,
    /// `config.default_company`, lower-cased once.
    pub company: String,
    /// What `/Metadata` and `/data/$metadata` describe, built once.
    pub catalogue: crate::metadata::Catalogue,
    /// Service updates applied through `POST /_sim/upgrade`: each one
    /// changes a module version, so `GetInstalledModules` answers a new
    /// environment version.
    pub upgrades: Arc<std::sync::atomic::AtomicU32>,
}

impl AppState {
    pub fn new(
        config: SimConfig,
        data: Dataset,
        upgrades: Arc<std::sync::atomic::AtomicU32>,
    ) -> Self {
        let company = config.default_company.to_lowercase();
        let catalogue = crate::metadata::Catalogue::build(&data);
        Self {
            config,
            data,
            company,
            catalogue,
            upgrades,
        }
    }
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    routes()
        .route("/data/$batch", post(batch::post))
        .with_state(state)
}

/// The router a `$batch` runs its parts through: every route but `$batch`
/// itself, which answers that a batch may not hold a batch. Nesting can
/// thus never recurse.
pub(crate) fn part_router(state: Arc<AppState>) -> Router {
    routes()
        .route("/data/$batch", any(batch::nested))
        .with_state(state)
}

/// Runs `work` on the blocking pool and answers with its response: for
/// handlers that scan, sort or render many rows, or wait on a lock a long
/// read may hold, so the async workers stay free for other requests.
pub(crate) async fn blocking(work: impl FnOnce() -> Response + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "a blocking request handler failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/data", get(service_document))
        .route("/data/", get(service_document))
        .route(
            "/data/{*rest}",
            get(entities::get)
                .post(write::post)
                .patch(write::change)
                .put(write::change)
                .delete(write::change),
        )
        .route("/data/$metadata", get(metadata::edmx))
        .route("/Metadata", get(metadata::service_document))
        .route("/Metadata/", get(metadata::service_document))
        .route("/Metadata/{*rest}", get(metadata::get))
        .route("/api/services", get(services::get))
        .route("/api/services/", get(services::get))
        .route(
            "/api/services/{*rest}",
            get(services::get).post(services::post),
        )
        .fallback(fallback)
}

/// `http://{host}` of the request, for absolute links the client follows
/// and the audience a token must name. HTTP/1.1 sends the host in `Host`;
/// HTTP/2 sends it as `:authority`, which arrives as the URI's authority.
pub(crate) fn base_url(headers: &HeaderMap, uri: &Uri) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .or_else(|| {
            // Never userinfo: links name only host and port.
            let authority = uri.authority()?.as_str();
            authority.rsplit('@').next()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|s| *s == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

/// The request's absolute URL, as D365FO quotes it in 404 messages. (An
/// HTTP/2 request's URI is already absolute; only its path is appended.)
pub(crate) fn request_url(headers: &HeaderMap, uri: &Uri) -> String {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{}{path}", base_url(headers, uri))
}

/// The decoded path segments after `/data/` (empty ones dropped).
pub(crate) fn data_segments(path: &str) -> Result<Vec<String>, SimError> {
    let rest = path.strip_prefix("/data").unwrap_or(path);
    rest.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|d| d.into_owned())
                .map_err(|_| {
                    SimError::InvalidKey("Bad Request - Error in query syntax.".to_owned())
                })
        })
        .collect()
}

/// A 200 OData JSON response.
pub(crate) fn odata_json(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(
            "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8",
        ),
    );
    headers.insert("odata-version", HeaderValue::from_static("4.0"));
    response
}

async fn service_document(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let base = base_url(&headers, &uri);
    let mut out = String::with_capacity(128 + state.data.names().len() * 64);
    out.push_str("{\"@odata.context\":");
    crate::json::push_str(&mut out, &format!("{base}/data/$metadata"));
    out.push_str(",\"value\":[");
    for (i, name) in state.data.names().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        crate::json::push_str(&mut out, name);
        out.push_str(",\"kind\":\"EntitySet\",\"url\":");
        crate::json::push_str(&mut out, name);
        out.push('}');
    }
    out.push_str("]}");
    odata_json(out)
}

async fn fallback(headers: HeaderMap, OriginalUri(uri): OriginalUri) -> SimError {
    SimError::NoResource(request_url(&headers, &uri))
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod http_tests;

#[cfg(test)]
#[path = "blocking_tests.rs"]
mod blocking_tests;
