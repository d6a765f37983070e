//! The bearer check D365FO makes on `/data`, `/Metadata` and `/api`, and the
//! caller identity throttling is keyed by.
//!
//! A request that fails the check gets D365FO's 401: ASP.NET's JSON
//! authentication failure, `{"Message":"Authentication failed.",…}` with a
//! `jsonerror: true` header, and `WWW-Authenticate: Bearer` as RFC 6750
//! requires of a bearer-protected resource.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::{AuthConfig, AuthMode, Claims, issuer, now_secs};

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
    key: DecodingKey,
    validation: Validation,
}

impl Verifier {
    /// A verifier for `config`.
    pub fn new(config: &AuthConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Capped: jsonwebtoken computes `now - leeway`, which must not underflow.
        validation.leeway = config.clock_skew_secs.min(86_400);
        validation.validate_nbf = true;
        // The audience depends on the Host the request came to; checked after.
        validation.validate_aud = false;
        validation.set_issuer(&[issuer(&config.tenant_id)]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        Self {
            mode: config.mode,
            key: DecodingKey::from_secret(config.signing_key.as_bytes()),
            validation,
        }
    }

    /// The configured mode.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// Checks the request's token for an environment at `base_url`; the
    /// caller identity on success (`None` when no verified token names one).
    pub fn check(
        &self,
        headers: &HeaderMap,
        base_url: &str,
    ) -> Result<Option<Caller>, AuthFailure> {
        let token = bearer(headers);
        match self.mode {
            AuthMode::None => Ok(None),
            AuthMode::AnyToken => token.map(|_| None).ok_or(AuthFailure::Missing),
            AuthMode::Required => {
                let token = token.ok_or(AuthFailure::Missing)?;
                let claims = self.verify(token)?;
                if !same_url(&claims.aud, base_url) {
                    return Err(AuthFailure::WrongAudience(claims.aud));
                }
                Ok(caller_of(&claims))
            }
        }
    }

    fn verify(&self, token: &str) -> Result<Claims, AuthFailure> {
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthFailure::Expired,
                _ => AuthFailure::Invalid(e.to_string()),
            })
    }
}

/// The token of an `Authorization: Bearer …` header (scheme
/// case-insensitive, as RFC 6750 allows).
fn bearer(headers: &HeaderMap) -> Option<&str> {
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

/// Seconds now; re-exported for tests that forge tokens.
pub fn now() -> u64 {
    now_secs()
}

#[cfg(test)]
mod tests {
    use super::super::token::Issuer;
    use super::*;

    fn headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn required_mode_checks_signature_expiry_and_audience() {
        let config = AuthConfig {
            mode: AuthMode::Required,
            ..AuthConfig::default()
        };
        let verifier = Verifier::new(&config);
        let issuer = Issuer::new(config.clone());
        let token = issuer.sign("http://h:1", "app", now()).unwrap();
        let caller = verifier.check(&headers(&token), "http://H:1/").unwrap();
        assert_eq!(
            caller,
            Some(Caller(format!("oid:{}", super::super::object_id("app"))))
        );
        assert!(matches!(
            verifier.check(&headers(&token), "http://other"),
            Err(AuthFailure::WrongAudience(_))
        ));
        let old = issuer.sign("http://h:1", "app", 1_000_000).unwrap();
        assert_eq!(
            verifier.check(&headers(&old), "http://h:1"),
            Err(AuthFailure::Expired)
        );
        let mut forged = token.clone();
        forged.push('A');
        assert!(matches!(
            verifier.check(&headers(&forged), "http://h:1"),
            Err(AuthFailure::Invalid(_))
        ));
        assert_eq!(
            verifier.check(&HeaderMap::new(), "http://h:1"),
            Err(AuthFailure::Missing)
        );
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
        let issuer = Issuer::new(AuthConfig::default());
        let token = issuer.sign("http://h", "app", now()).unwrap();
        assert_eq!(none.check(&headers(&token), "http://h"), Ok(None));
        assert_eq!(any.check(&headers(&token), "http://h"), Ok(None));
    }
}
