//! The metadata service under `/Metadata` (`DataEntities`, `PublicEntities`,
//! `PublicEnumerations`, `Labels`) and the CSDL document `/data/$metadata`.
//!
//! All of it reads the [`Catalogue`](crate::metadata::Catalogue) built at
//! start-up; nothing here touches rows.

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value as Json, json};

use super::{AppState, base_url, odata_json};
use crate::SimError;
use crate::metadata::{query, records};
use crate::odata::QueryOptions;
use crate::odata::ast::Literal;
use crate::odata::key::{KeySpec, parse_key};

/// The collections of the metadata service, in its service-document order.
const COLLECTIONS: [&str; 4] = [
    "Labels",
    "DataEntities",
    "PublicEntities",
    "PublicEnumerations",
];

/// Message D365FO sends for `Labels` without both key parts.
const LABEL_KEY_REQUIRED: &str =
    "The label id and language must be provided as part of the key segment.";

/// `GET /data/$metadata`.
pub(super) async fn edmx(State(state): State<Arc<AppState>>) -> Response {
    let mut response = (StatusCode::OK, state.catalogue.edmx.clone()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    headers.insert("odata-version", HeaderValue::from_static("4.0"));
    response
}

/// `GET /Metadata`: the metadata service document.
pub(super) async fn service_document(
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let base = base_url(&headers, &uri);
    let value: Vec<Json> = COLLECTIONS
        .iter()
        .map(|c| json!({"name": c, "kind": "EntitySet", "url": c}))
        .collect();
    odata_json(
        json!({"@odata.context": format!("{base}/Metadata/$metadata"), "value": value}).to_string(),
    )
}

/// `GET /Metadata/…`.
pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    match read(&state, &base_url(&headers, &uri), &uri) {
        Ok(body) => odata_json(body.to_string()),
        Err(e) => e.into_response(),
    }
}

fn read(state: &AppState, base: &str, uri: &axum::http::Uri) -> Result<Json, SimError> {
    let rest = uri.path().strip_prefix("/Metadata/").unwrap_or_default();
    let segment = percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| SimError::InvalidKey("Bad Request - Error in query syntax.".to_owned()))?;
    let segment = segment.trim_end_matches('/');
    if segment.contains('/') {
        return Err(SimError::NoResource(format!("{base}{uri}")));
    }
    let (name, key) = match segment.split_once('(') {
        Some((name, k)) => {
            let inner = k.strip_suffix(')').ok_or_else(|| {
                SimError::InvalidKey("Bad Request - Error in query syntax.".to_owned())
            })?;
            (name, Some(parse_key(inner)?))
        }
        None => (segment, None),
    };
    if !COLLECTIONS.contains(&name) {
        return Err(SimError::SegmentNotFound(name.to_owned()));
    }
    let opts = QueryOptions::parse(uri.query())?;
    let context = format!("{base}/Metadata/$metadata#{name}");
    if name == "Labels" {
        return label(state, &context, key.as_ref());
    }
    let singular = match name {
        "DataEntities" => "DataEntity",
        "PublicEntities" => "PublicEntity",
        _ => "PublicEnumeration",
    };
    let type_name = format!("Microsoft.Dynamics.Metadata.{singular}");
    match key {
        None => {
            let all = records::collection(&state.catalogue, name).unwrap_or_default();
            let (rows, count) = query::apply(&opts, &type_name, all)?;
            let mut out = Map::new();
            out.insert("@odata.context".into(), Json::String(context));
            if let Some(n) = count {
                out.insert("@odata.count".into(), Json::from(n));
            }
            out.insert("value".into(), Json::Array(rows));
            Ok(Json::Object(out))
        }
        Some(spec) => {
            let key = match &spec {
                KeySpec::Single(Literal::Str(s)) => s.clone(),
                KeySpec::Named(pairs) => match pairs.as_slice() {
                    [(k, Literal::Str(s))] if k == "Name" => s.clone(),
                    _ => {
                        return Err(SimError::InvalidKey(
                            "Bad Request - Error in query syntax.".to_owned(),
                        ));
                    }
                },
                _ => {
                    return Err(SimError::InvalidKey(
                        "Bad Request - Error in query syntax.".to_owned(),
                    ));
                }
            };
            let record = records::single(&state.catalogue, name, &key)
                .ok_or_else(|| SimError::EntityNotFound(name.to_owned()))?;
            // Only $select applies to a single record.
            let select_only = QueryOptions {
                select: opts.select.clone(),
                ..QueryOptions::default()
            };
            let (mut rows, _) = query::apply(&select_only, &type_name, vec![record])?;
            let mut out = Map::new();
            out.insert(
                "@odata.context".into(),
                Json::String(format!("{context}/$entity")),
            );
            if let Some(Json::Object(fields)) = rows.pop() {
                out.extend(fields);
            }
            Ok(Json::Object(out))
        }
    }
}

/// `Labels(Id='…',Language='…')`.
fn label(state: &AppState, context: &str, key: Option<&KeySpec>) -> Result<Json, SimError> {
    let required = || SimError::InvalidKey(LABEL_KEY_REQUIRED.to_owned());
    let Some(KeySpec::Named(pairs)) = key else {
        return Err(required());
    };
    let part = |name: &str| {
        pairs.iter().find_map(|(k, v)| match v {
            Literal::Str(s) if k.eq_ignore_ascii_case(name) => Some(s.as_str()),
            _ => None,
        })
    };
    let (Some(id), Some(language)) = (part("Id"), part("Language")) else {
        return Err(required());
    };
    let (language, value) = state
        .catalogue
        .labels
        .get(id, language)
        .ok_or(SimError::LabelNotFound)?;
    Ok(json!({
        "@odata.context": format!("{context}/$entity"),
        "Id": id,
        "Language": language,
        "Value": value,
    }))
}
