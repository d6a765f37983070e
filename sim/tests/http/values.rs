//! Values as they cross the wire: date-times normalized in `$filter`, keys
//! and writes; entity URLs built from any key; companies checked on create
//! and kept apart on keyed access.

use reqwest::StatusCode;
use serde_json::{Value as Json, json};

use crate::data::{assert_error, get};
use crate::support::Sim;

async fn post(sim: &Sim, set: &str, body: Json) -> reqwest::Response {
    sim.http
        .post(sim.url(&format!("/data/{set}")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The number of rows `filter` selects across companies (`+` encoded).
async fn count(sim: &Sim, filter: &str) -> usize {
    let filter = filter.replace('+', "%2B");
    let path = format!("/data/CustomersV3?cross-company=true&$filter={filter}");
    let (status, body) = get(sim, &path).await;
    assert_eq!(status, StatusCode::OK, "{filter}: {body}");
    body["value"].as_array().unwrap().len()
}

#[tokio::test]
async fn equivalent_date_time_literals_select_the_same_rows() {
    let sim = Sim::default().await;
    let (_, first) = get(&sim, "/data/CustomersV3?$top=1&$select=CreatedDateTime").await;
    let created = first["value"][0]["CreatedDateTime"].as_str().unwrap();
    // Seeded values are whole minutes in UTC, rendered as D365FO does.
    assert!(created.ends_with(":00Z"), "{created}");
    let exact = count(&sim, &format!("CreatedDateTime eq {created}")).await;
    assert!(exact >= 1);
    let millis = created.replace("Z", ".000Z");
    assert_eq!(
        count(&sim, &format!("CreatedDateTime eq {millis}")).await,
        exact
    );
    // The same instant two hours east of UTC (the seeds' hours make
    // `hh + 2` wrap only past 21:00; then the date moves too).
    let (date, time) = created.split_once('T').unwrap();
    let hour: u32 = time[..2].parse().unwrap();
    if hour < 22 {
        let east = format!("{date}T{:02}{}+02:00", hour + 2, &time[2..8]);
        assert_eq!(
            count(&sim, &format!("CreatedDateTime eq {east}")).await,
            exact
        );
    }
    let west = format!("{date}T{time_noz}-00:00", time_noz = &time[..8]);
    assert_eq!(
        count(&sim, &format!("CreatedDateTime eq {west}")).await,
        exact
    );

    for bad in [
        "2099-99-99Tjunk",
        "2024-02-30T00:00:00Z",
        "2024-01-01T10:00:00",
    ] {
        let (status, body) = get(
            &sim,
            &format!("/data/CustomersV3?$filter=CreatedDateTime ge {bad}"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_error(&body, &format!("The DateTimeOffset text '{bad}'"));
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("The query specified in the URI is not valid."),
            "{body}"
        );
    }
}

#[tokio::test]
async fn date_time_keys_and_writes_are_normalized() {
    let sim = Sim::default().await;
    let key = "RateTypeName='Default',FromCurrency='EUR',ToCurrency='USD'";
    for start in [
        "2023-01-01T00:00:00.000Z",
        "2023-01-01T02:00:00%2B02:00",
        "2023-01-01T00:00Z",
    ] {
        let (status, body) = get(
            &sim,
            &format!("/data/ExchangeRates({key},StartDate={start})"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{start}: {body}");
        assert_eq!(body["StartDate"], "2023-01-01T00:00:00Z");
    }
    let (status, _) = get(
        &sim,
        &format!("/data/ExchangeRates({key},StartDate=2023-13-01T00:00:00Z)"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Written with an offset and a fraction: stored in UTC, whole seconds.
    let res = post(
        &sim,
        "ExchangeRates",
        json!({
            "RateTypeName": "Default", "FromCurrency": "EUR", "ToCurrency": "USD",
            "StartDate": "2030-01-01T02:00:00.750+02:00",
            "EndDate": "2030-01-31T19:00:00-05:00", "Rate": 1.1
        }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.ends_with(",StartDate=2030-01-01T00:00:00Z)"),
        "{location}"
    );
    let body: Json = res.json().await.unwrap();
    assert_eq!(body["StartDate"], "2030-01-01T00:00:00Z");
    assert_eq!(body["EndDate"], "2030-02-01T00:00:00Z");
    let read: Json = sim
        .http
        .get(&location)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["EndDate"], "2030-02-01T00:00:00Z", "{read}");
}

#[tokio::test]
async fn entity_urls_are_percent_encoded() {
    let sim = Sim::default().await;
    for id in ["A B", "Müller", "a#b?c", "50%/x", "O'Neil"] {
        let res = post(
            &sim,
            "CustomerGroups",
            json!({"CustomerGroupId": id, "Description": "odd key"}),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{id}");
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let url = reqwest::Url::parse(&location).unwrap();
        assert!(
            url.query().is_none() && url.fragment().is_none(),
            "{location}"
        );
        assert!(location.contains("(dataAreaId='usmf',CustomerGroupId='"));
        let read = sim.http.get(url).send().await.unwrap();
        assert_eq!(read.status(), StatusCode::OK, "{location}");
        let body: Json = read.json().await.unwrap();
        assert_eq!(body["CustomerGroupId"], id, "{location}");
    }
}

#[tokio::test]
async fn creates_need_an_existing_company() {
    let sim = Sim::default().await;
    for (company, text) in [
        (json!("nosuchco"), "Company 'nosuchco' does not exist."),
        (json!(null), "Field 'dataAreaId' must be filled in."),
        (json!(" "), "Field 'dataAreaId' must be filled in."),
    ] {
        let res = post(
            &sim,
            "CustomerGroups",
            json!({"dataAreaId": company, "CustomerGroupId": "77"}),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{company}");
        let body: Json = res.json().await.unwrap();
        assert_error(&body, text);
        assert_eq!(
            body["error"]["innererror"]["type"],
            "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"
        );
    }
    // A known company in any case is stored lower-case; none means the default.
    let res = post(
        &sim,
        "CustomerGroups",
        json!({"dataAreaId": "GbSi", "CustomerGroupId": "77"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Json>().await.unwrap()["dataAreaId"], "gbsi");
    let res = post(&sim, "CustomerGroups", json!({"CustomerGroupId": "77"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Json>().await.unwrap()["dataAreaId"], "usmf");
}

#[tokio::test]
async fn another_companys_record_needs_cross_company() {
    let sim = Sim::default().await;
    let path = "/data/CustomerGroups(dataAreaId='demf',CustomerGroupId='10')";
    let (status, body) = get(&sim, path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = get(&sim, &format!("{path}?cross-company=true")).await;
    assert_eq!(status, StatusCode::OK);
    let patch = |query: &'static str| {
        sim.http
            .patch(sim.url(&format!("{path}{query}")))
            .json(&json!({"Description": "changed"}))
            .send()
    };
    let res = patch("").await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_error(
        &res.json().await.unwrap(),
        "No resources were found when selecting for update.",
    );
    assert_eq!(
        patch("?cross-company=true").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    // The default company's records need no flag.
    let (status, _) = get(
        &sim,
        "/data/CustomerGroups(dataAreaId='usmf',CustomerGroupId='10')",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
