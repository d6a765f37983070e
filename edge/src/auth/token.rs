//! OAuth 2.1 access tokens: a JWT checked, then turned into a [`Principal`].
//!
//! RS256 only, with a key of the issuer's set ([`Jwks`]); `iss` exactly the
//! configured issuer; every `aud` value one of the configured audiences (a
//! token also minted for someone else is not ours to use, nor to forward);
//! `exp` and `nbf` with [`LEEWAY`]; at most [`MAX_TOKEN_BYTES`] long.
//!
//! Entra ID v2 first: a delegated (user) token carries `scp`, space
//! separated, and the user's `oid`; an app-only token carries `roles`. The
//! subject is `oid`, else `sub`. A delegated token is kept (as the
//! [`UserAssertion`]) for the worker's on-behalf-of exchange.

use std::{collections::HashSet, sync::Arc, time::Duration};

use common::config::OAuthConfig;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::{Principal, jwks::Jwks};

/// Longest token read; Entra's are a few kilobytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY: u64 = 60;
/// Most scopes or roles carried on to the worker, and the longest each.
const MAX_SCOPES: usize = 64;
const MAX_SCOPE_CHARS: usize = 256;
/// Longest subject accepted.
const MAX_SUBJECT_CHARS: usize = 256;

/// A user's own access token, handed to the worker for on-behalf-of.
/// Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct UserAssertion(pub String);

impl std::fmt::Debug for UserAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserAssertion(***)")
    }
}

/// What a token lets its holder do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token's scopes (delegated) or roles (app-only), as it holds them.
    pub scopes: Vec<String>,
    /// Whether it may call tools that change data.
    pub may_write: bool,
    /// The scope that would let it (as a client asks for it), for a 403.
    pub write_scope: String,
    /// The token itself, when it is a user's (delegated).
    pub assertion: Option<UserAssertion>,
}

/// Why a token is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// Not a valid token for this server: 401 `invalid_token`.
    Invalid(String),
    /// Valid, but gives neither scope: 403 `insufficient_scope`.
    NoScope,
    /// The issuer's keys cannot be had just now: 503.
    Unavailable(String),
}

/// The claims read beyond those `jsonwebtoken` checks.
#[derive(Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    aud: OneOrMany,
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    scp: Option<String>,
    #[serde(default)]
    roles: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
    #[default]
    None,
}

/// Checks the tokens of one issuer.
pub struct Verifier {
    config: OAuthConfig,
    audiences: HashSet<String>,
    jwks: Jwks,
    validation: Validation,
}

impl Verifier {
    /// A verifier of `config`'s tokens, fetching keys at most once per
    /// `min_interval`.
    pub fn new(config: &OAuthConfig, min_interval: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY;
        validation.validate_nbf = true;
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&config.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        Self {
            audiences: config.audiences.iter().cloned().collect(),
            jwks: Jwks::new(&config.issuer, config.jwks_url.clone(), min_interval),
            config: config.clone(),
            validation,
        }
    }

    /// The cached keys.
    #[cfg(test)]
    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    /// The configuration checked against.
    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    /// The principal `token` authenticates.
    pub async fn verify(&self, token: &str) -> Result<Principal, Rejected> {
        let invalid = |why: &str| Rejected::Invalid(why.to_owned());
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("the access token is too long"));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("the access token is not a readable JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid("the access token must be signed with RS256"));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the access token names no signing key (kid)"))?;
        let key = self.jwks.key(&kid).await.map_err(|e| match e {
            super::jwks::KeyError::Unknown => invalid(&e.to_string()),
            super::jwks::KeyError::Unavailable(_) => Rejected::Unavailable(e.to_string()),
        })?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| Rejected::Invalid(reason(e.kind()).to_owned()))?
            .claims;
        let audiences = match claims.aud {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
            OneOrMany::None => Vec::new(),
        };
        if audiences.is_empty() || audiences.iter().any(|a| !self.audiences.contains(a)) {
            return Err(invalid("the access token was issued for another audience"));
        }
        let subject = claims
            .oid
            .or(claims.sub)
            .filter(|s| !s.is_empty() && s.chars().count() <= MAX_SUBJECT_CHARS)
            .ok_or_else(|| invalid("the access token names no subject (oid or sub)"))?;
        let delegated = claims.scp.is_some();
        let scopes: Vec<String> = match (&claims.scp, claims.roles) {
            (Some(scp), _) => scp.split_whitespace().map(str::to_owned).collect(),
            (None, Some(roles)) => roles,
            (None, None) => Vec::new(),
        };
        let scopes: Vec<String> = scopes
            .into_iter()
            .filter(|s| !s.is_empty() && s.chars().count() <= MAX_SCOPE_CHARS)
            .take(MAX_SCOPES)
            .collect();
        let has = |name: &str| {
            let full = self.config.full_scope(name);
            scopes.iter().any(|s| *s == name || *s == full)
        };
        let may_write = has(&self.config.write_scope);
        if !may_write && !has(&self.config.read_scope) {
            return Err(Rejected::NoScope);
        }
        Ok(Principal {
            subject,
            tenant: self.config.tenant.clone(),
            issuer: format!("jwt:{}", claims.iss),
            grant: Some(Arc::new(Grant {
                scopes,
                may_write,
                write_scope: self.config.full_scope(&self.config.write_scope),
                assertion: delegated.then(|| UserAssertion(token.to_owned())),
            })),
        })
    }
}

/// Whether `credential` has a JWT's shape (three base64url parts), so that
/// it is checked as a token rather than as an API key.
pub fn looks_like_jwt(credential: &str) -> bool {
    let parts = credential.split('.').collect::<Vec<_>>();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && credential
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// What a client is told of a failed check: enough to act on, nothing of
/// the token.
fn reason(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => "the access token has expired",
        K::ImmatureSignature => "the access token is not valid yet (nbf)",
        K::InvalidIssuer => "the access token was issued by another issuer",
        K::InvalidAudience => "the access token was issued for another audience",
        K::InvalidSignature => "the access token's signature does not verify",
        K::InvalidAlgorithm => "the access token must be signed with RS256",
        K::MissingRequiredClaim(_) => "the access token lacks a required claim (exp, iss, aud)",
        _ => "the access token is not valid",
    }
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
