//! What a grant issues: the resource a `scope` names, and the signed token
//! for it.
//!
//! A scope names either an API registered here (its client id or its
//! Application ID URI, then `/{scope}` or `/.default`: a v2 token, `aud`
//! the API's client id) or a D365FO environment (an `http(s)` URL that is no
//! registered API, then `/.default` or `/user_impersonation`: a v1 token,
//! `aud` the URL as named).

use serde::Serialize;

use super::entra::EntraError;
use super::keys::{header, keys};
use super::{AuthConfig, Claims, ClientCredential, V2Claims, issuer, issuer_v2, object_id};

/// The OpenID Connect scopes, which ask for an ID token, not for access to a
/// resource; ignored when choosing the resource.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The resource of a token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// An API registered here, with the delegated scopes asked for
    /// (`.default`: all it exposes).
    Api {
        /// The app exposing the API.
        app: &'a ClientCredential,
        /// The scopes granted.
        scopes: Vec<String>,
        /// The resource as the client named it (for the answer's `scope`).
        named: String,
    },
    /// A D365FO environment, by its URL as the client named it.
    D365(String),
}

impl Target<'_> {
    /// The `scope` of a successful answer, as Entra echoes it.
    pub fn granted_scope(&self) -> String {
        match self {
            Self::Api { scopes, named, .. } => scopes
                .iter()
                .map(|s| format!("{named}/{s}"))
                .collect::<Vec<_>>()
                .join(" "),
            Self::D365(url) => format!("{url}/user_impersonation"),
        }
    }
}

/// The resource `scope` names, or Entra's refusal. `tenant` is for the
/// messages.
pub fn resolve<'a>(
    config: &'a AuthConfig,
    scope: &str,
    tenant: &str,
) -> Result<Target<'a>, EntraError> {
    let mut resource: Option<&str> = None;
    let mut names = Vec::new();
    for item in scope.split_whitespace() {
        if OIDC_SCOPES.iter().any(|o| item.eq_ignore_ascii_case(o)) {
            continue;
        }
        let (res, name) = item
            .rsplit_once('/')
            .filter(|(r, n)| !r.is_empty() && !n.is_empty())
            .ok_or_else(|| EntraError::invalid_scope(item))?;
        match resource {
            Some(seen) if !seen.eq_ignore_ascii_case(res) => {
                return Err(EntraError::many_resources(scope));
            }
            _ => resource = Some(res),
        }
        names.push(name);
    }
    let resource = resource.ok_or_else(|| EntraError::invalid_scope(scope.trim()))?;
    if let Some(app) = config.api(resource) {
        let scopes = if names.contains(&".default") {
            app.scopes.clone()
        } else {
            let unknown = names.iter().find(|n| !app.scopes.iter().any(|s| s == *n));
            if let Some(unknown) = unknown {
                return Err(EntraError::invalid_scope(&format!("{resource}/{unknown}")));
            }
            names.iter().map(|n| (*n).to_owned()).collect()
        };
        return Ok(Target::Api {
            app,
            scopes,
            named: resource.to_owned(),
        });
    }
    if !is_http_url(resource) {
        return Err(EntraError::unknown_resource(resource, tenant));
    }
    if let Some(bad) = names
        .iter()
        .find(|n| !matches!(**n, ".default" | "user_impersonation"))
    {
        return Err(EntraError::invalid_scope(&format!("{resource}/{bad}")));
    }
    Ok(Target::D365(resource.to_owned()))
}

/// An absolute `http`/`https` URL with a host: what a D365FO resource is.
pub fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.and_then(|r| r.split('/').next())
        .is_some_and(|host| !host.is_empty())
}

/// The user a delegated token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Object id.
    pub oid: String,
    /// UPN.
    pub upn: String,
}

impl Subject {
    /// The subject of `user`'s tokens.
    pub fn of(user: &super::SimUser) -> Self {
        Self {
            oid: user.object_id.clone(),
            upn: user.upn.clone(),
        }
    }

    fn name(&self) -> String {
        self.upn.split('@').next().unwrap_or(&self.upn).to_owned()
    }
}

/// Who asks, and how it authenticated.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// Its client id.
    pub id: &'a str,
    /// Whether it authenticated (with a secret); public clients did not.
    pub confidential: bool,
}

impl Client<'_> {
    fn acr(&self) -> String {
        if self.confidential { "1" } else { "0" }.to_owned()
    }
}

/// Signs tokens for one simulator's configuration.
pub struct Minter<'a> {
    /// The configuration.
    pub config: &'a AuthConfig,
    /// The simulator's base URL as this request reached it: the authority
    /// of v2 issuers.
    pub authority: &'a str,
    /// Unix seconds.
    pub now: u64,
}

impl Minter<'_> {
    /// A token for `target`: delegated for `user`, app-only without one.
    pub fn mint(
        &self,
        target: &Target<'_>,
        client: Client<'_>,
        user: Option<&Subject>,
    ) -> Result<String, EntraError> {
        match target {
            Target::D365(resource) => self.d365(resource, client, user),
            Target::Api { app, scopes, .. } => self.api(app, scopes, client, user),
        }
    }

    fn times(&self) -> (u64, u64, u64) {
        let lifetime = self.config.token_lifetime_secs;
        // Entra backdates nbf by five minutes against clock skew.
        (
            self.now,
            self.now.saturating_sub(300),
            self.now.saturating_add(lifetime),
        )
    }

    fn d365(
        &self,
        resource: &str,
        client: Client<'_>,
        user: Option<&Subject>,
    ) -> Result<String, EntraError> {
        let iss = issuer(&self.config.tenant_id);
        let (iat, nbf, exp) = self.times();
        let oid = user.map_or_else(|| object_id(client.id), |u| u.oid.clone());
        let claims = Claims {
            aud: resource.to_owned(),
            idp: iss.clone(),
            iss,
            iat,
            nbf,
            exp,
            appid: client.id.to_owned(),
            appidacr: client.acr(),
            sub: oid.clone(),
            oid,
            tid: self.config.tenant_id.clone(),
            uti: uuid::Uuid::new_v4().simple().to_string(),
            ver: "1.0".to_owned(),
            upn: user.map(|u| u.upn.clone()),
            unique_name: user.map(|u| u.upn.clone()),
            name: user.map(Subject::name),
            scp: user.map(|_| "user_impersonation".to_owned()),
        };
        sign(&claims)
    }

    fn api(
        &self,
        app: &ClientCredential,
        scopes: &[String],
        client: Client<'_>,
        user: Option<&Subject>,
    ) -> Result<String, EntraError> {
        let (iat, nbf, exp) = self.times();
        let oid = user.map_or_else(|| object_id(client.id), |u| u.oid.clone());
        let claims = V2Claims {
            aud: app.client_id.clone(),
            iss: issuer_v2(self.authority, &self.config.tenant_id),
            iat,
            nbf,
            exp,
            tid: self.config.tenant_id.clone(),
            sub: oid.clone(),
            oid,
            azp: client.id.to_owned(),
            azpacr: client.acr(),
            ver: "2.0".to_owned(),
            uti: uuid::Uuid::new_v4().simple().to_string(),
            upn: user.map(|u| u.upn.clone()),
            preferred_username: user.map(|u| u.upn.clone()),
            name: user.map(Subject::name),
            scp: user.map(|_| scopes.join(" ")),
            // App-only: the API's scopes stand in for app roles granted to
            // every client (a simplification; Entra grants roles per app).
            roles: user.is_none().then(|| scopes.to_vec()),
            idtyp: user.is_none().then(|| "app".to_owned()),
        };
        sign(&claims)
    }
}

/// Signs `claims` with the simulator's key.
pub fn sign(claims: &impl Serialize) -> Result<String, EntraError> {
    let keys = keys().map_err(|_| EntraError::server_error())?;
    jsonwebtoken::encode(&header(), claims, &keys.encoding).map_err(|e| {
        tracing::error!(error = %e, "could not sign a token");
        EntraError::server_error()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_name_one_resource() {
        let config = AuthConfig::default();
        let t = "tenant";
        let api = resolve(&config, "openid api://d365mcp/mcp.tools profile", t).unwrap();
        assert!(matches!(&api, Target::Api { scopes, .. } if scopes == &["mcp.tools"]));
        assert_eq!(api.granted_scope(), "api://d365mcp/mcp.tools");
        let by_id = format!("{}/.default", super::super::DEFAULT_CLIENT_ID);
        assert!(matches!(
            resolve(&config, &by_id, t).unwrap(),
            Target::Api { .. }
        ));
        let d365 = resolve(&config, "https://h.dynamics.com/.default", t).unwrap();
        assert_eq!(d365, Target::D365("https://h.dynamics.com".to_owned()));
        assert_eq!(
            d365.granted_scope(),
            "https://h.dynamics.com/user_impersonation"
        );
        let code = |scope: &str| resolve(&config, scope, t).unwrap_err().code;
        assert_eq!(code("openid profile"), 70011);
        assert_eq!(code("api://d365mcp/mcp.admin"), 70011);
        assert_eq!(code("mcp.tools"), 70011);
        assert_eq!(code("https://h/Data.Write"), 70011);
        assert_eq!(code("api://d365mcp/mcp.tools https://h/.default"), 28000);
        assert_eq!(code("api://unknown/x"), 500011);
    }

    #[test]
    fn delegated_and_app_only_tokens_carry_their_claims() {
        let config = AuthConfig::default();
        let minter = Minter {
            config: &config,
            authority: "http://sim:1/",
            now: 1_000_000,
        };
        let client = Client {
            id: "client",
            confidential: true,
        };
        let alice = Subject {
            oid: "oid-a".into(),
            upn: "alice@contoso.com".into(),
        };
        let target = resolve(&config, "api://d365mcp/.default", "t").unwrap();
        let token = minter.mint(&target, client, Some(&alice)).unwrap();
        let claims: V2Claims = jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
        assert_eq!(claims.aud, super::super::DEFAULT_CLIENT_ID);
        assert_eq!(
            claims.iss,
            format!("http://sim:1/{}/v2.0", super::super::DEFAULT_TENANT_ID)
        );
        assert_eq!(claims.scp.as_deref(), Some("mcp.tools"));
        assert_eq!(
            claims.preferred_username.as_deref(),
            Some("alice@contoso.com")
        );
        assert_eq!(
            (claims.oid.as_str(), claims.azp.as_str()),
            ("oid-a", "client")
        );
        assert!(claims.roles.is_none() && claims.is_user());
        let app_only = minter.mint(&target, client, None).unwrap();
        let claims: V2Claims = jsonwebtoken::dangerous::insecure_decode_claims(&app_only).unwrap();
        assert!(claims.scp.is_none() && !claims.is_user());
        assert_eq!(claims.roles, Some(vec!["mcp.tools".to_owned()]));
        let d365 = Target::D365("https://h".into());
        let token = minter.mint(&d365, client, Some(&alice)).unwrap();
        let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
        assert_eq!(claims.upn.as_deref(), Some("alice@contoso.com"));
        assert_eq!(claims.scp.as_deref(), Some("user_impersonation"));
        assert_eq!(
            (claims.appid.as_str(), claims.ver.as_str()),
            ("client", "1.0")
        );
        assert_eq!(claims.exp, 1_000_000 + 3599);
    }
}
