use super::*;
use crate::config::environments;

fn keys() -> KeyVaultKeys {
    KeyVaultKeys {
        url: Some("https://contoso-d365.vault.azure.net".into()),
        client_id_secret: Some("d365-client-id".into()),
        client_secret_secret: Some("d365-client-secret".into()),
        tenant_id_secret: Some("d365-tenant-id".into()),
        ..KeyVaultKeys::default()
    }
}

fn file(key: &str) -> String {
    format!("environments.e.{key}")
}

fn no_vars(_: &str) -> Option<String> {
    None
}

#[test]
fn managed_identity_by_default_and_workload_identity_in_a_pod() {
    let source = keys().parse(&file, &no_vars).unwrap();
    assert_eq!(source.audience, DEFAULT_AUDIENCE);
    assert_eq!(source.scope(), "https://vault.azure.net/.default");
    assert_eq!(source.client_secret_secret, "d365-client-secret");
    assert_eq!(source.identity, VaultIdentity::Managed { client_id: None });
    let pod = |var: &str| match var {
        "AZURE_FEDERATED_TOKEN_FILE" => Some("/var/run/token".to_owned()),
        "AZURE_TENANT_ID" => Some("t".to_owned()),
        "AZURE_CLIENT_ID" => Some("c".to_owned()),
        _ => None,
    };
    let source = keys().parse(&file, &pod).unwrap();
    assert_eq!(
        source.identity,
        VaultIdentity::Workload {
            tenant_id: "t".into(),
            client_id: "c".into(),
            token_file: "/var/run/token".into(),
        }
    );
    let authority = Url::parse("https://login.microsoftonline.com").unwrap();
    let reader = source.reader(&authority);
    assert_eq!(reader.kind.name(), "workload_identity");
    // Asked for explicitly, a user-assigned managed identity in the pod.
    let managed = KeyVaultKeys {
        identity: Some("managed_identity".into()),
        ..keys()
    };
    assert_eq!(
        managed.parse(&file, &pod).unwrap().identity,
        VaultIdentity::Managed {
            client_id: Some("c".into())
        }
    );
}

#[test]
fn audiences_follow_the_cloud() {
    let audience = |url: &str| audience_of(&Url::parse(url).unwrap());
    assert_eq!(
        audience("https://x.vault.azure.net"),
        "https://vault.azure.net"
    );
    assert_eq!(
        audience("https://x.vault.azure.cn/"),
        "https://vault.azure.cn"
    );
    assert_eq!(
        audience("https://x.vault.usgovcloudapi.net"),
        "https://vault.usgovcloudapi.net"
    );
    assert_eq!(
        audience("http://127.0.0.1:1/_sim/keyvault"),
        DEFAULT_AUDIENCE
    );
    let custom = KeyVaultKeys {
        audience: Some("https://vault.example.com/".into()),
        ..keys()
    };
    assert_eq!(
        custom.parse(&file, &no_vars).unwrap().audience,
        "https://vault.example.com"
    );
}

#[test]
fn mistakes_name_the_key() {
    let err = |k: KeyVaultKeys| k.parse(&file, &no_vars).unwrap_err();
    let e = err(KeyVaultKeys {
        url: None,
        ..keys()
    });
    assert_eq!(e.key, "environments.e.keyvault_url");
    let e = err(KeyVaultKeys {
        url: Some("http://contoso.vault.azure.net".into()),
        ..keys()
    });
    assert!(e.reason.contains("https"), "{e}");
    let e = err(KeyVaultKeys {
        tenant_id_secret: None,
        ..keys()
    });
    assert_eq!(e.key, "environments.e.keyvault_tenant_id_secret");
    let e = err(KeyVaultKeys {
        client_secret_secret: Some("bad_name".into()),
        ..keys()
    });
    assert_eq!(e.key, "environments.e.keyvault_client_secret_secret");
    assert!(e.reason.contains("bad_name"), "{e}");
    let e = err(KeyVaultKeys {
        identity: Some("azure_cli".into()),
        ..keys()
    });
    assert_eq!(e.key, "environments.e.keyvault_identity");
    let e = err(KeyVaultKeys {
        identity: Some("workload_identity".into()),
        ..keys()
    });
    assert!(e.reason.contains("AZURE_FEDERATED_TOKEN_FILE"), "{e}");
    assert!(check_secret_name("k", &"a".repeat(127)).is_ok());
    assert!(check_secret_name("k", &"a".repeat(128)).is_err());
    assert!(check_secret_name("k", "").is_err());
}

#[test]
fn the_environment_variables() {
    let settings = D365Settings {
        base_url: Some("https://contoso.operations.dynamics.com".into()),
        ..D365Settings::default()
    };
    let config = d365_config("prod", &settings, &keys(), &no_vars).unwrap();
    let credentials = config.credentials.unwrap();
    assert_eq!(credentials.kind.name(), "keyvault");
    assert!(!credentials.kind.authenticates_client());
    let err = |s: &D365Settings, k: &KeyVaultKeys| d365_config("p", s, k, &no_vars).unwrap_err();
    let with_secret = D365Settings {
        client_secret: Some("s".into()),
        ..settings.clone()
    };
    assert!(
        err(&with_secret, &keys())
            .key
            .contains("D365FO_CLIENT_SECRET")
    );
    let no_url = KeyVaultKeys {
        url: None,
        ..keys()
    };
    assert_eq!(
        err(&settings, &no_url).key,
        "D365FO_KEYVAULT_URL (--d365fo-keyvault-url)"
    );
    assert!(
        err(&D365Settings::default(), &keys())
            .key
            .contains("D365FO_BASE_URL")
    );
    // The secret's value never reaches Debug output; here there is none yet.
    assert!(!format!("{:?}", keys().parse(&file, &no_vars)).contains("Secret("));
}

#[test]
fn the_environments_file() {
    let envs = environments::parse(
        r#"
        [environments.kv]
        base_url = "https://contoso.operations.dynamics.com"
        credential = "keyvault"
        keyvault_url = "https://contoso-d365.vault.azure.net"
        keyvault_client_id_secret = "d365-client-id"
        keyvault_client_secret_secret = "d365-client-secret"
        keyvault_tenant_id_secret = "d365-tenant-id"
        "#,
        no_vars,
    )
    .unwrap();
    let credentials = envs.all[0].credentials.clone().unwrap();
    let CredentialKind::KeyVault(source) = credentials.kind else {
        panic!("not the keyvault kind");
    };
    assert_eq!(source.tenant_id_secret, "d365-tenant-id");
    let err = |text: &str| environments::parse(text, no_vars).unwrap_err().key;
    let key = |k: &str| format!("{}: environments.a.{k}", environments::KEY);
    let base = "[environments.a]\nbase_url = \"https://x.example\"\n";
    assert_eq!(
        err(&format!("{base}credential = \"keyvault\"\n")),
        key("keyvault_url")
    );
    assert_eq!(
        err(&format!(
            "{base}credential = \"managed_identity\"\nkeyvault_url = \"https://v.vault.azure.net\"\n"
        )),
        key("keyvault_url")
    );
    assert_eq!(
        err(&format!("{base}keyvault_tenant_id_secret = \"t\"\n")),
        key("keyvault_tenant_id_secret")
    );
    let with_tenant = format!(
        "{base}tenant_id = \"t\"\ncredential = \"keyvault\"\nkeyvault_url = \"https://v.vault.azure.net\"\n\
         keyvault_client_id_secret = \"a\"\nkeyvault_client_secret_secret = \"b\"\n\
         keyvault_tenant_id_secret = \"c\"\n"
    );
    assert_eq!(err(&with_tenant), key("tenant_id"));
    let obo = with_tenant.replace("tenant_id = \"t\"\n", "on_behalf_of = \"preferred\"\n");
    assert_eq!(err(&obo), key("on_behalf_of"));
}
