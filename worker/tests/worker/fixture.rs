//! A small stand-in for D365FO on 127.0.0.1:0: paged OData queries with
//! `@odata.nextLink`, key lookups, version actions, D365FO's error shapes,
//! throttling, a gateway's HTML 502, a request that never answers, and an
//! Entra-style token endpoint. It records every request it sees.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::Notify;
use url::Url;

/// Rows the server returns per page, so paging is exercised.
pub const PAGE: usize = 3;
/// Rows in `CustomersV3`.
pub const CUSTOMERS: usize = 7;
/// Rows in `Wide`, each about `WIDE_WIDTH` bytes of JSON.
pub const WIDE_ROWS: usize = 1000;
pub const WIDE_WIDTH: usize = 7000;
/// Rows per page of `Wide`.
pub const WIDE_PAGE: usize = 40;
/// The token the token endpoint hands out.
pub const TOKEN: &str = "tok-1";

/// One request as the fixture saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    /// The raw query string, exactly as sent.
    pub raw_query: String,
    pub authorization: Option<String>,
}

impl Seen {
    /// Decoded query parameters.
    pub fn params(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(self.raw_query.as_bytes())
            .into_owned()
            .collect()
    }
}

#[derive(Default)]
pub struct FixtureState {
    pub base: Mutex<String>,
    pub seen: Mutex<Vec<Seen>>,
    pub throttle_hits: AtomicUsize,
    pub token_requests: AtomicUsize,
    /// When set, data requests must carry `Bearer TOKEN`.
    pub require_token: Mutex<bool>,
    pub stall_started: Notify,
    pub stall_dropped: Notify,
}

pub struct Fixture {
    pub base: Url,
    pub state: Arc<FixtureState>,
}

impl Fixture {
    pub async fn start() -> Self {
        let state = Arc::new(FixtureState::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        *state.base.lock() = base.as_str().trim_end_matches('/').to_owned();
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, state }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().clone()
    }

    pub fn seen_path(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }
}

/// Drops with the handler's future: tells the test the request was abandoned.
struct StallGuard(Arc<FixtureState>);

impl Drop for StallGuard {
    fn drop(&mut self) {
        self.0.stall_dropped.notify_one();
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            "application/json; odata.metadata=minimal",
        )],
        body.to_string(),
    )
        .into_response()
}

fn odata_error(status: StatusCode, message: &str, inner: &str) -> Response {
    json_response(
        status,
        json!({"error": {"code": "", "message": message, "innererror": {
            "message": inner, "type": "Microsoft.OData.ODataException", "stacktrace": ""}}}),
    )
}

fn customer(n: usize) -> Value {
    json!({
        "@odata.etag": "W/\"JzEsNTYzNzE0NDU3Nic=\"",
        "dataAreaId": "usmf",
        "CustomerAccount": format!("US-{n:03}"),
        "OrganizationName": format!("Customer {n}"),
    })
}

async fn handle(
    State(state): State<Arc<FixtureState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    _body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let raw_query = uri.query().unwrap_or_default().to_owned();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state.seen.lock().push(Seen {
        method: method.clone(),
        path: path.clone(),
        raw_query: raw_query.clone(),
        authorization: authorization.clone(),
    });
    let base = state.base.lock().clone();

    if path.ends_with("/oauth2/v2.0/token") {
        state.token_requests.fetch_add(1, Ordering::SeqCst);
        // Long enough for concurrent callers to pile up behind the refresh.
        tokio::time::sleep(Duration::from_millis(100)).await;
        return json_response(
            StatusCode::OK,
            json!({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN}),
        );
    }
    if *state.require_token.lock() && authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"Message": "Authentication failed.", "ExceptionType": "System.UnauthorizedAccessException"}),
        );
    }
    let params: HashMap<String, String> = url::form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();

    match path.as_str() {
        "/data/CustomersV3" => customers(&base, &raw_query, &params),
        "/data/Wide" => wide(&base, &raw_query, &params),
        // Empty pages, each linking to a new next one, for ever.
        "/data/Loop" => {
            let n = params.get("$skiptoken").and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
            json_response(
                StatusCode::OK,
                json!({"value": [], "@odata.nextLink": format!("{base}/data/Loop?$skiptoken={}", n + 1)}),
            )
        }
        // A page whose next link is itself.
        "/data/SelfLink" => json_response(
            StatusCode::OK,
            json!({"value": [{"Id": 1}], "@odata.nextLink": format!("{base}{path}?{raw_query}")}),
        ),
        // `Wide`'s first rows, chunked, with no Content-Length.
        "/data/Streamed" => {
            let rows: Vec<Value> = (1..=3).map(wide_row).collect();
            let text = json!({ "value": rows }).to_string().into_bytes();
            let chunks: Vec<Result<Bytes, std::convert::Infallible>> = text
                .chunks(1024)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from_stream(futures::stream::iter(chunks)))
                .unwrap()
        }
        "/data/LegalEntities" => json_response(
            StatusCode::OK,
            json!({"@odata.context": format!("{base}/data/$metadata#LegalEntities(LegalEntityId)"),
                   "value": [{"@odata.etag": "W/\"1\"", "LegalEntityId": "usmf"}]}),
        ),
        "/data/DataManagementEntities/Microsoft.Dynamics.DataEntities.GetApplicationVersion" => {
            json_response(StatusCode::OK, json!({"@odata.context": format!("{base}/data/$metadata#Edm.String"), "value": "10.0.41"}))
        }
        "/data/DataManagementEntities/Microsoft.Dynamics.DataEntities.GetPlatformBuildVersion" => {
            json_response(StatusCode::OK, json!({"@odata.context": format!("{base}/data/$metadata#Edm.String"), "value": "7.0.7279.58"}))
        }
        "/data/Throttled" => {
            if state.throttle_hits.fetch_add(1, Ordering::SeqCst) == 0 {
                let mut response = json_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"error": {"code": "", "message": "Too many requests."}}),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, "1".parse().unwrap());
                return response;
            }
            json_response(StatusCode::OK, json!({"value": [{"Id": 1}]}))
        }
        "/data/Broken" => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><head><title>502 - Web server received an invalid response while acting as a gateway or proxy server.</title></head><body></body></html>",
        )
            .into_response(),
        "/data/Stall" => {
            let _guard = StallGuard(Arc::clone(&state));
            state.stall_started.notify_one();
            std::future::pending::<()>().await;
            unreachable!()
        }
        p if p.starts_with("/data/CustomersV3(") => record(&base, p),
        _ => odata_error(
            StatusCode::NOT_FOUND,
            "An error has occurred.",
            &format!("Resource not found for the segment '{}'.", path.trim_start_matches("/data/")),
        ),
    }
}

fn customers(base: &str, raw_query: &str, params: &HashMap<String, String>) -> Response {
    if params.get("$filter").is_some_and(|f| f.contains("Foo")) {
        return odata_error(
            StatusCode::BAD_REQUEST,
            "An error has occurred.",
            "Could not find a property named 'Foo' on type 'Microsoft.Dynamics.DataEntities.CustomerV3'.",
        );
    }
    let num = |k: &str| params.get(k).and_then(|v| v.parse::<usize>().ok());
    let skip = num("$skip").unwrap_or(0);
    let top = num("$top").unwrap_or(usize::MAX);
    // `$skiptoken` is opaque to clients: `p<offset>+z`, sent encoded as `%2B`.
    let pos = params
        .get("$skiptoken")
        .and_then(|t| {
            t.strip_prefix('p')?
                .strip_suffix("+z")?
                .parse::<usize>()
                .ok()
        })
        .unwrap_or(0);
    let selection: Vec<usize> = (1..=CUSTOMERS).skip(skip).take(top).collect();
    let page: Vec<Value> = selection
        .iter()
        .skip(pos)
        .take(PAGE)
        .map(|n| customer(*n))
        .collect();
    let mut body = json!({
        "@odata.context": format!("{base}/data/$metadata#CustomersV3"),
        "value": page,
    });
    if params.get("$count").is_some_and(|c| c == "true") {
        body["@odata.count"] = json!(CUSTOMERS.saturating_sub(skip));
    }
    if pos + PAGE < selection.len() {
        let rest: Vec<&str> = raw_query
            .split('&')
            .filter(|p| !p.starts_with("$skiptoken=") && !p.is_empty())
            .collect();
        body["@odata.nextLink"] = json!(format!(
            "{base}/data/CustomersV3?{}&$skiptoken=p{}%2Bz",
            rest.join("&"),
            pos + PAGE
        ));
    }
    json_response(StatusCode::OK, body)
}

pub fn wide_row(n: usize) -> Value {
    json!({"Id": n, "Blob": "x".repeat(WIDE_WIDTH)})
}

fn wide(base: &str, raw_query: &str, params: &HashMap<String, String>) -> Response {
    let num = |k: &str| params.get(k).and_then(|v| v.parse::<usize>().ok());
    let skip = num("$skip").unwrap_or(0);
    let top = num("$top").unwrap_or(usize::MAX);
    let pos = num("$skiptoken").unwrap_or(0);
    let selection: Vec<usize> = (1..=WIDE_ROWS).skip(skip).take(top).collect();
    let page: Vec<Value> = selection
        .iter()
        .skip(pos)
        .take(WIDE_PAGE)
        .map(|n| wide_row(*n))
        .collect();
    let mut body = json!({ "value": page });
    if pos + WIDE_PAGE < selection.len() {
        let rest: Vec<&str> = raw_query
            .split('&')
            .filter(|p| !p.starts_with("$skiptoken=") && !p.is_empty())
            .collect();
        body["@odata.nextLink"] = json!(format!(
            "{base}/data/Wide?{}&$skiptoken={}",
            rest.join("&"),
            pos + WIDE_PAGE
        ));
    }
    json_response(StatusCode::OK, body)
}

fn record(base: &str, path: &str) -> Response {
    if path.contains("CustomerAccount='US-001'") && path.contains("dataAreaId='usmf'") {
        let mut row = customer(1);
        row["@odata.context"] = json!(format!("{base}/data/$metadata#CustomersV3/$entity"));
        return json_response(StatusCode::OK, row);
    }
    odata_error(
        StatusCode::NOT_FOUND,
        "An error has occurred.",
        "No resources were found when selecting for the resource at path 'CustomersV3'.",
    )
}
