//! `d365fo_run_report`: one business document rendered by D365FO's SSRS
//! report action `SrsFinanceCopilots/RunCopilotReport`, returned as an MCP
//! embedded resource.
//!
//! The action is a POST, but it renders a document from data that already
//! exists and changes none, so it is sent as a read: retried on throttling
//! and transient failures, and not claimed in the idempotency store. The
//! PDF arrives base64-encoded; it is decoded only to check it (a `%PDF-`
//! header, its size, its pages) and goes back out as the same base64 text,
//! in memory only — nothing is written to the worker's disk.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use common::catalogue::{
    execution::{ReportArgs, ReportDocument, ReportResult},
    names,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::outcome;
use crate::{
    d365::{
        Idempotency,
        odata::{QueryOptions, data_url},
    },
    error::WorkerError,
    tools::{self, Context, Reply},
};

/// Largest PDF returned, decoded.
pub const MAX_REPORT_BYTES: usize = 10 * 1024 * 1024;

/// The data contract D365FO's report action is usually called with.
pub const DEFAULT_CONTRACT: &str = "SrsCopilotArgsContract";

/// The action, bound to its host entity set.
const ACTION_PATH: &str = "SrsFinanceCopilots/Microsoft.Dynamics.DataEntities.RunCopilotReport";

/// What a resource URI's path segment may carry unescaped.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Runs the report and returns the PDF as an embedded resource.
pub async fn run(ctx: &Context<'_>, args: ReportArgs) -> Result<Reply, WorkerError> {
    let limit = limit(ctx.max_result_bytes);
    let controller_args = json!({
        "DataTableName": args.data_table,
        "DataTableFieldName": args.data_field,
        "DataTableFieldValue": args.document_id,
    });
    let body = json!({
        "_contractName": args.contract.as_deref().unwrap_or(DEFAULT_CONTRACT),
        "_controllerArgsJson": controller_args.to_string(),
        "_controllerName": args.controller,
        "_legalEntityName": args.legal_entity,
        "_reportParameterJson": json!(args.report_parameters).to_string(),
    });
    let url = data_url(ctx.client.base_url(), ACTION_PATH, &QueryOptions::default());
    // A POST that only renders: safe to send again.
    let answer = ctx
        .client
        .post_json(&url, &body, Idempotency::Idempotent, ctx.deadline)
        .await
        .map_err(|e| match e {
            WorkerError::BadResponse(m) if m.starts_with("a response body larger than") => {
                too_large(
                    &format!(
                        "more than {} MiB",
                        crate::d365::client::MAX_BODY_BYTES >> 20
                    ),
                    limit,
                )
            }
            other => outcome::not_found_with_hint(
                other,
                "This environment does not offer the report action \
                 SrsFinanceCopilots/RunCopilotReport (it comes with recent D365FO releases)",
            ),
        })?;
    let blob = pdf_base64(answer)?;
    checked_size(&blob, limit)?;
    let pdf = STANDARD.decode(blob.as_bytes()).map_err(|e| {
        WorkerError::BadResponse(format!("the report's `value` is not valid base64 ({e})"))
    })?;
    if !pdf.starts_with(b"%PDF-") {
        return Err(WorkerError::BadResponse(
            "the report action returned a document that is not a PDF (no %PDF- header)".into(),
        ));
    }
    if pdf.len() > limit {
        return Err(too_large(&format!("{} bytes", pdf.len()), limit));
    }
    reply(&ctx.env.name, &args, &pdf, blob)
}

/// A text summary and the PDF as an embedded resource, with the same facts
/// as structured content. `blob` is the PDF's base64 text, as received.
fn reply(
    environment: &str,
    args: &ReportArgs,
    pdf: &[u8],
    blob: String,
) -> Result<Reply, WorkerError> {
    let pages = count_pages(pdf);
    let uri = format!(
        "d365fo://{}/reports/{}/{}/{}.pdf",
        segment(environment),
        segment(&args.controller),
        segment(&args.legal_entity),
        segment(&args.document_id),
    );
    let pages_text = match pages {
        Some(1) => ", 1 page".to_owned(),
        Some(n) => format!(", {n} pages"),
        None => String::new(),
    };
    let summary = format!(
        "Report {} for {} {} in {}: a PDF of {} bytes{pages_text}, attached as {uri}.",
        args.controller,
        args.data_field,
        args.document_id,
        args.legal_entity,
        pdf.len()
    );
    let structured = tools::structured(&ReportResult {
        controller: args.controller.clone(),
        legal_entity: args.legal_entity.clone(),
        document: ReportDocument {
            data_table: args.data_table.clone(),
            data_field: args.data_field.clone(),
            document_id: args.document_id.clone(),
        },
        uri: uri.clone(),
        mime_type: "application/pdf".into(),
        size_bytes: pdf.len(),
        pages,
    })?;
    let resource = json!({
        "type": "resource",
        "resource": { "uri": uri, "mimeType": "application/pdf", "blob": blob },
    });
    Ok(Reply::Content {
        content: vec![json!({ "type": "text", "text": summary }), resource],
        structured: Some(structured),
    })
}

/// The most decoded bytes returned: [`MAX_REPORT_BYTES`], or less when the
/// call's result bound would not hold the base64 text (4 bytes per 3).
fn limit(max_result_bytes: usize) -> usize {
    MAX_REPORT_BYTES.min(max_result_bytes / 4 * 3)
}

fn too_large(size: &str, limit: usize) -> WorkerError {
    WorkerError::invalid_args(
        names::RUN_REPORT,
        format!(
            "the report D365FO rendered is {size}, more than the {limit} bytes one call \
             returns; render one document at a time, or narrow it with `report_parameters`"
        ),
    )
}

/// The base64 text of `{"value": "<base64>"}`, taken out without a copy.
fn pdf_base64(answer: Value) -> Result<String, WorkerError> {
    match answer {
        Value::Object(mut map) => match map.remove("value") {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            _ => Err(WorkerError::BadResponse(
                "the report action returned no document (no base64 `value` string)".into(),
            )),
        },
        _ => Err(WorkerError::BadResponse(
            "the report action returned no document (not a JSON object)".into(),
        )),
    }
}

/// The decoded size of `blob`, refused above `limit` before decoding.
fn checked_size(blob: &str, limit: usize) -> Result<usize, WorkerError> {
    let padding = blob.bytes().rev().take_while(|b| *b == b'=').count().min(2);
    let size = (blob.len() / 4 * 3).saturating_sub(padding);
    if size > limit {
        return Err(too_large(&format!("{size} bytes"), limit));
    }
    Ok(size)
}

/// Page objects (`/Type /Page`, not `/Pages`) when the file lists them in
/// the clear, as SSRS writes it; `None` when it hides them in compressed
/// object streams and counting would need a PDF parser.
fn count_pages(pdf: &[u8]) -> Option<usize> {
    let mut pages = 0;
    let mut i = 0;
    while let Some(at) = find(&pdf[i..], b"/Type") {
        let mut j = i + at + b"/Type".len();
        while pdf.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        if pdf[j..].starts_with(b"/Page") && !pdf.get(j + 5).is_some_and(u8::is_ascii_alphanumeric)
        {
            pages += 1;
        }
        i = j;
    }
    (pages > 0).then_some(pages)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_counted_when_listed_in_the_clear() {
        let pdf = b"%PDF-1.4\n1 0 obj << /Type /Pages /Count 2 >> 2 0 obj << /Type /Page >> \
                    3 0 obj <</Type/Page/Parent 1 0 R>> 4 0 obj << /Type /PageLabel >>";
        assert_eq!(count_pages(pdf), Some(2));
        assert_eq!(count_pages(b"%PDF-1.7\n<< /Type /ObjStm >>"), None);
        assert_eq!(count_pages(b"/Type"), None);
    }

    #[test]
    fn sizes_are_checked_before_decoding() {
        assert_eq!(checked_size("JVBERi0=", 100).unwrap(), 5);
        assert_eq!(checked_size("JVBERi0x", 100).unwrap(), 6);
        let e = checked_size(&"A".repeat(4000), 2000).unwrap_err();
        assert!(
            e.to_string().contains("3000 bytes, more than the 2000"),
            "{e}"
        );
        assert_eq!(limit(usize::MAX), MAX_REPORT_BYTES);
        assert_eq!(limit(400), 300);
    }

    #[test]
    fn uri_segments_are_escaped() {
        assert_eq!(segment("CIV/0001 a"), "CIV%2F0001%20a");
        assert_eq!(segment("USMF"), "USMF");
    }

    #[test]
    fn answers_without_a_document_are_bad_responses() {
        for answer in [
            json!({}),
            json!({"value": ""}),
            json!({"value": 5}),
            json!("x"),
        ] {
            assert_eq!(
                pdf_base64(answer).unwrap_err().code(),
                common::ErrorCode::UpstreamUnavailable
            );
        }
    }
}
