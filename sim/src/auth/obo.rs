//! The on-behalf-of grant's check of the user's token (the `assertion`),
//! in the order Entra documents its failures: a well-formed JWT, signed by
//! this tenant's key, unexpired, issued for the client presenting it, and a
//! user's token rather than an app's.

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::AuthConfig;
use super::entra::EntraError;
use super::grants::Subject;
use super::keys::keys;

/// The longest assertion accepted. Entra's access tokens are a few KiB; a
/// longer one is refused before any parsing or RSA work.
pub const MAX_ASSERTION_LEN: usize = 16 * 1024;

/// The claims the check reads, from a v1 or a v2 token.
#[derive(Debug, Deserialize)]
struct Assertion {
    #[serde(default)]
    aud: String,
    #[serde(default)]
    iss: String,
    #[serde(default)]
    exp: u64,
    #[serde(default)]
    tid: String,
    #[serde(default)]
    oid: String,
    #[serde(default)]
    upn: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    scp: Option<String>,
    #[serde(default)]
    idtyp: Option<String>,
}

/// The user `assertion` speaks for, if `client_id` may exchange it.
pub fn check(
    config: &AuthConfig,
    assertion: &str,
    client_id: &str,
    now: u64,
) -> Result<Subject, EntraError> {
    if assertion.len() > MAX_ASSERTION_LEN || assertion.split('.').count() != 3 {
        return Err(EntraError::malformed_assertion());
    }
    let claims = verify(assertion)?;
    let tenant = &config.tenant_id;
    let v1 = super::issuer(tenant);
    let v2_suffix = format!("/{tenant}/v2.0");
    let our_issuer = claims.iss == v1 || claims.iss.ends_with(&v2_suffix);
    if !our_issuer || !claims.tid.eq_ignore_ascii_case(tenant) {
        return Err(EntraError::assertion_signature(
            "The issuer is not this tenant.",
        ));
    }
    if claims
        .exp
        .saturating_add(config.clock_skew_secs.min(86_400))
        < now
    {
        return Err(EntraError::assertion_expired(now, claims.exp));
    }
    let for_client = config
        .client(client_id)
        .is_some_and(|app| app.is_resource(&claims.aud));
    if !for_client {
        return Err(EntraError::assertion_audience(&claims.aud, client_id));
    }
    if claims.scp.is_none() || claims.idtyp.as_deref() == Some("app") {
        return Err(EntraError::assertion_not_user());
    }
    let upn = claims.upn.or(claims.preferred_username).unwrap_or_default();
    let user = config
        .user_by_oid(&claims.oid)
        .ok_or_else(|| EntraError::unknown_user(&upn, tenant))?;
    Ok(Subject::of(user))
}

/// The signature, and nothing else: the time and audience are checked
/// after, so each failure gets its own AADSTS code.
fn verify(assertion: &str) -> Result<Assertion, EntraError> {
    use jsonwebtoken::errors::ErrorKind;
    let keys = keys().map_err(|_| EntraError::server_error())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Assertion>(assertion, &keys.decoding, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                EntraError::assertion_signature("The key was not found.")
            }
            _ => EntraError::malformed_assertion(),
        })
}

#[cfg(test)]
mod tests {
    use super::super::DEFAULT_CLIENT_ID;
    use super::super::grants::{Client, Minter, Target, resolve};
    use super::*;

    fn alice(config: &AuthConfig) -> Subject {
        let user = config.user("alice@contoso.com").unwrap();
        Subject::of(user)
    }

    fn token(config: &AuthConfig, target: &Target<'_>, user: Option<&Subject>, now: u64) -> String {
        let minter = Minter {
            config,
            authority: "http://sim",
            now,
        };
        let client = Client {
            id: DEFAULT_CLIENT_ID,
            confidential: false,
        };
        minter.mint(target, client, user).unwrap()
    }

    #[test]
    fn checks_the_assertion_as_entra_does() {
        let config = AuthConfig::default();
        let now = 2_000_000_000;
        let api = resolve(&config, "api://d365mcp/mcp.tools", "t").unwrap();
        let user = alice(&config);
        let good = token(&config, &api, Some(&user), now);
        assert_eq!(
            check(&config, &good, DEFAULT_CLIENT_ID, now),
            Ok(user.clone())
        );

        let code = |assertion: &str, client: &str, now: u64| {
            check(&config, assertion, client, now).unwrap_err().code
        };
        assert_eq!(code("not-a-jwt", DEFAULT_CLIENT_ID, now), 50027);
        assert_eq!(code(&"a.b.c".repeat(5000), DEFAULT_CLIENT_ID, now), 50027);
        let mut forged = good.clone();
        forged.truncate(forged.len() - 4);
        forged.push_str("AAAA");
        assert_eq!(code(&forged, DEFAULT_CLIENT_ID, now), 50013);
        assert_eq!(code(&good, DEFAULT_CLIENT_ID, now + 3599 + 301), 500133);
        let mut other = config.clone();
        other
            .clients
            .push(super::super::ClientCredential::new("other", "s"));
        assert_eq!(check(&other, &good, "other", now).unwrap_err().code, 500131);
        let d365 = Target::D365("https://h".into());
        let for_d365 = token(&config, &d365, Some(&user), now);
        assert_eq!(code(&for_d365, DEFAULT_CLIENT_ID, now), 500131);
        let app_only = token(&config, &api, None, now);
        assert_eq!(code(&app_only, DEFAULT_CLIENT_ID, now), 50013);
        let mut moved = config.clone();
        moved.tenant_id = "another".into();
        assert_eq!(
            check(&moved, &good, DEFAULT_CLIENT_ID, now)
                .unwrap_err()
                .code,
            50013
        );
        let mut gone = config.clone();
        gone.users.clear();
        assert_eq!(
            check(&gone, &good, DEFAULT_CLIENT_ID, now)
                .unwrap_err()
                .code,
            50034
        );
    }
}
