//! Entra ID as this project's components meet it, and the bearer check
//! D365FO makes on every `/data`, `/Metadata` and `/api` request.
//!
//! - [`token`]: `POST /{tenant}/oauth2/v2.0/token`: the client-credentials,
//!   resource-owner password and on-behalf-of grants ([`grants`], [`obo`]),
//!   with Entra's success and error bodies (`entra`).
//! - [`discovery`]: the OpenID configuration and the JWKS.
//! - [`keys`]: the simulator's fixed RS256 key pair.
//! - [`claims`]: v1 tokens (for D365FO) and v2 tokens (for registered APIs).
//! - [`directory`]: app registrations, exposed scopes, users and their
//!   D365FO roles.
//! - [`users`]: admin routes: a user's token without a password, and the
//!   count of grants by kind.
//! - [`live`]: what tests change while it runs: a client secret's
//!   rotation (and the tokens D365FO then refuses).
//! - [`vault`]: Azure Key Vault's secret endpoint and the managed-identity
//!   (IMDS) token endpoint that reads it.
//! - [`bearer`]: the check of an `Authorization: Bearer …` header, the 401
//!   D365FO answers when it fails, and the principal writes are allowed by.
//!
//! Tokens are RS256 with a `kid`, as Entra signs them, so the edge can
//! validate the simulator's tokens against its JWKS exactly as it would
//! Entra's. An RSA verification costs far more than an HMAC, so
//! `Required` mode remembers the tokens it verified (see [`bearer`]): a
//! client reusing its token, as every client does for an hour, pays one
//! hash-map lookup per request.

pub mod bearer;
pub mod claims;
pub mod directory;
pub mod discovery;
mod entra;
pub mod grants;
pub mod keys;
pub mod live;
pub mod obo;
pub mod token;
pub mod users;
pub mod vault;

use std::str::FromStr;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};

pub use claims::{Claims, V2Claims, issuer, issuer_v2};
pub use directory::{
    ClientCredential, D365Role, DEFAULT_USER_PASSWORD, Exposure, SimUser, default_users,
};

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

/// The tenant of the default configuration.
pub const DEFAULT_TENANT_ID: &str = "00000000-0000-0000-0000-000000000365";
/// The client id of the default test client.
pub const DEFAULT_CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
/// The secret of the default test client.
pub const DEFAULT_CLIENT_SECRET: &str = "d365mcp-sim-secret";
/// The Application ID URI of the API the default test client exposes (the
/// edge's, for user tokens and the on-behalf-of exchange).
pub const DEFAULT_APP_ID_URI: &str = "api://d365mcp";
/// The delegated scope that API exposes.
pub const DEFAULT_SCOPE: &str = "mcp.tools";

/// Authentication settings of a simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// How D365FO endpoints check tokens. Default [`AuthMode::None`].
    pub mode: AuthMode,
    /// The one tenant (directory) the token endpoint serves; a request for
    /// another gets Entra's AADSTS90002. Default [`DEFAULT_TENANT_ID`].
    pub tenant_id: String,
    /// The registered clients. Default: one test client,
    /// [`DEFAULT_CLIENT_ID`] with secret [`DEFAULT_CLIENT_SECRET`], exposing
    /// [`DEFAULT_APP_ID_URI`] with the scope [`DEFAULT_SCOPE`], acting as a
    /// D365FO admin with app-only tokens.
    pub clients: Vec<ClientCredential>,
    /// The directory's users, who are D365FO users too. Default
    /// [`default_users`]: alice (writer) and bob (reader).
    pub users: Vec<SimUser>,
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
                app_id_uri: Some(DEFAULT_APP_ID_URI.to_owned()),
                scopes: vec![DEFAULT_SCOPE.to_owned()],
                ..ClientCredential::new(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            }],
            users: default_users(),
            token_lifetime_secs: 3599,
            clock_skew_secs: 300,
        }
    }
}

impl AuthConfig {
    /// The registered app with client id `client_id`.
    pub fn client(&self, client_id: &str) -> Option<&ClientCredential> {
        self.clients
            .iter()
            .find(|c| c.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The registered app whose API `resource` names (client id or
    /// Application ID URI).
    pub fn api(&self, resource: &str) -> Option<&ClientCredential> {
        self.clients.iter().find(|c| c.is_resource(resource))
    }

    /// The user with this UPN (case-insensitive).
    pub fn user(&self, upn: &str) -> Option<&SimUser> {
        self.users.iter().find(|u| u.upn.eq_ignore_ascii_case(upn))
    }

    /// The user with this object id.
    pub fn user_by_oid(&self, oid: &str) -> Option<&SimUser> {
        self.users.iter().find(|u| u.object_id == oid)
    }
}

/// The Entra routes: the token endpoint, discovery, IMDS, Key Vault, and
/// the admin routes of [`users`], [`live`] and [`vault`]. Merged beside
/// the gated D365FO routes, so faults never reach them. `live` is shared
/// with the bearer check.
pub fn router(config: AuthConfig, live: Arc<live::Live>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token::token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::jwks))
        .route("/_sim/users/{upn}/token", post(users::token))
        .route("/_sim/tokens", get(users::counts))
        .route("/_sim/clients/{client_id}/secret", post(live::rotate))
        .route("/_sim/keyvault/secrets/{name}", get(vault::get_secret))
        .route("/_sim/vault/secrets/{name}", put(vault::set_secret))
        .route("/metadata/identity/oauth2/token", get(vault::imds_token))
        // Token requests are small forms; an assertion is bounded too
        // (`obo::MAX_ASSERTION_LEN`). Larger bodies get a 413.
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(Arc::new(token::Issuer::with_live(config, live)))
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
    fn modes_parse() {
        assert_eq!("any-token".parse::<AuthMode>(), Ok(AuthMode::AnyToken));
        assert_eq!("REQUIRED".parse::<AuthMode>(), Ok(AuthMode::Required));
        assert!("maybe".parse::<AuthMode>().is_err());
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
