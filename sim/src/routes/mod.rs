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
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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
}

impl AppState {
    pub fn new(config: SimConfig, data: Dataset) -> Self {
        let company = config.default_company.to_lowercase();
        let catalogue = crate::metadata::Catalogue::build(&data);
        Self {
            config,
            data,
            company,
            catalogue,
        }
    }
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/data", get(service_document))
        .route("/data/", get(service_document))
        .route("/data/$batch", post(batch::post))
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
        .with_state(state)
}

/// `http://{host}` of the request, for absolute links the client follows.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|s| *s == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
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

async fn service_document(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let base = base_url(&headers);
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
    SimError::NoResource(format!("{}{}", base_url(&headers), uri))
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod http_tests;
