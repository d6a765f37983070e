//! JSON services: `POST /api/services/{group}/{service}/{operation}` with a
//! JSON object of parameters, and the discovery GETs D365FO answers on the
//! same paths: `{"ServiceGroups":[…]}`, `{"Services":[…]}`,
//! `{"Operations":[…]}`, and `{"Parameters":[…],"Return":{…}}` for one
//! operation. Names match case-insensitively, as on IIS.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};

use super::{AppState, request_url};
use crate::data::Value;
use crate::metadata::params::is_date_time;

/// One operation: name, parameters (name, type), return type, body.
struct Operation {
    name: &'static str,
    params: &'static [(&'static str, &'static str)],
    returns: &'static str,
    run: fn(&AppState, &Map<String, Json>) -> Json,
}

/// A service: its name and operations.
type Service = (&'static str, &'static [Operation]);

/// Service groups, each with its services and their operations.
const GROUPS: &[(&str, &[Service])] = &[
    (
        "UserSessionService",
        &[(
            "AifUserSessionService",
            &[
                Operation {
                    name: "GetUserSessionInfo",
                    params: &[],
                    returns: "AifUserSessionInfo",
                    run: session_info,
                },
                Operation {
                    name: "GetSessionLanguage",
                    params: &[],
                    returns: "String",
                    run: |_, _| json!("en-us"),
                },
                Operation {
                    name: "GetPartitionKey",
                    params: &[],
                    returns: "String",
                    run: |_, _| json!("initial"),
                },
                Operation {
                    name: "GetPartitionKeysForUser",
                    params: &[],
                    returns: "String[]",
                    run: |_, _| json!(["initial"]),
                },
                Operation {
                    name: "IsSinglePartitionSystem",
                    params: &[],
                    returns: "Boolean",
                    run: |_, _| json!(true),
                },
            ],
        )],
    ),
    (
        "SysSqlDiagnosticService",
        &[(
            "SysSqlDiagnosticServiceOperations",
            &[
                Operation {
                    name: "GetAxSqlExecuting",
                    params: &[],
                    returns: "SysSqlExecutingQuery[]",
                    run: |_, _| json!([]),
                },
                Operation {
                    name: "GetAxSqlResourceStats",
                    params: &[("start", "DateTime"), ("end", "DateTime")],
                    returns: "SysSqlResourceStats[]",
                    run: resource_stats,
                },
            ],
        )],
    ),
];

fn find<'a, T>(items: &'a [(&'static str, T)], name: &str) -> Option<&'a (&'static str, T)> {
    items.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))
}

fn names<T>(items: &[(&'static str, T)]) -> Json {
    Json::Array(items.iter().map(|(n, _)| json!({ "Name": n })).collect())
}

/// `GET /api/services[/…]`: discovery.
pub(super) async fn get(
    State(_state): State<Arc<AppState>>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let parts = segments(uri.path());
    let found = match parts.as_slice() {
        [] => Some(json!({ "ServiceGroups": names(GROUPS) })),
        [g] => find(GROUPS, g).map(|(_, s)| json!({ "Services": names(s) })),
        [g, s] => find(GROUPS, g)
            .and_then(|(_, svcs)| find(svcs, s))
            .map(|(_, ops)| json!({ "Operations": ops.iter().map(|o| json!({"Name": o.name})).collect::<Vec<_>>() })),
        [g, s, o] => operation(g, s, o).map(|op| {
            json!({
                "Parameters": op.params.iter().map(|(n, t)| json!({"Name": n, "Type": t})).collect::<Vec<_>>(),
                "Return": {"Name": "return", "Type": op.returns},
            })
        }),
        _ => None,
    };
    match found {
        Some(body) => reply(StatusCode::OK, &body),
        None => not_found(&headers, &uri),
    }
}

/// `POST /api/services/{group}/{service}/{operation}`.
pub(super) async fn post(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let parts = segments(uri.path());
    let Some(op) = (match parts.as_slice() {
        [g, s, o] => operation(g, s, o),
        _ => None,
    }) else {
        return not_found(&headers, &uri);
    };
    let args = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Json>(&body) {
            Ok(Json::Object(map)) => map,
            _ => return deserialization_error("The request content body is not a JSON object."),
        }
    };
    for (name, ty) in op.params {
        let problem = match args.get(*name) {
            None => Some(format!(
                "Parameter '{name}' is not found within the request content body."
            )),
            Some(Json::String(s)) if *ty == "DateTime" && !is_date_time(s) => Some(format!(
                "String '{s}' was not recognized as a valid DateTime."
            )),
            Some(v) if *ty == "DateTime" && !v.is_string() => {
                Some(format!("Unexpected token {v} when parsing a date."))
            }
            _ => None,
        };
        if let Some(problem) = problem {
            return deserialization_error(&format!(
                "Exception occurred when parsing and deserializing parameter '{name}' - '{problem}'"
            ));
        }
    }
    reply(StatusCode::OK, &(op.run)(&state, &args))
}

fn operation(group: &str, service: &str, op: &str) -> Option<&'static Operation> {
    let (_, services) = find(GROUPS, group)?;
    let (_, ops) = find(services, service)?;
    ops.iter().find(|o| o.name.eq_ignore_ascii_case(op))
}

/// Path segments after `/api/services`, percent-decoded.
fn segments(path: &str) -> Vec<String> {
    path.strip_prefix("/api/services")
        .unwrap_or_default()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

fn reply(status: StatusCode, body: &Json) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// ASP.NET Web API's 404 body, which the services endpoint sends for a name
/// it does not know.
fn not_found(headers: &HeaderMap, uri: &axum::http::Uri) -> Response {
    let url = request_url(headers, uri);
    reply(
        StatusCode::NOT_FOUND,
        &json!({ "Message": format!("No HTTP resource was found that matches the request URI '{url}'.") }),
    )
}

/// The 500 D365FO's service host sends when parameters do not deserialize.
fn deserialization_error(detail: &str) -> Response {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({
            "Message": format!("An exception occured when deserializing a parameters - {detail}"),
            "ExceptionType": "XppServicesDeserializationException",
            "ActivityId": format!("00000000-0000-4000-8000-{n:012x}"),
        }),
    )
}

/// `GetUserSessionInfo`: the caller's session, in the shape (with Json.NET
/// `$id` references) the real service returns.
fn session_info(state: &AppState, _: &Map<String, Json>) -> Json {
    let company = state.company.as_str();
    let lookup = |set: &str, key: &str, field: &str| -> Option<String> {
        let set = state.data.get(set)?;
        let row = set.lookup(&[Value::Str(key.to_owned())])?;
        match set.field_index(field).and_then(|i| row.values.get(i)) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        }
    };
    let currency =
        lookup("LegalEntities", company, "AccountingCurrency").unwrap_or_else(|| "USD".to_owned());
    let description = lookup("Currencies", &currency, "Name").unwrap_or_else(|| currency.clone());
    let symbol = lookup("Currencies", &currency, "Symbol").unwrap_or_default();
    json!({
        "$id": "1",
        "AOSLocaleName": "en-US",
        "AXLanguage": "EN-US",
        "Company": company.to_uppercase(),
        "CompanyTimeZone": 58,
        "CurrencyInfo": {
            "$id": "2",
            "CurrencyCode": currency,
            "Description": description,
            "ExchangeRate": 100.0,
            "ISOCurrencyCode": currency,
            "Prefix": symbol,
            "Suffix": "",
        },
        "IsSysAdmin": true,
        "UserId": "admin",
        "UserPreferredCalendar": 0,
        "UserPreferredTimeZone": 18,
    })
}

/// `GetAxSqlResourceStats`: flat, plausible utilisation for the window.
fn resource_stats(_: &AppState, args: &Map<String, Json>) -> Json {
    let at = |name: &str| args.get(name).cloned().unwrap_or(Json::Null);
    json!([
        {"Start": at("start"), "End": at("end"), "AvgCpuPercent": 12.5, "AvgDataIoPercent": 3.1,
         "AvgLogWritePercent": 1.2, "AvgMemoryUsagePercent": 41.0, "MaxWorkerPercent": 4.0},
    ])
}
