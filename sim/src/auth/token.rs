//! `POST /{tenant}/oauth2/v2.0/token`: Entra ID's token endpoint, for three
//! grants (`grant_type`):
//!
//! - `client_credentials` (`client_id`, `client_secret`,
//!   `scope={resource}/.default`): an app-only token.
//! - `password`, the resource-owner password grant (`client_id`, optional
//!   `client_secret`, `username`, `password`, `scope`): a user's token with
//!   no browser. Deprecated by Microsoft, still served by Entra; what tests
//!   use to get the token an MCP client would hold.
//! - `urn:ietf:params:oauth:grant-type:jwt-bearer` with
//!   `requested_token_use=on_behalf_of` (`client_id`, `client_secret`,
//!   `assertion`, `scope`): the on-behalf-of exchange ([`super::obo`]).
//!
//! The answer is `{"token_type":"Bearer","expires_in","ext_expires_in",
//! "access_token"}` (plus `scope` for user tokens) or one of Entra's error
//! bodies (`super::entra`). Checks run in the order Entra reports them:
//! the tenant, missing parameters, the grant type, the client and its
//! secret, then the grant's own checks and the scope.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use percent_encoding::percent_decode_str;

use super::entra::EntraError;
use super::grants::{Client, Minter, Subject, Target, resolve};
use super::{AuthConfig, ClientCredential, now_secs};

/// The on-behalf-of grant type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The form fields of a token request, percent-decoded.
#[derive(Debug, Default)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion: Option<String>,
    scope: Option<String>,
    username: Option<String>,
    password: Option<String>,
    assertion: Option<String>,
    requested_token_use: Option<String>,
}

impl TokenForm {
    /// Parses `application/x-www-form-urlencoded`; a field given twice keeps
    /// its first value, a malformed pair is skipped (Entra then reports the
    /// parameter as missing). The body's size is bounded by the router.
    fn parse(body: &[u8]) -> Self {
        let mut form = Self::default();
        let text = String::from_utf8_lossy(body);
        for pair in text.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(value) = decode(value) else { continue };
            let slot = match decode(name).as_deref() {
                Some("grant_type") => &mut form.grant_type,
                Some("client_id") => &mut form.client_id,
                Some("client_secret") => &mut form.client_secret,
                Some("client_assertion") => &mut form.client_assertion,
                Some("scope") => &mut form.scope,
                Some("username") => &mut form.username,
                Some("password") => &mut form.password,
                Some("assertion") => &mut form.assertion,
                Some("requested_token_use") => &mut form.requested_token_use,
                _ => continue,
            };
            if slot.is_none() && !value.is_empty() {
                *slot = Some(value);
            }
        }
        form
    }

    fn required(&self, name: &'static str) -> Result<&str, EntraError> {
        let value = match name {
            "client_id" => &self.client_id,
            "scope" => &self.scope,
            "username" => &self.username,
            "password" => &self.password,
            "assertion" => &self.assertion,
            "requested_token_use" => &self.requested_token_use,
            _ => &self.grant_type,
        };
        value.as_deref().ok_or_else(|| EntraError::missing(name))
    }
}

fn decode(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|d| d.into_owned())
}

/// Grants issued (and refused) since start-up, by kind, for tests
/// (`GET /_sim/tokens`).
#[derive(Debug, Default)]
pub struct GrantCounts {
    /// `client_credentials` grants.
    pub client_credentials: AtomicU64,
    /// Resource-owner password grants.
    pub password: AtomicU64,
    /// On-behalf-of exchanges.
    pub on_behalf_of: AtomicU64,
    /// Tokens from `POST /_sim/users/{upn}/token`.
    pub admin: AtomicU64,
    /// Token requests refused.
    pub refused: AtomicU64,
}

/// A granted token and the `scope` its answer reports.
struct Granted {
    token: String,
    scope: Option<String>,
    counter: fn(&GrantCounts) -> &AtomicU64,
}

/// Issues tokens for one simulator.
pub struct Issuer {
    /// The tenant, apps and users.
    pub config: AuthConfig,
    /// What has been granted.
    pub counts: GrantCounts,
    /// Rotated secrets, revoked tokens and the vault's secrets.
    pub live: Arc<super::live::Live>,
}

impl Issuer {
    /// An issuer for `config`.
    pub fn new(config: AuthConfig) -> Self {
        Self::with_live(config, Arc::default())
    }

    /// An issuer for `config` sharing `live` with the bearer check; its
    /// vault starts with the first app's credentials.
    pub fn with_live(config: AuthConfig, live: Arc<super::live::Live>) -> Self {
        let issuer = Self {
            config,
            counts: GrantCounts::default(),
            live,
        };
        super::vault::seed(&issuer);
        issuer
    }

    /// The access token for a checked request, or an Entra error.
    fn grant(
        &self,
        tenant: &str,
        form: &TokenForm,
        minter: &Minter<'_>,
    ) -> Result<Granted, EntraError> {
        if !tenant.eq_ignore_ascii_case(&self.config.tenant_id) {
            return Err(EntraError::tenant_not_found(tenant));
        }
        match form.required("grant_type")? {
            "client_credentials" => self.client_credentials(tenant, form, minter),
            "password" => self.password(tenant, form, minter),
            JWT_BEARER => self.on_behalf_of(tenant, form, minter),
            other => Err(EntraError::unsupported_grant(other)),
        }
    }

    fn client_credentials(
        &self,
        tenant: &str,
        form: &TokenForm,
        minter: &Minter<'_>,
    ) -> Result<Granted, EntraError> {
        let client_id = form.required("client_id")?;
        let scope = form.required("scope")?.trim();
        let client = self.authenticate(client_id, form, tenant, true)?;
        if scope.contains(char::is_whitespace) || !scope.ends_with("/.default") {
            return Err(EntraError::bad_scope(scope));
        }
        let target = resolve(&self.config, scope, tenant)?;
        let token = minter.mint(&target, confidential(client), None)?;
        Ok(Granted {
            token,
            scope: None,
            counter: |c| &c.client_credentials,
        })
    }

    fn password(
        &self,
        tenant: &str,
        form: &TokenForm,
        minter: &Minter<'_>,
    ) -> Result<Granted, EntraError> {
        let client_id = form.required("client_id")?;
        let scope = form.required("scope")?;
        let username = form.required("username")?;
        let password = form.required("password")?;
        // A public client (no secret) may use this grant, as Entra allows
        // when the app permits public client flows.
        let client = self.authenticate(client_id, form, tenant, false)?;
        let user = self
            .config
            .user(username)
            .ok_or_else(|| EntraError::unknown_user(username, tenant))?;
        if user.password != password {
            return Err(EntraError::bad_credentials());
        }
        let target = resolve(&self.config, scope, tenant)?;
        let subject = Subject::of(user);
        let client = Client {
            id: &client.client_id,
            confidential: form.client_secret.is_some(),
        };
        user_grant(minter, &target, client, &subject, |c| &c.password)
    }

    fn on_behalf_of(
        &self,
        tenant: &str,
        form: &TokenForm,
        minter: &Minter<'_>,
    ) -> Result<Granted, EntraError> {
        let client_id = form.required("client_id")?;
        let scope = form.required("scope")?;
        let assertion = form.required("assertion")?;
        let token_use = form.required("requested_token_use")?;
        if token_use != "on_behalf_of" {
            // Guessed: Entra's code for another requested_token_use.
            return Err(EntraError::unsupported_grant(&format!(
                "{JWT_BEARER} with requested_token_use={token_use}"
            )));
        }
        let client = self.authenticate(client_id, form, tenant, true)?;
        let subject = super::obo::check(&self.config, assertion, &client.client_id, minter.now)?;
        let target = resolve(&self.config, scope, tenant)?;
        user_grant(minter, &target, confidential(client), &subject, |c| {
            &c.on_behalf_of
        })
    }

    /// The registered client, its secret checked when sent (always required
    /// when `confidential`).
    fn authenticate(
        &self,
        client_id: &str,
        form: &TokenForm,
        tenant: &str,
        confidential: bool,
    ) -> Result<&ClientCredential, EntraError> {
        let client = self
            .config
            .client(client_id)
            .ok_or_else(|| EntraError::unknown_client(client_id, tenant))?;
        // A rotated secret replaces the registered one: the old stops working.
        let current = self.live.secret_of(&client.client_id);
        let expected = current.as_deref().unwrap_or(&client.client_secret);
        match (&form.client_secret, &form.client_assertion) {
            (Some(secret), _) if secret != expected => {
                Err(EntraError::bad_secret(&client.client_id))
            }
            (Some(_), _) => Ok(client),
            (None, Some(_)) => Err(EntraError::client_assertion_unsupported()),
            (None, None) if confidential => Err(EntraError::missing_secret()),
            (None, None) => Ok(client),
        }
    }

    fn success(&self, granted: &Granted) -> Response {
        let lifetime = self.config.token_lifetime_secs;
        let mut body = serde_json::json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": granted.token,
        });
        if let Some(scope) = &granted.scope {
            body["scope"] = scope.clone().into();
        }
        super::entra::json_response(StatusCode::OK, body.to_string())
    }
}

fn confidential(client: &ClientCredential) -> Client<'_> {
    Client {
        id: &client.client_id,
        confidential: true,
    }
}

fn user_grant(
    minter: &Minter<'_>,
    target: &Target<'_>,
    client: Client<'_>,
    subject: &Subject,
    counter: fn(&GrantCounts) -> &AtomicU64,
) -> Result<Granted, EntraError> {
    Ok(Granted {
        token: minter.mint(target, client, Some(subject))?,
        scope: Some(target.granted_scope()),
        counter,
    })
}

/// The token endpoint handler.
pub async fn token(
    State(issuer): State<Arc<Issuer>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let now = now_secs();
    let form = TokenForm::parse(&body);
    let authority = crate::routes::base_url(&headers, &uri);
    let minter = Minter {
        config: &issuer.config,
        authority: &authority,
        now,
    };
    match issuer.grant(&tenant, &form, &minter) {
        Ok(granted) => {
            (granted.counter)(&issuer.counts).fetch_add(1, Ordering::Relaxed);
            if let (Some(client_id), true) = (&form.client_id, granted.scope.is_none()) {
                // App-only: what a rotation with `revoke_tokens` revokes.
                issuer.live.issued(client_id, &granted.token);
            }
            issuer.success(&granted)
        }
        Err(e) => {
            issuer.counts.refused.fetch_add(1, Ordering::Relaxed);
            let correlation = headers
                .get("client-request-id")
                .and_then(|v| v.to_str().ok());
            e.into_response_at(now, correlation)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &str) -> TokenForm {
        TokenForm::parse(pairs.as_bytes())
    }

    #[test]
    fn forms_decode_like_browsers_send_them() {
        let f = form(
            "grant_type=client_credentials&scope=http%3A%2F%2Fh%3A1%2F.default&client_secret=a+b%2B&x=1&scope=ignored",
        );
        assert_eq!(f.grant_type.as_deref(), Some("client_credentials"));
        assert_eq!(f.scope.as_deref(), Some("http://h:1/.default"));
        assert_eq!(f.client_secret.as_deref(), Some("a b+"));
        assert!(f.client_id.is_none());
        assert!(form("%FF=1&client_id=%E2%82").client_id.is_none());
    }

    fn minter(config: &AuthConfig) -> Minter<'_> {
        Minter {
            config,
            authority: "http://sim",
            now: 1,
        }
    }

    #[test]
    fn checks_run_in_entra_order() {
        let issuer = Issuer::new(AuthConfig::default());
        let m = minter(&issuer.config);
        let t = super::super::DEFAULT_TENANT_ID;
        let ok = "grant_type=client_credentials&client_id=11111111-2222-3333-4444-555555555555&client_secret=d365mcp-sim-secret&scope=http://h/.default";
        assert!(issuer.grant(t, &form(ok), &m).is_ok());
        let code =
            |tenant: &str, body: &str| issuer.grant(tenant, &form(body), &m).err().map(|e| e.code);
        assert_eq!(code("other", ok), Some(90002));
        assert_eq!(code(t, "client_id=x"), Some(900144));
        assert_eq!(
            code(t, &ok.replace("client_credentials", "implicit")),
            Some(70003)
        );
        assert_eq!(code(t, &ok.replace("11111111", "99999999")), Some(700016));
        assert_eq!(code(t, &ok.replace("sim-secret", "nope")), Some(7000215));
        let no_secret = ok.replace("&client_secret=d365mcp-sim-secret", "");
        assert_eq!(code(t, &no_secret), Some(7000218));
        let assertion = format!("{no_secret}&client_assertion=x");
        assert_eq!(code(t, &assertion), Some(700027));
        assert_eq!(
            code(t, &ok.replace("/.default", "/user_impersonation")),
            Some(1002012)
        );
        assert_eq!(
            code(t, &ok.replace("http://h", "api%3A%2F%2Fx")),
            Some(500011)
        );
    }

    #[test]
    fn password_and_on_behalf_of_grants() {
        let issuer = Issuer::new(AuthConfig::default());
        let m = minter(&issuer.config);
        let t = super::super::DEFAULT_TENANT_ID;
        let ropc = "grant_type=password&client_id=11111111-2222-3333-4444-555555555555&username=alice%40contoso.com&password=d365mcp-sim-password&scope=openid+api%3A%2F%2Fd365mcp%2Fmcp.tools";
        let granted = issuer.grant(t, &form(ropc), &m).unwrap();
        assert_eq!(granted.scope.as_deref(), Some("api://d365mcp/mcp.tools"));
        let code = |body: &str| issuer.grant(t, &form(body), &m).err().map(|e| e.code);
        assert_eq!(code(&ropc.replace("sim-password", "x")), Some(50126));
        assert_eq!(code(&ropc.replace("alice", "carol")), Some(50034));
        assert_eq!(
            code(&ropc.replace("&username=alice%40contoso.com", "")),
            Some(900144)
        );

        let obo = format!(
            "grant_type={JWT_BEARER}&requested_token_use=on_behalf_of&client_id=11111111-2222-3333-4444-555555555555&client_secret=d365mcp-sim-secret&scope=https%3A%2F%2Fh%2F.default&assertion={}",
            granted.token
        );
        let exchanged = issuer.grant(t, &form(&obo), &m).unwrap();
        assert_eq!(
            exchanged.scope.as_deref(),
            Some("https://h/user_impersonation")
        );
        let claims: super::super::Claims =
            jsonwebtoken::dangerous::insecure_decode_claims(&exchanged.token).unwrap();
        assert_eq!(claims.upn.as_deref(), Some("alice@contoso.com"));
        assert_eq!(claims.aud, "https://h");
        assert_eq!(code(&obo.replace("on_behalf_of", "x")), Some(70003));
        assert_eq!(
            code(&obo.replace("&client_secret=d365mcp-sim-secret", "")),
            Some(7000218)
        );
        assert_eq!(
            code(&obo.replace("https%3A%2F%2Fh%2F.default", "https%3A%2F%2Fh%2Fx")),
            Some(70011)
        );
    }
}
