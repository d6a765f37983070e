//! Actions over HTTP: set-bound, instance-bound and unbound, parameter
//! checks with OData's messages, and the report actions' PDFs.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value as Json, json};

use crate::services::post;
use crate::support::Sim;

const NS: &str = "Microsoft.Dynamics.DataEntities";

/// Decodes a base64 PDF and checks its header, trailer and xref offsets.
fn assert_pdf(b64: &str) -> Vec<u8> {
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
    let text = String::from_utf8_lossy(&pdf).into_owned();
    let start: usize = text
        .rsplit("startxref")
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(pdf[start..].starts_with(b"xref"));
    let table = String::from_utf8_lossy(&pdf[start..]).into_owned();
    let entries = table.lines().skip(3).take_while(|l| l.ends_with(" n "));
    let mut n = 0;
    for (i, entry) in entries.enumerate() {
        let offset: usize = entry[..10].parse().unwrap();
        assert!(
            pdf[offset..].starts_with(format!("{} 0 obj", i + 1).as_bytes()),
            "object {}",
            i + 1
        );
        n += 1;
    }
    assert!(n >= 5);
    pdf
}

#[tokio::test]
async fn set_bound_version_actions() {
    let sim = Sim::default().await;
    let (status, v) = post(
        &sim,
        &format!("/data/DataManagementEntities/{NS}.GetApplicationVersion"),
        &json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        v["@odata.context"],
        format!("{}/data/$metadata#Edm.String", sim.base)
    );
    assert!(v["value"].as_str().unwrap().starts_with("10.0."));
    let (_, m) = post(
        &sim,
        &format!("/data/SystemNotifications/{NS}.GetInstalledModules"),
        &json!({}),
    )
    .await;
    assert!(m["value"][0].as_str().unwrap().starts_with("Name: "));
    let (status, _) = post(
        &sim,
        &format!("/data/DataManagementEntities/{NS}.NoSuchAction"),
        &json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        &sim,
        &format!("/data/NoSuchSet/{NS}.GetApplicationVersion"),
        &json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn parameters_are_checked_with_odata_messages() {
    let sim = Sim::default().await;
    let path = format!("/data/DataManagementDefinitionGroups/{NS}.GetAzureWriteUrl");
    let (status, ok) = post(&sim, &path, &json!({"uniqueFileName": "import-1.zip"})).await;
    assert_eq!(status, StatusCode::OK);
    let inner: Json = serde_json::from_str(ok["value"].as_str().unwrap()).unwrap();
    assert!(inner["BlobUrl"].as_str().unwrap().contains("import-1"));
    let (status, e) = post(&sim, &path, &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        e["error"]["message"],
        "One or more parameters of the operation 'GetAzureWriteUrl' are missing from the request payload. The missing parameters are: uniqueFileName."
    );
    assert_eq!(
        e["error"]["innererror"]["type"],
        "Microsoft.OData.ODataException"
    );
    let (status, e) = post(&sim, &path, &json!({"uniqueFileName": "a", "extra": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("The parameter 'extra' in the request payload is not a valid parameter")
    );
    let (status, e) = post(&sim, &path, &json!({"uniqueFileName": 42})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'Edm.String'")
    );
}

#[tokio::test]
async fn instance_bound_statement_and_unbound_lookup() {
    let sim = Sim::default().await;
    let path = format!(
        "/data/CustomersV3(dataAreaId='USMF',CustomerAccount='US-001')/{NS}.PrintAccountStatement?cross-company=true"
    );
    let args = json!({"FromDate": "2024-01-01T00:00:00Z", "ToDate": "2024-12-31T23:59:59Z"});
    let (status, r) = post(&sim, &path, &args).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let pdf = assert_pdf(r["value"].as_str().unwrap());
    assert!(String::from_utf8_lossy(&pdf).contains("US-001"));
    let missing = format!(
        "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='NOPE')/{NS}.PrintAccountStatement"
    );
    let (status, _) = post(&sim, &missing, &args).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, e) = post(
        &sim,
        &path,
        &json!({"FromDate": "soon", "ToDate": "2024-12-31T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(e["error"]["message"].as_str().unwrap().contains("'soon'"));
    // A set-bound call of an instance-bound action names no operation.
    let (status, _) = post(
        &sim,
        &format!("/data/CustomersV3/{NS}.PrintAccountStatement"),
        &args,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, name) = post(
        &sim,
        &format!("/data/{NS}.GetCompanyName"),
        &json!({"CompanyId": "DEMF"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        name["value"].as_str().unwrap().contains("Germany"),
        "{name}"
    );
    let (status, _) = post(
        &sim,
        &format!("/data/{NS}.GetCompanyName"),
        &json!({"CompanyId": "zzzz"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn report_action_returns_a_valid_pdf_as_d365fo_client_sends_it() {
    let sim = Sim::default().await;
    let controller_args = json!({"DataTableName": "CustInvoiceJour", "DataTableFieldName": "InvoiceId", "DataTableFieldValue": "CIV-000708"});
    let body = json!({
        "_contractName": "SrsCopilotArgsContract",
        "_controllerArgsJson": controller_args.to_string(),
        "_controllerName": "SalesInvoiceController",
        "_legalEntityName": "USMF",
        "_reportParameterJson": "{}",
    });
    let (status, r) = post(
        &sim,
        &format!("/data/SrsFinanceCopilots/{NS}.RunCopilotReport"),
        &body,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let pdf = assert_pdf(r["value"].as_str().unwrap());
    assert!(String::from_utf8_lossy(&pdf).contains("CIV-000708"));
}
