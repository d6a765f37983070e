//! The claims of the access tokens the simulator issues, as the Microsoft
//! identity platform documents them ("Access token claims reference").
//!
//! - [`Claims`]: a v1 token, what Entra issues for D365FO (its resource
//!   accepts v1 tokens): `iss` `https://sts.windows.net/{tenant}/`, `aud`
//!   the environment URL, `appid`; user tokens add `upn`, `unique_name`,
//!   `name` and `scp`.
//! - [`V2Claims`]: a v2 token, what Entra issues for an API registered with
//!   `accessTokenAcceptedVersion: 2` (the edge's): `iss`
//!   `{authority}/{tenant}/v2.0`, `aud` the API's client id, `azp`,
//!   `azpacr`, `ver` `2.0`; delegated tokens carry `scp`, app-only tokens
//!   `roles` and no `scp`.

use serde::{Deserialize, Serialize};

/// The claims of a v1 access token (for D365FO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The resource: the environment's base URL as the client named it.
    pub aud: String,
    /// `https://sts.windows.net/{tenant}/`.
    pub iss: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Not before (Unix seconds).
    pub nbf: u64,
    /// Expires (Unix seconds).
    pub exp: u64,
    /// The client (application) id.
    #[serde(default)]
    pub appid: String,
    /// How the client authenticated: "1" for a secret, "0" for none.
    #[serde(default)]
    pub appidacr: String,
    /// The identity provider: the issuer.
    #[serde(default)]
    pub idp: String,
    /// The object id of the user, or of the app's service principal.
    #[serde(default)]
    pub oid: String,
    /// The subject: the same object id here.
    #[serde(default)]
    pub sub: String,
    /// The tenant id.
    #[serde(default)]
    pub tid: String,
    /// A unique token id.
    #[serde(default)]
    pub uti: String,
    /// Token version, "1.0".
    #[serde(default)]
    pub ver: String,
    /// The user's UPN (user tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// The user's UPN again, as v1 tokens carry it (user tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    /// The user's display name (user tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Delegated scopes, space-separated (`user_impersonation`; user tokens
    /// only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
}

impl Claims {
    /// Whether a user, not an app alone, is the subject.
    pub fn is_user(&self) -> bool {
        self.scp.is_some()
    }
}

/// The claims of a v2 access token (for an API registered here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2Claims {
    /// The API's client id.
    pub aud: String,
    /// `{authority}/{tenant}/v2.0`.
    pub iss: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Not before (Unix seconds).
    pub nbf: u64,
    /// Expires (Unix seconds).
    pub exp: u64,
    /// The tenant id.
    pub tid: String,
    /// The object id of the user, or of the calling app's service principal.
    pub oid: String,
    /// The subject: the object id here (Entra uses a pairwise id; guessed
    /// equal, so tests can match it).
    pub sub: String,
    /// The client that asked for the token.
    pub azp: String,
    /// How it authenticated: "0" public client, "1" secret.
    pub azpacr: String,
    /// "2.0".
    pub ver: String,
    /// A unique token id.
    #[serde(default)]
    pub uti: String,
    /// The user's UPN (delegated tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// The user's sign-in name (delegated tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// The user's display name (delegated tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Delegated scopes, space-separated; absent from app-only tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// App roles; app-only tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// "app" on app-only tokens (Entra's optional `idtyp` claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<String>,
}

impl V2Claims {
    /// Whether a user, not an app alone, is the subject.
    pub fn is_user(&self) -> bool {
        self.scp.is_some() && self.idtyp.as_deref() != Some("app")
    }
}

/// `https://sts.windows.net/{tenant}/`, the issuer of v1 access tokens.
pub fn issuer(tenant_id: &str) -> String {
    format!("https://sts.windows.net/{tenant_id}/")
}

/// `{authority}/{tenant}/v2.0`, the issuer of v2 tokens; `authority` is
/// the simulator's own base URL (`http://127.0.0.1:8090`), as the client
/// reached it.
pub fn issuer_v2(authority: &str, tenant_id: &str) -> String {
    format!("{}/{tenant_id}/v2.0", authority.trim_end_matches('/'))
}
