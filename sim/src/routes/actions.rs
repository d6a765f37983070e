//! OData actions. This version serves the read-only version actions the
//! worker uses to key its metadata cache.

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::{AppState, base_url, data_segments, odata_json};
use crate::{SimError, json};

/// Namespace of D365FO's bound actions.
const NS: &str = "Microsoft.Dynamics.DataEntities.";

/// Application release reported by `GetApplicationVersion`.
pub const APPLICATION_VERSION: &str = "10.0.41";
/// Build of the application modules (`GetApplicationBuildVersion`).
pub const APPLICATION_BUILD: &str = "10.0.2015.54";
/// Platform build reported by `GetPlatformBuildVersion`.
pub const PLATFORM_BUILD: &str = "7.0.7367.49";

/// Installed modules: name, display name, version, publisher.
const MODULES: &[(&str, &str, &str, &str)] = &[
    (
        "AccountsPayableMobile",
        "Accounts Payable Mobile",
        APPLICATION_BUILD,
        "Microsoft Corporation",
    ),
    (
        "ApplicationCommon",
        "Application Common",
        APPLICATION_BUILD,
        "Microsoft Corporation",
    ),
    (
        "ApplicationFoundation",
        "Application Foundation",
        PLATFORM_BUILD,
        "Microsoft Corporation",
    ),
    (
        "ApplicationPlatform",
        "Application Platform",
        PLATFORM_BUILD,
        "Microsoft Corporation",
    ),
    (
        "ApplicationSuite",
        "Application Suite",
        APPLICATION_BUILD,
        "Microsoft Corporation",
    ),
    (
        "Directory",
        "Directory",
        PLATFORM_BUILD,
        "Microsoft Corporation",
    ),
    (
        "Dimensions",
        "Dimensions",
        APPLICATION_BUILD,
        "Microsoft Corporation",
    ),
    (
        "GeneralLedger",
        "General Ledger",
        APPLICATION_BUILD,
        "Microsoft Corporation",
    ),
    (
        "Ledger",
        "Ledger",
        APPLICATION_BUILD,
        "Microsoft Corporation",
    ),
    (
        "SourceDocumentation",
        "Source Documentation",
        APPLICATION_BUILD,
        "Microsoft Corporation",
    ),
    ("Tax", "Tax", APPLICATION_BUILD, "Microsoft Corporation"),
];

/// The `GetInstalledModules` entries, in D365FO's
/// `Name: … | Version: … | Module: … | Publisher: … | DisplayName: …` form.
pub fn installed_modules() -> Vec<String> {
    MODULES
        .iter()
        .map(|(name, display, version, publisher)| {
            format!("Name: {name} | Version: {version} | Module: {name} | Publisher: {publisher} | DisplayName: {display}")
        })
        .collect()
}

fn string_result(base: &str, value: &str) -> String {
    let mut out = String::with_capacity(128);
    out.push_str("{\"@odata.context\":");
    json::push_str(&mut out, &format!("{base}/data/$metadata#Edm.String"));
    out.push_str(",\"value\":");
    json::push_str(&mut out, value);
    out.push('}');
    out
}

fn collection_result(base: &str, values: &[String]) -> String {
    let mut out = String::with_capacity(128 + values.len() * 128);
    out.push_str("{\"@odata.context\":");
    json::push_str(
        &mut out,
        &format!("{base}/data/$metadata#Collection(Edm.String)"),
    );
    out.push_str(",\"value\":[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::push_str(&mut out, v);
    }
    out.push_str("]}");
    out
}

/// `POST /data/{Set}/Microsoft.Dynamics.DataEntities.{Action}`.
pub(super) async fn post(
    State(_state): State<Arc<AppState>>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let base = base_url(&headers);
    let segments = match data_segments(uri.path()) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let body = match segments
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["DataManagementEntities", action] => match action.strip_prefix(NS) {
            Some("GetApplicationVersion") => string_result(&base, APPLICATION_VERSION),
            Some("GetApplicationBuildVersion") => string_result(&base, APPLICATION_BUILD),
            Some("GetPlatformBuildVersion") => string_result(&base, PLATFORM_BUILD),
            _ => return SimError::SegmentNotFound((*action).to_owned()).into_response(),
        },
        ["SystemNotifications", action] => match action.strip_prefix(NS) {
            Some("GetInstalledModules") => collection_result(&base, &installed_modules()),
            _ => return SimError::SegmentNotFound((*action).to_owned()).into_response(),
        },
        _ => return SimError::NoResource(format!("{base}{uri}")).into_response(),
    };
    odata_json(body)
}
