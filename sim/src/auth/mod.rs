//! Entra ID as D365FO clients meet it: a client-credentials token endpoint
//! that issues signed JWTs, and the bearer check D365FO makes on every
//! `/data`, `/Metadata` and `/api` request.
//!
//! - [`token`]: `POST /{tenant}/oauth2/v2.0/token`, with Entra's success
//!   and error bodies ([`entra`]).
//! - [`bearer`]: the check of an `Authorization: Bearer …` header and the
//!   401 D365FO answers when it fails.
//!
//! Tokens are HS256, not Entra's RS256: clients treat access tokens as
//! opaque, only the simulator itself validates them, and an HMAC check costs
//! about a microsecond, so `Required` mode does not become a benchmark's
//! bottleneck. The claims are those of an Entra v1 access token for a
//! resource such as D365FO (`iss` `https://sts.windows.net/{tenant}/`).

pub mod bearer;
mod entra;
pub mod token;

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How `/data`, `/Metadata` and `/api` treat the `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// No token needed (the default): `d365mcp dev`, the worker's and the
    /// cluster's tests talk to the simulator without credentials.
    #[default]
    None,
    /// Any `Bearer` value is accepted, signed or not; a missing one is 401.
    /// For demos with clients that insist on sending a token.
    AnyToken,
    /// A token issued by this simulator's token endpoint, unexpired, for
    /// this simulator's base URL; anything else is 401, as D365FO does.
    Required,
}

impl FromStr for AuthMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "none" => Ok(Self::None),
            "any-token" | "any" => Ok(Self::AnyToken),
            "required" => Ok(Self::Required),
            other => Err(format!(
                "unknown auth mode '{other}': expected none, any-token or required"
            )),
        }
    }
}

/// An app registration that may ask for tokens: Entra's client id and one
/// of its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCredential {
    /// The application (client) id.
    pub client_id: String,
    /// The client secret's value.
    pub client_secret: String,
}

impl FromStr for ClientCredential {
    type Err = String;

    /// `client_id:client_secret`; the secret may itself contain `:`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some((id, secret)) if !id.trim().is_empty() && !secret.is_empty() => Ok(Self {
                client_id: id.trim().to_owned(),
                client_secret: secret.to_owned(),
            }),
            _ => Err(format!(
                "'{s}' is not a client: expected client_id:client_secret"
            )),
        }
    }
}

/// The tenant of the default configuration.
pub const DEFAULT_TENANT_ID: &str = "00000000-0000-0000-0000-000000000365";
/// The client id of the default test client.
pub const DEFAULT_CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
/// The secret of the default test client.
pub const DEFAULT_CLIENT_SECRET: &str = "d365mcp-sim-secret";

/// Authentication settings of a simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// How D365FO endpoints check tokens. Default [`AuthMode::None`].
    pub mode: AuthMode,
    /// The one tenant (directory) the token endpoint serves; a request for
    /// another gets Entra's AADSTS90002. Default [`DEFAULT_TENANT_ID`].
    pub tenant_id: String,
    /// The registered clients. Default: one test client,
    /// [`DEFAULT_CLIENT_ID`] with secret [`DEFAULT_CLIENT_SECRET`].
    pub clients: Vec<ClientCredential>,
    /// The HMAC key tokens are signed with; tests use it to forge expired or
    /// foreign tokens. Never a secret worth keeping: it is a simulator.
    pub signing_key: String,
    /// `expires_in` of issued tokens, in seconds (Entra: 3599).
    pub token_lifetime_secs: u64,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (300, the .NET
    /// token handler's default that D365FO runs with).
    pub clock_skew_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::None,
            tenant_id: DEFAULT_TENANT_ID.to_owned(),
            clients: vec![ClientCredential {
                client_id: DEFAULT_CLIENT_ID.to_owned(),
                client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            }],
            signing_key: "d365mcp-simulator-token-signing-key".to_owned(),
            token_lifetime_secs: 3599,
            clock_skew_secs: 300,
        }
    }
}

/// The claims of an access token, as Entra's v1 tokens carry them.
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
    /// How the client authenticated: "1" for a secret.
    #[serde(default)]
    pub appidacr: String,
    /// The identity provider: the issuer, for service principals.
    #[serde(default)]
    pub idp: String,
    /// The service principal's object id.
    #[serde(default)]
    pub oid: String,
    /// The subject: the same object id for app-only tokens.
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
}

/// `https://sts.windows.net/{tenant}/`, the issuer of v1 access tokens.
pub fn issuer(tenant_id: &str) -> String {
    format!("https://sts.windows.net/{tenant_id}/")
}

/// A stable, GUID-shaped object id for a client, so a client's `oid` (and
/// with it its throttling identity) is the same in every token.
pub fn object_id(client_id: &str) -> String {
    // FNV-1a twice with different offsets: cheap, stable across builds.
    let hash = |seed: u64| {
        client_id.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let (a, b) = (hash(0xcbf2_9ce4_8422_2325), hash(0x8422_2325_cbf2_9ce4));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_clients_parse() {
        assert_eq!("any-token".parse::<AuthMode>(), Ok(AuthMode::AnyToken));
        assert_eq!("REQUIRED".parse::<AuthMode>(), Ok(AuthMode::Required));
        assert!("maybe".parse::<AuthMode>().is_err());
        let c: ClientCredential = "app:s:e:c".parse().unwrap();
        assert_eq!(
            (c.client_id.as_str(), c.client_secret.as_str()),
            ("app", "s:e:c")
        );
        assert!("nosecret".parse::<ClientCredential>().is_err());
        assert!(":x".parse::<ClientCredential>().is_err());
    }

    #[test]
    fn object_ids_are_stable_guids() {
        let a = object_id("client-a");
        assert_eq!(a, object_id("client-a"));
        assert_ne!(a, object_id("client-b"));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
