//! The application's credentials in Azure Key Vault, end to end against
//! the simulator (its D365FO checking tokens): the worker reads the three
//! secrets with the node's managed identity (the simulator's IMDS, a token
//! for `https://vault.azure.net`), calls D365FO, and recovers with no
//! restart when the client secret is rotated: the simulator's app
//! registration takes a new secret (the old one stops working, and D365FO
//! refuses the tokens issued with it) and the vault holds the new one.

use common::config::{
    ClientCredentials, CredentialKind, KeyVaultSource, OnBehalfOf, VaultIdentity,
};
use serde_json::json;
use sim::auth::{AuthConfig, AuthMode, DEFAULT_CLIENT_ID, vault::DEFAULT_SECRET_NAMES};
use url::Url;
use worker::Worker;

use super::{Called, call, config, request};

/// A simulator whose D365FO wants a token of its own Entra stand-in, and
/// a client for its admin routes.
struct Sim {
    /// Runs until dropped.
    _sim: super::simulator::Sim,
    base: Url,
    http: reqwest::Client,
}

impl Sim {
    async fn start() -> Self {
        let config = sim::SimConfig {
            auth: AuthConfig {
                mode: AuthMode::Required,
                ..AuthConfig::default()
            },
            ..sim::SimConfig::default()
        };
        let sim = super::simulator::Sim::start_with(config).await;
        Self {
            base: sim.base.clone(),
            _sim: sim,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    /// A worker whose one environment's credentials are in the vault,
    /// under `names` (client id, client secret, tenant id).
    fn worker(&self, audience: &str, names: [&str; 3]) -> Worker {
        let source = KeyVaultSource {
            vault_url: self.base.join("/_sim/keyvault").unwrap(),
            audience: audience.into(),
            client_id_secret: names[0].into(),
            client_secret_secret: names[1].into(),
            tenant_id_secret: names[2].into(),
            identity: VaultIdentity::Managed { client_id: None },
        };
        let mut config = config(&self.base);
        config.environments[0].credentials = Some(ClientCredentials {
            tenant_id: String::new(),
            client_id: String::new(),
            kind: CredentialKind::KeyVault(Box::new(source)),
            authority_host: self.base.clone(),
            on_behalf_of: OnBehalfOf::Off,
        });
        Worker::standalone(config).unwrap()
    }

    async fn post(&self, path: &str, body: serde_json::Value) {
        let response = self
            .http
            .post(self.base.join(path).unwrap())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {response:?}");
    }

    /// The app's client secret becomes `secret`; D365FO refuses the tokens
    /// issued with the old one.
    async fn rotate_app_secret(&self, secret: &str) {
        let path = format!("/_sim/clients/{DEFAULT_CLIENT_ID}/secret");
        self.post(&path, json!({"secret": secret, "revoke_tokens": true}))
            .await;
    }

    async fn set_vault_secret(&self, name: &str, value: &str) {
        let response = self
            .http
            .put(
                self.base
                    .join(&format!("/_sim/vault/secrets/{name}"))
                    .unwrap(),
            )
            .json(&json!({"value": value}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }

    async fn client_credentials_grants(&self) -> u64 {
        let counts: serde_json::Value = self
            .http
            .get(self.base.join("/_sim/tokens").unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        counts["client_credentials"].as_u64().unwrap()
    }
}

async fn query(worker: &Worker) -> Called {
    let args = json!({"entity_set": "CustomersV3", "top": 1});
    call(worker, request("d365fo_query_entities", args)).await
}

const AUDIENCE: &str = "https://vault.azure.net";

#[tokio::test]
async fn a_rotated_client_secret_is_read_again_without_a_restart() {
    let sim = Sim::start().await;
    let worker = sim.worker(AUDIENCE, DEFAULT_SECRET_NAMES);
    query(&worker).await.ok();
    query(&worker).await.ok();
    assert_eq!(
        sim.client_credentials_grants().await,
        1,
        "one token, reused"
    );

    // Rotated in Entra and in the vault: D365FO refuses the token in hand
    // (401); the worker reads the vault again and the retry succeeds.
    sim.rotate_app_secret("rotated-1").await;
    sim.set_vault_secret(DEFAULT_SECRET_NAMES[1], "rotated-1")
        .await;
    query(&worker).await.ok();
    assert_eq!(sim.client_credentials_grants().await, 2);

    // Rotated in Entra before the vault: the call fails, naming Entra's
    // refusal of the old secret...
    sim.rotate_app_secret("rotated-2").await;
    let failed = query(&worker).await;
    let failure = failed.failure();
    assert_eq!(failure.code, "upstream_auth");
    assert!(failure.message.contains("AADSTS7000215"), "{failure:?}");
    // ...and once the vault has the new secret, the next call works: Entra
    // refuses the cached secret, the vault is read again.
    sim.set_vault_secret(DEFAULT_SECRET_NAMES[1], "rotated-2")
        .await;
    query(&worker).await.ok();
}

#[tokio::test]
async fn a_wrong_audience_or_a_missing_secret_is_named() {
    let sim = Sim::start().await;
    let wrong = sim.worker("https://vault.example.com", DEFAULT_SECRET_NAMES);
    let failed = query(&wrong).await;
    let failure = failed.failure();
    assert_eq!(failure.code, "upstream_auth");
    for words in [DEFAULT_SECRET_NAMES[0], "AKV10022", "audience"] {
        assert!(failure.message.contains(words), "{words}: {failure:?}");
    }

    let names = [
        DEFAULT_SECRET_NAMES[0],
        "no-such-secret",
        DEFAULT_SECRET_NAMES[2],
    ];
    let missing = sim.worker(AUDIENCE, names);
    let failed = query(&missing).await;
    let failure = failed.failure();
    assert_eq!(failure.code, "upstream_auth");
    for words in ["`no-such-secret`", "SecretNotFound", "/_sim/keyvault"] {
        assert!(failure.message.contains(words), "{words}: {failure:?}");
    }
    assert!(
        !failure.message.contains(sim::auth::DEFAULT_CLIENT_SECRET),
        "a secret's value in an error: {failure:?}"
    );
}
