use common::config::OnBehalfOf;

use super::*;

fn endpoint(kind: CredentialKind) -> Endpoint {
    let credentials = ClientCredentials {
        tenant_id: "t-1".into(),
        client_id: "app 1".into(),
        kind,
        authority_host: Url::parse("https://login.example/").unwrap(),
        on_behalf_of: OnBehalfOf::Preferred,
    };
    Endpoint::new(&credentials, &reqwest::Client::new()).unwrap()
}

fn pairs(form: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test]
async fn the_on_behalf_of_form_is_entras_own() {
    let endpoint = endpoint(CredentialKind::ClientSecret(Secret::new("s&=3")));
    assert_eq!(
        endpoint.url().as_str(),
        "https://login.example/t-1/oauth2/v2.0/token"
    );
    let form = endpoint
        .form(&[
            ("grant_type", OBO_GRANT),
            ("requested_token_use", "on_behalf_of"),
            ("assertion", "a.b+c/d="),
            ("scope", "https://x.dynamics.com/.default"),
        ])
        .await
        .unwrap();
    // Encoded: '&', '=', '+' and '/' survive the round trip.
    let expected = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("requested_token_use", "on_behalf_of"),
        ("assertion", "a.b+c/d="),
        ("scope", "https://x.dynamics.com/.default"),
        ("client_id", "app 1"),
        ("client_secret", "s&=3"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(pairs(&form), expected);
    assert!(!form.contains("token-exchange"), "not RFC 8693");
}

#[tokio::test]
async fn a_federated_token_is_the_client_assertion() {
    let dir = std::env::temp_dir().join(format!("d365mcp-federated-{}", std::process::id()));
    std::fs::write(&dir, "  eyJfederated.token.x \n").unwrap();
    let endpoint = endpoint(CredentialKind::WorkloadIdentity(dir.clone()));
    let form = pairs(
        &endpoint
            .form(&[("grant_type", "client_credentials")])
            .await
            .unwrap(),
    );
    assert!(form.contains(&(
        "client_assertion_type".into(),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()
    )));
    assert!(form.contains(&("client_assertion".into(), "eyJfederated.token.x".into())));
    assert!(!form.iter().any(|(k, _)| k == "client_secret"));
    std::fs::write(&dir, "").unwrap();
    let error = endpoint.form(&[]).await.unwrap_err();
    assert!(error.to_string().contains("empty"), "{error}");
    std::fs::remove_file(&dir).unwrap();
}

#[test]
fn refusals_name_the_aadsts_code_and_what_to_do() {
    let body = br#"{"error":"invalid_grant","error_description":"AADSTS500133: Assertion is not within its valid time range.\r\nTrace ID: 1\r\nCorrelation ID: 2","error_codes":[500133]}"#;
    let user = refusal(Grant::User, 400, body);
    assert_eq!(user.code(), common::ErrorCode::UpstreamAuth);
    assert!(!user.code().is_retryable());
    let text = user.to_string();
    assert!(text.contains("AADSTS500133"), "{text}");
    assert!(text.contains("sign in again"), "{text}");
    assert!(!text.contains("Trace ID"), "{text}");
    // The same refusal of the application's own grant is the operator's.
    let app = refusal(Grant::App, 400, body);
    assert!(matches!(app, WorkerError::Token(_)));
    let consent = br#"{"error":"interaction_required","error_description":"AADSTS65001: The user has not consented."}"#;
    let text = refusal(Grant::User, 400, consent).to_string();
    assert!(
        text.contains("AADSTS65001") && text.contains("consent"),
        "{text}"
    );
    let client = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#;
    let error = refusal(Grant::User, 401, client);
    assert!(matches!(error, WorkerError::Token(_)));
    assert!(error.to_string().contains("AADSTS7000215"));
    let html = refusal(Grant::User, 502, b"<html>bad gateway</html>");
    assert!(html.to_string().contains("HTTP 502"), "{html}");
}

#[test]
fn answers_are_read_strictly() {
    let (_, lifetime) = parse_answer(br#"{"access_token":"t","expires_in":"3599"}"#).unwrap();
    assert_eq!(lifetime, Duration::from_secs(3599));
    let (_, lifetime) = parse_answer(br#"{"access_token":"t","expires_in":60}"#).unwrap();
    assert_eq!(lifetime, Duration::from_secs(60));
    assert!(parse_answer(br#"{"access_token":"","expires_in":60}"#).is_err());
    assert!(parse_answer(b"not json").is_err());
}
