//! HTTP behaviour through `app(...)` and `oneshot`, as a client sees it.

use std::collections::HashSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value as Json;
use tower::ServiceExt;

use crate::{SimConfig, app};

const HOST: &str = "sim.test:8080";

async fn call(app: &axum::Router, method: Method, uri: &str) -> (StatusCode, Json) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", HOST)
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, json)
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, Json) {
    call(app, Method::GET, uri).await
}

fn rows(body: &Json) -> &Vec<Json> {
    body["value"].as_array().unwrap()
}

fn sim() -> axum::Router {
    app(SimConfig::default())
}

fn assert_error_shape(body: &Json) {
    let e = &body["error"];
    assert_eq!(e["code"], "");
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(e["innererror"]["message"].is_string(), "{body}");
    assert!(e["innererror"]["type"].is_string(), "{body}");
    assert_eq!(e["innererror"]["stacktrace"], "");
}

#[tokio::test]
async fn collection_shape_top_and_default_company() {
    let app = sim();
    let (status, body) = get(&app, "/data/CustomersV3?$top=3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["@odata.context"],
        format!("http://{HOST}/data/$metadata#CustomersV3")
    );
    let v = rows(&body);
    assert_eq!(v.len(), 3);
    assert_eq!(v[0]["CustomerAccount"], "US-001");
    assert_eq!(v[0]["dataAreaId"], "usmf");
    assert!(v[0]["@odata.etag"].as_str().unwrap().starts_with("W/\""));
    assert!(v[0]["CreditLimit"].is_number());
    assert!(body.get("@odata.nextLink").is_none());

    let (_, all) = get(&app, "/data/CustomersV3").await;
    assert_eq!(rows(&all).len(), 50);
    assert!(rows(&all).iter().all(|r| r["dataAreaId"] == "usmf"));

    let (_, cross) = get(&app, "/data/CustomersV3?cross-company=true").await;
    let companies: HashSet<&str> = rows(&cross)
        .iter()
        .map(|r| r["dataAreaId"].as_str().unwrap())
        .collect();
    assert_eq!(rows(&cross).len(), 250);
    assert!(companies.contains("usmf") && companies.contains("demf"));

    let demf = crate::app(SimConfig {
        default_company: "DEMF".into(),
        ..SimConfig::default()
    });
    let (_, de) = get(&demf, "/data/CustomersV3?$top=1").await;
    assert_eq!(rows(&de)[0]["CustomerAccount"], "DE-001");
}

#[tokio::test]
async fn keyless_sets_are_not_company_filtered() {
    let app = sim();
    let (_, le) = get(&app, "/data/LegalEntities").await;
    let ids: Vec<&str> = rows(&le)
        .iter()
        .map(|r| r["LegalEntityId"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"USMF") && ids.contains(&"DEMF"));
    let (_, cur) = get(&app, "/data/Currencies?$filter=CurrencyCode%20eq%20'EUR'").await;
    assert_eq!(rows(&cur).len(), 1);
    assert_eq!(rows(&cur)[0]["Name"], "Euro");
}

#[tokio::test]
async fn select_filter_and_wildcard() {
    let app = sim();
    let (status, body) =
        get(&app, "/data/CustomersV3?$select=CustomerAccount,CreditLimit&$filter=CustomerAccount%20eq%20'US-002'").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = rows(&body);
    assert_eq!(v.len(), 1);
    let mut keys: Vec<&String> = v[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["@odata.etag", "CreditLimit", "CustomerAccount"]);

    let (_, both) = get(
        &app,
        "/data/CustomersV3?cross-company=true&$filter=dataAreaId%20eq%20'demf'%20and%20CreditLimit%20ge%2050000",
    )
    .await;
    assert!(
        rows(&both)
            .iter()
            .all(|r| r["dataAreaId"] == "demf" && r["CreditLimit"].as_f64().unwrap() >= 50000.0)
    );

    let (_, all) = get(&app, "/data/CustomersV3").await;
    let contoso = rows(&all)
        .iter()
        .filter(|r| {
            r["OrganizationName"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("contoso")
        })
        .count();
    let (_, wild) = get(
        &app,
        "/data/CustomersV3?$filter=OrganizationName%20eq%20'*Contoso*'",
    )
    .await;
    assert_eq!(rows(&wild).len(), contoso);

    let (_, e) = get(
        &app,
        "/data/CustomersV3?$filter=CreditLimitIsMandatory%20eq%20Microsoft.Dynamics.DataEntities.NoYes'Yes'&$count=true",
    )
    .await;
    assert!(
        rows(&e)
            .iter()
            .all(|r| r["CreditLimitIsMandatory"] == "Yes")
    );
    assert_eq!(e["@odata.count"].as_u64(), Some(rows(&e).len() as u64));
    assert!(!rows(&e).is_empty());

    let (_, ordered) = get(
        &app,
        "/data/CustomersV3?$orderby=CreditLimit%20desc,CustomerAccount&$top=10",
    )
    .await;
    let limits: Vec<f64> = rows(&ordered)
        .iter()
        .map(|r| r["CreditLimit"].as_f64().unwrap())
        .collect();
    assert!(limits.windows(2).all(|w| w[0] >= w[1]), "{limits:?}");
}

#[tokio::test]
async fn bad_queries_get_the_d365_error_shape() {
    let app = sim();
    for uri in [
        "/data/CustomersV3?$filter=Nope%20eq%201",
        "/data/CustomersV3?$filter=CustomerAccount%20eq",
        "/data/CustomersV3?$filter=CustomerAccount%20eq%20'open",
        "/data/CustomersV3?$select=Nope",
        "/data/CustomersV3?$top=abc",
    ] {
        let (status, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_error_shape(&body);
        assert_eq!(
            body["error"]["innererror"]["type"],
            "Microsoft.OData.ODataException"
        );
    }
    let (_, body) = get(&app, "/data/CustomersV3?$filter=Nope%20eq%201").await;
    assert_eq!(
        body["error"]["message"],
        "The query specified in the URI is not valid. Could not find a property named 'Nope' on type 'Microsoft.Dynamics.DataEntities.CustomerV3'."
    );
}

#[tokio::test]
async fn unknown_set_and_unknown_route_are_404() {
    let app = sim();
    let (status, body) = get(&app, "/data/NoSuchEntities").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
    assert_eq!(
        body["error"]["message"],
        "Resource not found for the segment 'NoSuchEntities'."
    );
    let (status, body) = get(&app, "/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
}

#[tokio::test]
async fn key_lookup_hit_miss_and_encoded() {
    let app = sim();
    let (status, body) = get(
        &app,
        "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["CustomerAccount"], "US-001");
    assert_eq!(
        body["@odata.context"],
        format!("http://{HOST}/data/$metadata#CustomersV3/$entity")
    );

    let encoded = "/data/CustomersV3(dataAreaId%3D%27USMF%27%2CCustomerAccount%3D%27US-001%27)";
    let (status, same) = get(&app, encoded).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same, body);

    // Another company's record only with cross-company=true, as D365FO.
    let (status, _) = get(
        &app,
        "/data/CustomersV3(dataAreaId='DEMF',CustomerAccount='DE-007')",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, de) = get(
        &app,
        "/data/CustomersV3(dataAreaId='DEMF',CustomerAccount='DE-007')?cross-company=true",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(de["dataAreaId"], "demf");

    let (status, miss) = get(
        &app,
        "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-999')",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&miss);

    let (status, bad) = get(&app, "/data/CustomersV3(Account='US-001')").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&bad);

    for uri in [
        "/data/Currencies('USD')",
        "/data/Currencies(CurrencyCode='USD')",
        "/data/Currencies(%27USD%27)",
    ] {
        let (status, usd) = get(&app, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(usd["CurrencyCode"], "USD");
    }
    let (_, prop) = get(&app, "/data/Currencies('EUR')/Name").await;
    assert_eq!(prop["value"], "Euro");
}

#[tokio::test]
async fn next_links_page_through_everything_once() {
    let app = crate::app(SimConfig {
        max_page_size: 7,
        ..SimConfig::default()
    });
    let mut url = "/data/CustomersV3?cross-company=true&$select=dataAreaId,CustomerAccount&$filter=CreditLimit%20ge%200".to_owned();
    let mut seen = HashSet::new();
    let mut pages = 0;
    loop {
        let (status, body) = get(&app, &url).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        assert!(rows(&body).len() <= 7);
        for r in rows(&body) {
            assert_eq!(r.as_object().unwrap().len(), 3, "select is preserved");
            let key = format!("{}/{}", r["dataAreaId"], r["CustomerAccount"]);
            assert!(seen.insert(key), "row seen twice");
        }
        match body["@odata.nextLink"].as_str() {
            Some(next) => {
                let prefix = format!("http://{HOST}");
                assert!(next.starts_with(&prefix), "{next}");
                url = next[prefix.len()..].to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 250);
    assert_eq!(pages, 250usize.div_ceil(7));

    let (_, topped) = get(&app, "/data/CustomersV3?$top=10").await;
    let next = topped["@odata.nextLink"].as_str().unwrap();
    let (_, rest) = get(&app, &next[format!("http://{HOST}").len()..]).await;
    assert_eq!(rows(&topped).len() + rows(&rest).len(), 10);
    assert!(rest.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn version_actions() {
    let app = sim();
    let (status, v) = call(
        &app,
        Method::POST,
        "/data/DataManagementEntities/Microsoft.Dynamics.DataEntities.GetApplicationVersion",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        v["@odata.context"],
        format!("http://{HOST}/data/$metadata#Edm.String")
    );
    assert!(v["value"].as_str().unwrap().starts_with("10.0."));

    let (_, p) = call(
        &app,
        Method::POST,
        "/data/DataManagementEntities/Microsoft.Dynamics.DataEntities.GetPlatformBuildVersion",
    )
    .await;
    assert!(p["value"].as_str().unwrap().starts_with("7.0."));

    let (_, m) = call(
        &app,
        Method::POST,
        "/data/SystemNotifications/Microsoft.Dynamics.DataEntities.GetInstalledModules",
    )
    .await;
    let modules = m["value"].as_array().unwrap();
    assert!(modules.iter().any(|s| {
        s.as_str()
            .unwrap()
            .starts_with("Name: ApplicationSuite | Version: 10.0.")
    }));

    let (status, body) = call(
        &app,
        Method::POST,
        "/data/DataManagementEntities/Microsoft.Dynamics.DataEntities.Nope",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
}

#[tokio::test]
async fn service_document_lists_sets() {
    let (status, body) = get(&sim(), "/data/").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = rows(&body)
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for set in [
        "CustomersV3",
        "VendorsV2",
        "CustomerGroups",
        "LegalEntities",
        "Currencies",
    ] {
        assert!(names.contains(&set), "{set}");
    }
}

#[tokio::test]
async fn serve_answers_on_a_real_socket_and_shuts_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve(listener, SimConfig::default(), async {
        let _ = rx.await;
    }));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /data/Currencies('USD') HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer anything\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"CurrencyCode\":\"USD\""));
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Sends `uri` through `app(...)` with `oneshot` on a thread with a small
/// stack and its own runtime, so a deep recursion would abort the test run.
fn get_on_small_stack(uri: String) -> (StatusCode, Json) {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async { get(&sim(), &uri).await })
        })
        .unwrap()
        .join()
        .unwrap()
}

/// `/data/CustomersV3?$filter=` and as many `clause(i)`s joined by `op` as
/// fit in a URI (`http::Uri` refuses 64 KiB and over, so a 10,000-clause
/// chain cannot reach the service; the parse → bind → evaluate tests use
/// 10,000 directly).
fn longest_chain(op: &str, clause: impl Fn(usize) -> String) -> (String, usize) {
    let mut uri = "/data/CustomersV3?$filter=".to_owned();
    let mut n = 0;
    loop {
        let next = format!("{}{}", if n == 0 { "" } else { op }, clause(n));
        if uri.len() + next.len() >= 65_000 {
            return (uri, n);
        }
        uri.push_str(&next);
        n += 1;
    }
}

#[test]
fn huge_and_or_chains_are_a_400_not_a_crash() {
    let (ands, n_and) = longest_chain("+and+", |_| "true".to_owned());
    let (ors, n_or) = longest_chain("+or+", |i| {
        format!("CustomerAccount+eq+'US-{:03}'", i % 1000)
    });
    assert!(n_and > 5_000 && n_or > 1_500, "{n_and} {n_or}");
    for uri in [ands, ors] {
        let (status, body) = get_on_small_stack(uri);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_error_shape(&body);
        assert_eq!(
            body["error"]["message"],
            "The query specified in the URI is not valid. The node count limit of '1000' has been exceeded. To increase the limit, set the 'MaxNodeCount' property on EnableQueryAttribute or ODataValidationSettings."
        );
        assert_eq!(
            body["error"]["innererror"]["type"],
            "Microsoft.OData.ODataException"
        );
    }
}

#[test]
fn long_or_chains_under_the_limit_still_answer() {
    let ors = (1..=250)
        .map(|i| format!("CustomerAccount%20eq%20'US-{i:03}'"))
        .collect::<Vec<_>>()
        .join("%20or%20");
    let (status, body) = get_on_small_stack(format!(
        "/data/CustomersV3?$filter={ors}&$select=CustomerAccount&$top=1000"
    ));
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = rows(&body);
    assert!(!v.is_empty());
    assert!(v.iter().all(|r| {
        r["CustomerAccount"]
            .as_str()
            .is_some_and(|a| a.starts_with("US-"))
    }));
}
