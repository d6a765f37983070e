use super::*;

#[test]
fn secrets_are_read_from_key_vaults_answer() {
    let body = br#"{"value":" s3cret\n","id":"https://v.vault.azure.net/secrets/a/1","attributes":{"enabled":true}}"#;
    let secret = parse_secret(body).unwrap();
    assert_eq!(secret.expose(), "s3cret");
    assert!(!format!("{secret:?}").contains("s3cret"));
    assert!(
        parse_secret(br#"{"value":""}"#)
            .unwrap_err()
            .contains("empty")
    );
    assert!(
        parse_secret(br#"{"id":"x"}"#)
            .unwrap_err()
            .contains("empty")
    );
    assert!(parse_secret(b"<html>").unwrap_err().contains("unreadable"));
}

#[test]
fn refusals_say_what_to_do() {
    let body = br#"{"error":{"code":"SecretNotFound","message":"A secret with (name/id) x was not found in this key vault."}}"#;
    let why = refusal(404, body);
    assert!(why.contains("HTTP 404 SecretNotFound: A secret"), "{why}");
    assert!(why.contains("check the name"), "{why}");
    assert!(refusal(403, b"").contains("Key Vault Secrets User"));
    assert!(refusal(401, b"not json").contains("audience"));
    let long = format!(
        r#"{{"error":{{"code":"X","message":"{}"}}}}"#,
        "m".repeat(5000)
    );
    assert!(refusal(500, long.as_bytes()).len() < 500);
}

#[tokio::test]
async fn an_unreachable_vault_names_the_vault() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let source = KeyVaultSource {
        vault_url: Url::parse(&format!("{base}/vault")).unwrap(),
        audience: "https://vault.azure.net".into(),
        client_id_secret: "cid".into(),
        client_secret_secret: "cs".into(),
        tenant_id_secret: "tid".into(),
        identity: common::config::VaultIdentity::Managed { client_id: None },
    };
    let authority = Url::parse(&base).unwrap();
    let app = KeyVaultApp::new(&source, &authority, &reqwest::Client::new()).unwrap();
    let Err(error) = app.fetch("https://x/.default").await else {
        panic!("a token from nowhere");
    };
    assert_eq!(error.code(), common::ErrorCode::UpstreamAuth);
    let text = error.to_string();
    assert!(
        text.contains("/vault") && text.contains("audience"),
        "{text}"
    );
}
