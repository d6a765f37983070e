//! D365FO's metadata reads, one function per request shape. Nothing here
//! caches; [`super::Metadata`] puts the cache in front.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    d365::{Body, Call, D365Client, Deadline, Idempotency, Request, odata},
    error::WorkerError,
};

/// Escaped inside a quoted key literal: everything but unreserved
/// characters and `'` (doubled, not encoded, as OData wants it).
const KEY_LITERAL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'\'');

/// Most pages of a metadata collection followed; D365FO serves each in one
/// page today, so more means a link loop.
const MAX_PAGES: usize = 50;

/// Fields of `DataEntities` the tools use.
const ENTITY_FIELDS: &str = "Name,PublicEntityName,PublicCollectionName,LabelId,EntityCategory,\
    DataServiceEnabled,DataManagementEnabled,IsReadOnly";

/// `'value'` with `'` doubled and the rest percent-encoded.
pub fn key_literal(value: &str) -> String {
    let doubled = value.replace('\'', "''");
    format!("'{}'", utf8_percent_encode(&doubled, KEY_LITERAL))
}

fn metadata_url(client: &D365Client, path: &str) -> String {
    format!(
        "{}/Metadata/{path}",
        client.base_url().as_str().trim_end_matches('/')
    )
}

/// The `GetInstalledModules` answer, as D365FO sent it
/// ([`crate::cache::version::read_modules`] reads it).
pub async fn installed_modules(
    client: &D365Client,
    deadline: Deadline,
) -> Result<Value, WorkerError> {
    let url = odata::data_url(
        client.base_url(),
        "SystemNotifications/Microsoft.Dynamics.DataEntities.GetInstalledModules",
        &odata::QueryOptions::default(),
    );
    let body = json!({});
    client
        .send(Call {
            method: &Method::POST,
            url: &url,
            body: Some(&body),
            // A POST that only reads: safe to send again.
            idempotency: Idempotency::Idempotent,
            retry: true,
            deadline,
        })
        .await
}

/// Every record of a metadata collection, following `@odata.nextLink`.
async fn collection(
    client: &D365Client,
    path_and_query: &str,
    deadline: Deadline,
) -> Result<Vec<Value>, WorkerError> {
    let mut url = metadata_url(client, path_and_query);
    let mut rows = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = client.get_json(&url, deadline).await?;
        let Some(Value::Array(values)) = page.get("value").cloned() else {
            return Err(WorkerError::BadResponse(format!(
                "/Metadata/{} returned no `value` array",
                path_and_query.split('?').next().unwrap_or_default()
            )));
        };
        rows.extend(values);
        match page.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) if odata::is_within(client.base_url(), next) => url = next.to_owned(),
            Some(_) => {
                return Err(WorkerError::BadResponse(
                    "a metadata next link outside the environment".into(),
                ));
            }
            None => return Ok(rows),
        }
    }
    Err(WorkerError::BadResponse(format!(
        "more than {MAX_PAGES} pages of metadata; stopped"
    )))
}

/// `DataEntities`, with the fields the tools use.
pub async fn data_entities(
    client: &D365Client,
    deadline: Deadline,
) -> Result<Vec<Value>, WorkerError> {
    collection(
        client,
        &format!("DataEntities?$select={ENTITY_FIELDS}"),
        deadline,
    )
    .await
}

/// `PublicEnumerations` names and labels (members come per enumeration).
pub async fn enumerations(
    client: &D365Client,
    deadline: Deadline,
) -> Result<Vec<Value>, WorkerError> {
    collection(client, "PublicEnumerations?$select=Name,LabelId", deadline).await
}

/// `PublicEntities('name')`; a 404 is `WorkerError::NotFound`.
pub async fn public_entity(
    client: &D365Client,
    name: &str,
    deadline: Deadline,
) -> Result<Value, WorkerError> {
    let url = metadata_url(client, &format!("PublicEntities({})", key_literal(name)));
    client.get_json(&url, deadline).await
}

/// `PublicEnumerations('name')`; a 404 is `WorkerError::NotFound`.
pub async fn public_enumeration(
    client: &D365Client,
    name: &str,
    deadline: Deadline,
) -> Result<Value, WorkerError> {
    let url = metadata_url(
        client,
        &format!("PublicEnumerations({})", key_literal(name)),
    );
    client.get_json(&url, deadline).await
}

/// The text of label `id` in `language`; a 404 is `WorkerError::NotFound`.
pub async fn label(
    client: &D365Client,
    id: &str,
    language: &str,
    deadline: Deadline,
) -> Result<Value, WorkerError> {
    let url = metadata_url(
        client,
        &format!(
            "Labels(Id={},Language={})",
            key_literal(id),
            key_literal(language)
        ),
    );
    let answer = client.get_json(&url, deadline).await.map_err(|e| match e {
        // D365FO answers an unknown label 404 with an empty body (recorded
        // from real environments), where its OData routes send an error
        // body: still its own answer, so a missing label, not a gateway's.
        WorkerError::NotFound { message } if message.contains("with an empty body") => {
            WorkerError::NotFound {
                message: format!("no label {id} in {language} (D365FO answered {message})"),
            }
        }
        other => other,
    })?;
    answer
        .get("Value")
        .filter(|v| v.is_string())
        .cloned()
        .ok_or_else(|| WorkerError::BadResponse(format!("label {id} came without a `Value`")))
}

/// `/data/$metadata`, the CSDL document, as text.
pub async fn edmx(client: &D365Client, deadline: Deadline) -> Result<String, WorkerError> {
    let url = format!(
        "{}/data/$metadata",
        client.base_url().as_str().trim_end_matches('/')
    );
    let answer = client
        .request(Request {
            method: &Method::GET,
            url: &url,
            body: Body::Empty,
            headers: &[("Accept", "application/xml")],
            idempotency: Idempotency::Idempotent,
            retry: true,
            deadline,
        })
        .await?;
    String::from_utf8(answer.body)
        .map_err(|_| WorkerError::BadResponse("$metadata is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_literals_are_quoted_and_encoded() {
        assert_eq!(key_literal("@SYS1234"), "'%40SYS1234'");
        assert_eq!(key_literal("O'Brien"), "'O''Brien'");
        assert_eq!(key_literal("a/b c"), "'a%2Fb%20c'");
    }
}
