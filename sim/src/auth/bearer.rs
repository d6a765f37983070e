//! The bearer check D365FO makes on `/data`, `/Metadata` and `/api`, and the
//! caller identity throttling is keyed by.
//!
//! A request that fails the check gets D365FO's 401: ASP.NET's JSON
//! authentication failure, `{"Message":"Authentication failed.",…}` with a
//! `jsonerror: true` header, and `WWW-Authenticate: Bearer` as RFC 6750
//! requires of a bearer-protected resource.
//!
//! In `Required` mode a token names a D365FO user: a user token its user
//! (by `oid`), an app-only token the D365FO user the app is mapped to
//! (`ClientCredential::d365_role`). A token of a user or app D365FO does not
//! know gets the same 401 (guessed: D365FO's answer to an Entra identity
//! with no D365FO user is not documented).
//!
//! Cost: tokens are RS256, and an RSA verification is the expensive part
//! (not measured here). Verified tokens are remembered (up to [`CACHE_CAPACITY`], then the
//! memory is cleared): a client that reuses its token, as every client does
//! until it nears expiry, pays a hash-map lookup under a short lock, an
//! expiry and an audience comparison per request.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, Validation};
use parking_lot::Mutex;

use super::keys::keys;
use super::{AuthConfig, AuthMode, Claims, issuer, now_secs};

/// How many verified tokens are remembered.
pub const CACHE_CAPACITY: usize = 4096;

/// The body D365FO sends with a 401.
pub const AUTH_FAILED_BODY: &str = r#"{"Message":"Authentication failed.","StackTrace":null,"ExceptionType":"System.InvalidOperationException"}"#;

/// Why a request was refused; logged at debug, never shown to the client
/// (D365FO's body says only "Authentication failed.").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No `Authorization: Bearer …` header.
    #[error("no bearer token")]
    Missing,
    /// Not a JWT, or not signed by this simulator, or not from its tenant.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Past `exp` (plus the tolerated clock skew).
    #[error("the token has expired")]
    Expired,
    /// Issued for another resource than this simulator's base URL.
    #[error("the token's audience '{0}' is not this environment")]
    WrongAudience(String),
    /// A user or app this environment has no D365FO user for.
    #[error("'{0}' is no user of this environment")]
    UnknownUser(String),
}

/// Who a verified token acts as in D365FO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The throttling identity.
    pub caller: Caller,
    /// Whether the D365FO user may create, update and delete records.
    pub can_write: bool,
}

/// A verified token, remembered.
#[derive(Debug, Clone)]
struct Verified {
    aud: String,
    exp: u64,
    principal: Principal,
}

/// Who is calling, for per-caller throttling: a verified token's `oid` (or
/// `appid`), else the client's IP address. A token nobody checked (modes
/// `None` and `AnyToken`) names no one: a client could mint a fresh `oid`
/// per request and never be throttled.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller(pub String);

/// Checks bearer tokens for one simulator.
pub struct Verifier {
    mode: AuthMode,
    config: AuthConfig,
    validation: Validation,
    verified: Mutex<HashMap<String, Verified>>,
    /// Tokens revoked by a rotation (`POST /_sim/clients/{id}/secret`).
    live: Arc<super::live::Live>,
}

impl Verifier {
    /// A verifier for `config`.
    pub fn new(config: &AuthConfig) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        // Capped: jsonwebtoken computes `now - leeway`, which must not underflow.
        validation.leeway = config.clock_skew_secs.min(86_400);
        validation.validate_nbf = true;
        // The audience depends on the Host the request came to; checked after.
        validation.validate_aud = false;
        validation.set_issuer(&[issuer(&config.tenant_id)]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        Self {
            mode: config.mode,
            config: config.clone(),
            validation,
            verified: Mutex::default(),
            live: Arc::default(),
        }
    }

    /// The verifier, refusing the tokens `live` revokes.
    pub fn with_live(mut self, live: Arc<super::live::Live>) -> Self {
        self.live = live;
        self
    }

    /// The configured mode.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// Checks the request's token for an environment at `base_url`; who
    /// it acts as on success (`None` when no verified token names anyone:
    /// modes `None` and `AnyToken`).
    pub fn check(
        &self,
        headers: &HeaderMap,
        base_url: &str,
    ) -> Result<Option<Principal>, AuthFailure> {
        self.check_at(headers, base_url, now_secs())
    }

    fn check_at(
        &self,
        headers: &HeaderMap,
        base_url: &str,
        now: u64,
    ) -> Result<Option<Principal>, AuthFailure> {
        let token = bearer(headers);
        match self.mode {
            AuthMode::None => Ok(None),
            AuthMode::AnyToken => token.map(|_| None).ok_or(AuthFailure::Missing),
            AuthMode::Required => {
                let token = token.ok_or(AuthFailure::Missing)?;
                if self.live.is_revoked(token) {
                    return Err(AuthFailure::Invalid("revoked".into()));
                }
                let remembered = self.verified.lock().get(token).cloned();
                let verified = match remembered {
                    Some(v) if now <= v.exp.saturating_add(self.validation.leeway) => v,
                    Some(_) => return Err(AuthFailure::Expired),
                    None => self.verify(token)?,
                };
                if !same_url(&verified.aud, base_url) {
                    return Err(AuthFailure::WrongAudience(verified.aud));
                }
                Ok(Some(verified.principal))
            }
        }
    }

    /// The full check: signature, issuer, lifetime, and the D365FO user.
    fn verify(&self, token: &str) -> Result<Verified, AuthFailure> {
        use jsonwebtoken::errors::ErrorKind;
        let keys = keys().map_err(|e| AuthFailure::Invalid(e.to_string()))?;
        let claims = jsonwebtoken::decode::<Claims>(token, &keys.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthFailure::Expired,
                _ => AuthFailure::Invalid(e.to_string()),
            })?;
        let principal = self.principal(&claims)?;
        let verified = Verified {
            aud: claims.aud,
            exp: claims.exp,
            principal,
        };
        let mut remembered = self.verified.lock();
        if remembered.len() >= CACHE_CAPACITY {
            remembered.clear();
        }
        remembered.insert(token.to_owned(), verified.clone());
        Ok(verified)
    }

    /// The D365FO user a verified token acts as.
    fn principal(&self, claims: &Claims) -> Result<Principal, AuthFailure> {
        let (id, role) = if claims.is_user() {
            let user = self.config.user_by_oid(&claims.oid);
            (&claims.oid, user.map(|u| u.role))
        } else {
            let app = self.config.client(&claims.appid);
            (&claims.appid, app.map(|a| a.d365_role))
        };
        let role = role.ok_or_else(|| AuthFailure::UnknownUser(id.clone()))?;
        let caller = caller_of(claims).ok_or_else(|| AuthFailure::UnknownUser(id.clone()))?;
        Ok(Principal {
            caller,
            can_write: role.can_write(),
        })
    }
}

/// The token of an `Authorization: Bearer …` header (scheme
/// case-insensitive, as RFC 6750 allows).
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn caller_of(claims: &Claims) -> Option<Caller> {
    identity([&claims.oid, &claims.appid])
}

fn identity<const N: usize>(ids: [&String; N]) -> Option<Caller> {
    ids.into_iter()
        .find(|id| !id.is_empty())
        .map(|id| Caller(format!("oid:{id}")))
}

/// Same URL up to letter case and a trailing `/`, as D365FO compares the
/// audience with its own URL.
fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// D365FO's 401.
pub fn unauthorized() -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, AUTH_FAILED_BODY).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert("jsonerror", HeaderValue::from_static("true"));
    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// D365FO's refusal of a create, update or delete under `/data` by a user
/// whose roles grant no write: `None` when `principal` may write, or when no
/// token was checked (modes `None` and `AnyToken`). Guessed: the 403 and the
/// X++ access-denied wording ("You are not authorized to access table …")
/// in D365FO's OData error shape; not recorded from a real environment.
pub fn write_refusal(principal: Option<&Principal>, path: &str) -> Option<crate::SimError> {
    if principal.is_none_or(|p| p.can_write) {
        return None;
    }
    let segment = path.trim_start_matches('/').split('/').nth(1).unwrap_or("");
    let entity = segment.split('(').next().unwrap_or(segment);
    let message = format!(
        "You are not authorized to access table '{entity}' ({entity}). Contact your system \
         administrator."
    );
    Some(crate::SimError::App {
        status: StatusCode::FORBIDDEN,
        message: message.clone(),
        inner: message,
        kind: "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataUnauthorizedException",
    })
}

/// Seconds now; re-exported for tests that forge tokens.
pub fn now() -> u64 {
    now_secs()
}

#[cfg(test)]
mod tests {
    use super::super::grants::{Client, Minter, Subject, Target};
    use super::super::{DEFAULT_CLIENT_ID, object_id};
    use super::*;

    fn headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        h
    }

    fn required() -> AuthConfig {
        AuthConfig {
            mode: AuthMode::Required,
            ..AuthConfig::default()
        }
    }

    /// A D365FO token for `aud`, issued at `now`, for `upn` or app-only.
    fn token(config: &AuthConfig, aud: &str, client: &str, upn: Option<&str>, now: u64) -> String {
        let minter = Minter {
            config,
            authority: "http://sim",
            now,
        };
        let subject = upn.map(|upn| Subject {
            oid: object_id(upn),
            upn: upn.to_owned(),
        });
        let client = Client {
            id: client,
            confidential: true,
        };
        minter
            .mint(&Target::D365(aud.to_owned()), client, subject.as_ref())
            .unwrap()
    }

    #[test]
    fn required_mode_checks_signature_expiry_and_audience() {
        let config = required();
        let verifier = Verifier::new(&config);
        let good = token(&config, "http://h:1", DEFAULT_CLIENT_ID, None, now());
        let principal = verifier.check(&headers(&good), "http://H:1/").unwrap();
        assert_eq!(
            principal,
            Some(Principal {
                caller: Caller(format!("oid:{}", object_id(DEFAULT_CLIENT_ID))),
                can_write: true,
            })
        );
        // Remembered: the second check is the same, and still audience-bound.
        assert_eq!(
            verifier.check(&headers(&good), "http://h:1").unwrap(),
            principal
        );
        assert!(matches!(
            verifier.check(&headers(&good), "http://other"),
            Err(AuthFailure::WrongAudience(_))
        ));
        // A remembered token expires all the same.
        let later = now() + 3599 + 301;
        assert_eq!(
            verifier.check_at(&headers(&good), "http://h:1", later),
            Err(AuthFailure::Expired)
        );
        let old = token(&config, "http://h:1", DEFAULT_CLIENT_ID, None, 1_000_000);
        assert_eq!(
            verifier.check(&headers(&old), "http://h:1"),
            Err(AuthFailure::Expired)
        );
        let mut forged = good.clone();
        forged.push('A');
        assert!(matches!(
            verifier.check(&headers(&forged), "http://h:1"),
            Err(AuthFailure::Invalid(_))
        ));
        let hs256 = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &jsonwebtoken::dangerous::insecure_decode_claims::<Claims>(&good).unwrap(),
            &jsonwebtoken::EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert!(matches!(
            verifier.check(&headers(&hs256), "http://h:1"),
            Err(AuthFailure::Invalid(_))
        ));
        assert_eq!(
            verifier.check(&HeaderMap::new(), "http://h:1"),
            Err(AuthFailure::Missing)
        );
    }

    #[test]
    fn users_and_apps_act_as_their_d365_users() {
        let config = required();
        let verifier = Verifier::new(&config);
        let check = |upn: Option<&str>, client: &str| {
            let t = token(&config, "http://h", client, upn, now());
            verifier.check(&headers(&t), "http://h")
        };
        let alice = check(Some("alice@contoso.com"), DEFAULT_CLIENT_ID)
            .unwrap()
            .unwrap();
        assert!(alice.can_write);
        assert_eq!(
            alice.caller,
            Caller(format!("oid:{}", object_id("alice@contoso.com")))
        );
        let bob = check(Some("bob@contoso.com"), DEFAULT_CLIENT_ID)
            .unwrap()
            .unwrap();
        assert!(!bob.can_write);
        assert!(matches!(
            check(Some("carol@contoso.com"), DEFAULT_CLIENT_ID),
            Err(AuthFailure::UnknownUser(_))
        ));
        assert!(matches!(
            check(None, "unregistered"),
            Err(AuthFailure::UnknownUser(_))
        ));
    }

    #[test]
    fn lenient_modes() {
        let any = Verifier::new(&AuthConfig {
            mode: AuthMode::AnyToken,
            ..AuthConfig::default()
        });
        assert_eq!(any.check(&headers("whatever"), "http://h"), Ok(None));
        assert_eq!(
            any.check(&HeaderMap::new(), "http://h"),
            Err(AuthFailure::Missing)
        );
        let none = Verifier::new(&AuthConfig::default());
        assert_eq!(none.check(&HeaderMap::new(), "http://h"), Ok(None));
        // An unchecked token names no caller, however well-formed: anyone
        // could mint a fresh oid per request to dodge throttling.
        let t = token(
            &AuthConfig::default(),
            "http://h",
            DEFAULT_CLIENT_ID,
            None,
            now(),
        );
        assert_eq!(none.check(&headers(&t), "http://h"), Ok(None));
        assert_eq!(any.check(&headers(&t), "http://h"), Ok(None));
    }
}
