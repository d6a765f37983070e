//! OData actions: `POST /data/{Set}/Microsoft.Dynamics.DataEntities.{Action}`
//! (set-bound), `POST /data/{Set}({key})/…` (instance-bound) and
//! `POST /data/Microsoft.Dynamics.DataEntities.{Action}` (unbound).
//!
//! Every request goes through the same three steps: resolve the action in
//! [`operations::ACTIONS`] (404 if the path names none), check the JSON body
//! against its parameters (400 with OData's message), run it. The version
//! actions the worker keys its metadata cache on live here; the report
//! actions are in `reports`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json};

use super::{AppState, base_url, data_segments, odata_json, reports};
use crate::data::Row;
use crate::metadata::operations::{self, ActionDef, Binding};
use crate::metadata::params;
use crate::odata::key::{parse_key, resolve_key};
use crate::{SimError, json};

/// Prefix of an action segment.
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
/// `Name: … | Version: … | Module: … | Publisher: … | DisplayName: …` form,
/// after `upgrades` service updates (each raises the first module's version).
pub fn installed_modules(upgrades: u32) -> Vec<String> {
    MODULES
        .iter()
        .enumerate()
        .map(|(i, (name, display, version, publisher))| {
            let version = if i == 0 && upgrades > 0 {
                format!("{version}.{upgrades}")
            } else {
                (*version).to_owned()
            };
            format!("Name: {name} | Version: {version} | Module: {name} | Publisher: {publisher} | DisplayName: {display}")
        })
        .collect()
}

/// `{"@odata.context":"…#Edm.String","value":…}`.
pub(super) fn string_result(base: &str, value: &str) -> String {
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

/// What an action is invoked on.
pub(super) struct Target<'a> {
    /// The action's definition.
    pub def: &'static ActionDef,
    /// The bound row, for instance-bound actions.
    pub row: Option<Row>,
    /// The bound set's name, for bound actions.
    pub set: Option<&'a str>,
}

/// `POST /data/…/Microsoft.Dynamics.DataEntities.{Action}`.
pub(super) async fn post(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let base = base_url(&headers, &uri);
    let result = data_segments(uri.path()).and_then(|segments| {
        let target = resolve(&state, &segments, &format!("{base}{uri}"))?;
        let args = params::bind_args(target.def, &body).map_err(SimError::InvalidKey)?;
        run(&state, &base, &target, &args)
    });
    match result {
        Ok(body) => odata_json(body),
        Err(e) => e.into_response(),
    }
}

fn resolve<'a>(
    state: &'a AppState,
    segments: &'a [String],
    url: &str,
) -> Result<Target<'a>, SimError> {
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (bound, action) = match segs.as_slice() {
        [action] => (None, *action),
        [bound, action] => (Some(*bound), *action),
        _ => return Err(SimError::NoResource(url.to_owned())),
    };
    let name = action
        .strip_prefix(NS)
        .ok_or_else(|| SimError::NoResource(url.to_owned()))?;
    let not_found = || SimError::SegmentNotFound(action.to_owned());
    let Some(bound) = bound else {
        let def = operations::find(name, Binding::Unbound).ok_or_else(not_found)?;
        return Ok(Target {
            def,
            row: None,
            set: None,
        });
    };
    let (set, key) = match bound.split_once('(') {
        Some((set, rest)) => {
            let key = rest.strip_suffix(')').ok_or_else(|| {
                SimError::InvalidKey("Bad Request - Error in query syntax.".to_owned())
            })?;
            (set, Some(key))
        }
        None => (bound, None),
    };
    let hosted = operations::HOSTS.iter().any(|h| h.0 == set);
    let data_set = state.data.get(set);
    if data_set.is_none() && !hosted {
        return Err(SimError::SegmentNotFound(set.to_owned()));
    }
    let def = operations::ACTIONS
        .iter()
        .find(|a| {
            a.name == name
                && match a.binding {
                    Binding::Set(s) => key.is_none() && s == set,
                    Binding::Instance(s) => key.is_some() && s == set,
                    Binding::Unbound => false,
                }
        })
        .ok_or_else(not_found)?;
    let row = match (key, data_set) {
        (Some(key), Some(data_set)) => {
            let values = resolve_key(&parse_key(key)?, data_set, &state.company)?;
            let row = data_set
                .lookup(&values)
                .ok_or_else(|| SimError::EntityNotFound(set.to_owned()))?;
            Some(row)
        }
        _ => None,
    };
    Ok(Target {
        def,
        row,
        set: Some(set),
    })
}

fn run(
    state: &AppState,
    base: &str,
    target: &Target<'_>,
    args: &Map<String, Json>,
) -> Result<String, SimError> {
    let arg = |name: &str| args.get(name).and_then(Json::as_str).unwrap_or_default();
    Ok(match target.def.name {
        "GetApplicationVersion" => string_result(base, APPLICATION_VERSION),
        "GetApplicationBuildVersion" => string_result(base, APPLICATION_BUILD),
        "GetPlatformBuildVersion" => string_result(base, PLATFORM_BUILD),
        "GetInstalledModules" => collection_result(
            base,
            &installed_modules(state.upgrades.load(std::sync::atomic::Ordering::Relaxed)),
        ),
        "GetAzureWriteUrl" => {
            string_result(base, &reports::azure_write_url(base, arg("uniqueFileName")))
        }
        "RunCopilotReport" => string_result(base, &reports::copilot_report(state, args)?),
        "PrintAccountStatement" => {
            let set = target.set.and_then(|s| state.data.get(s));
            match (set, &target.row) {
                (Some(set), Some(row)) => string_result(
                    base,
                    &reports::account_statement(set, row, arg("FromDate"), arg("ToDate")),
                ),
                _ => return Err(SimError::SegmentNotFound(target.def.name.to_owned())),
            }
        }
        "GetCompanyName" => string_result(base, &reports::company_name(state, arg("CompanyId"))?),
        other => return Err(SimError::SegmentNotFound(other.to_owned())),
    })
}
