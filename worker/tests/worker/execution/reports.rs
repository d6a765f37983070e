//! `d365fo_run_report` against the simulator: the PDF as an embedded
//! resource, and the errors of bad input, a missing company and size.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{REPORT, Sim, assert_fails, run, with_id};
use crate::{ENV, call, config};

pub fn invoice() -> Value {
    json!({"controller": "SalesInvoiceController", "legal_entity": "USMF",
           "data_table": "CustInvoiceJour", "data_field": "InvoiceId",
           "document_id": "CIV-000708"})
}

#[tokio::test]
async fn a_report_is_an_embedded_pdf_resource_with_a_summary() {
    let sim = Sim::start().await;
    let called = run(&sim.worker(), REPORT, invoice()).await;
    let (content, structured) = called.result.as_ref().unwrap();

    let blocks = content.as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0]["type"], "text");
    let resource = &blocks[1];
    assert_eq!(resource["type"], "resource");
    let uri = format!("d365fo://{ENV}/reports/SalesInvoiceController/USMF/CIV-000708.pdf");
    assert_eq!(resource["resource"]["uri"], uri);
    assert_eq!(resource["resource"]["mimeType"], "application/pdf");
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(resource["resource"]["blob"].as_str().unwrap())
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains("CIV-000708") && text.contains("CustInvoiceJour"));
    assert!(
        text.contains("SrsCopilotArgsContract"),
        "the default contract"
    );

    assert_eq!(structured["uri"], uri);
    assert_eq!(structured["size_bytes"], pdf.len());
    assert_eq!(structured["pages"], 1);
    assert_eq!(structured["mime_type"], "application/pdf");
    assert_eq!(structured["document"]["document_id"], "CIV-000708");
    let summary = blocks[0]["text"].as_str().unwrap();
    assert!(summary.contains(&uri), "{summary}");
    assert!(
        summary.contains(&format!("{} bytes, 1 page", pdf.len())),
        "{summary}"
    );
}

#[tokio::test]
async fn contract_and_report_parameters_are_passed_and_ids_are_escaped_in_the_uri() {
    let sim = Sim::start().await;
    let mut args = invoice();
    args["contract"] = json!("SalesInvoiceContract");
    args["report_parameters"] = json!({"PrintCopy": true});
    args["document_id"] = json!("CIV/7 a");
    let called = run(&sim.worker(), REPORT, args).await;
    let out = called.ok();
    assert!(
        out["uri"]
            .as_str()
            .unwrap()
            .ends_with("/USMF/CIV%2F7%20a.pdf"),
        "{out}"
    );
}

#[tokio::test]
async fn reports_are_reads_and_may_run_again_with_the_same_request_id() {
    // Rendering changes nothing, so it is not claimed like an action: a
    // replay after a failover renders the document again.
    let sim = Sim::start().await;
    let worker = sim.worker();
    for _ in 0..2 {
        let called = call(&worker, with_id(REPORT, invoice(), "same-report")).await;
        assert!(called.ok()["size_bytes"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn an_unknown_company_is_d365fos_rejection() {
    let sim = Sim::start().await;
    let mut args = invoice();
    args["legal_entity"] = json!("ZZZZ");
    let called = run(&sim.worker(), REPORT, args).await;
    assert_fails(
        &called,
        "upstream_rejected",
        &["Company 'ZZZZ' does not exist."],
    );
}

#[tokio::test]
async fn wrong_types_are_invalid_arguments() {
    let sim = Sim::start().await;
    let worker = sim.worker();
    let with = |field: &str, value: Value| {
        let mut args = invoice();
        args[field] = value;
        args
    };
    let without = |field: &str| {
        let mut args = invoice();
        args.as_object_mut().unwrap().remove(field);
        args
    };
    for (args, message) in [
        (without("controller"), "missing field `controller`"),
        (without("document_id"), "missing field `document_id`"),
        (
            with("controller", json!("Sales Invoice")),
            "`controller` must be a plain name",
        ),
        (
            with("legal_entity", json!(1)),
            "`legal_entity` must be a name",
        ),
        (
            with("data_table", json!(["CustInvoiceJour"])),
            "`data_table` must be a name",
        ),
        (
            with("document_id", json!(708)),
            "`document_id` must be a non-empty string",
        ),
        (
            with("document_id", json!("")),
            "`document_id` must be a non-empty string",
        ),
        (
            with("contract", json!("a.b")),
            "`contract` must be a plain name",
        ),
        (
            with("report_parameters", json!("{}")),
            "`report_parameters` must be an object",
        ),
        (
            with("save_path", json!("/tmp/x.pdf")),
            "unknown field `save_path`",
        ),
    ] {
        let called = run(&worker, REPORT, args).await;
        assert_fails(
            &called,
            "invalid_arguments",
            &["d365fo_run_report", message],
        );
    }
}

#[tokio::test]
async fn a_report_larger_than_a_call_returns_is_refused_clearly() {
    let sim = Sim::start().await;
    // 600 bytes of base64 hold 450 bytes of PDF; the simulator's is larger.
    let worker = Arc::new(
        worker::Worker::standalone(config(&sim.base))
            .unwrap()
            .with_max_result_bytes(600),
    );
    let called = run(&worker, REPORT, invoice()).await;
    assert_fails(
        &called,
        "invalid_arguments",
        &[
            "more than the 450 bytes one call returns",
            "render one document at a time",
        ],
    );
}
