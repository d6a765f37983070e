//! The actions that produce documents or look data up: the SSRS report
//! action `SrsFinanceCopilots/RunCopilotReport` (base64 PDF, as D365FO
//! returns it and `d365fo-client` decodes it), a customer account statement
//! bound to one `CustomersV3` row, the data-management upload URL and the
//! company-name lookup.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value as Json};

use super::AppState;
use crate::SimError;
use crate::data::{EntitySet, Row, Value};
use crate::pdf;

/// What a file name may not carry unescaped in a URL path segment.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\');

/// `GetAzureWriteUrl`: a JSON string with a blob id and a writable URL, the
/// shape D365FO's data-management package API returns.
pub(super) fn azure_write_url(base: &str, file: &str) -> String {
    let id = format!(
        "{{{:08X}-0000-4000-8000-{:012X}}}",
        fnv(file) as u32,
        fnv(file) & 0xFFFF_FFFF_FFFF
    );
    let encoded = percent_encoding::utf8_percent_encode(file, PATH_SEGMENT).to_string();
    serde_json::json!({
        "BlobId": id,
        "BlobUrl": format!("{base}/dmf/{encoded}?sv=2014-02-14&sr=b&sp=w&sig=simulated"),
    })
    .to_string()
}

/// `RunCopilotReport`: renders the document the controller arguments name.
pub(super) fn copilot_report(
    state: &AppState,
    args: &Map<String, Json>,
) -> Result<String, SimError> {
    let arg = |name: &str| args.get(name).and_then(Json::as_str).unwrap_or_default();
    let controller_args: Map<String, Json> = serde_json::from_str(arg("_controllerArgsJson"))
        .map_err(|e| {
            SimError::InvalidKey(format!(
                "The value of '_controllerArgsJson' is not a JSON object: {e}"
            ))
        })?;
    let field = |name: &str| {
        controller_args
            .get(name)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let company = arg("_legalEntityName");
    let company_name = company_name(state, company)?;
    let lines = vec![
        format!("Legal entity: {} ({company_name})", company.to_uppercase()),
        format!(
            "Document: {} = {}",
            field("DataTableFieldName"),
            field("DataTableFieldValue")
        ),
        format!("Source table: {}", field("DataTableName")),
        format!("Contract: {}", arg("_contractName")),
        "Rendered by the D365FO simulator.".to_owned(),
    ];
    Ok(STANDARD.encode(pdf::document(arg("_controllerName"), &lines)))
}

/// `PrintAccountStatement`: one customer's statement for a period.
pub(super) fn account_statement(set: &EntitySet, row: &Row, from: &str, to: &str) -> String {
    let field = |name: &str| {
        let mut out = String::new();
        if let Some(v) = set.field_index(name).and_then(|i| row.values.get(i)) {
            match v {
                Value::Null => {}
                other => other.write_text(&mut out),
            }
        }
        out
    };
    let lines = vec![
        format!(
            "Customer: {} {}",
            field("CustomerAccount"),
            field("OrganizationName")
        ),
        format!("Company: {}", field("dataAreaId").to_uppercase()),
        format!("Period: {from} to {to}"),
        format!(
            "Credit limit: {} {}",
            field("CreditLimit"),
            field("SalesCurrencyCode")
        ),
        "Rendered by the D365FO simulator.".to_owned(),
    ];
    STANDARD.encode(pdf::document("Customer account statement", &lines))
}

/// The name of legal entity `id` (case-insensitive), from `LegalEntities`.
pub(super) fn company_name(state: &AppState, id: &str) -> Result<String, SimError> {
    let missing = || SimError::InvalidKey(format!("Company '{id}' does not exist."));
    let set = state.data.get("LegalEntities").ok_or_else(missing)?;
    let row = set
        .lookup(&[Value::Str(id.to_owned())])
        .ok_or_else(missing)?;
    match set.field_index("Name").and_then(|i| row.values.get(i)) {
        Some(Value::Str(name)) => Ok(name.clone()),
        _ => Err(missing()),
    }
}

/// FNV-1a: a stable id from a file name, so repeated calls agree.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_url_is_stable_json() {
        let a = azure_write_url("http://h", "pkg 1.zip");
        assert_eq!(a, azure_write_url("http://h", "pkg 1.zip"));
        let j: Json = serde_json::from_str(&a).unwrap();
        assert!(
            j["BlobUrl"]
                .as_str()
                .unwrap()
                .starts_with("http://h/dmf/pkg%201.zip?")
        );
        assert!(j["BlobId"].as_str().unwrap().starts_with('{'));
    }
}
