//! The simulated directory: app registrations (with the APIs they expose)
//! and users (with their D365FO security roles), and how the CLI names them.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::object_id;

/// What a D365FO user may do, reduced to what the simulator checks: reads
/// for everyone, writes (create, update, delete under `/data`) for
/// [`D365Role::Writer`] and [`D365Role::Admin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum D365Role {
    /// Read-only: a D365FO user with inquiry roles only.
    Reader,
    /// May create, update and delete records.
    Writer,
    /// System administrator (what an app's D365FO user usually is).
    #[default]
    Admin,
}

impl D365Role {
    /// Whether the role may change records.
    pub fn can_write(self) -> bool {
        matches!(self, Self::Writer | Self::Admin)
    }
}

impl FromStr for D365Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "reader" | "read" => Ok(Self::Reader),
            "writer" | "write" => Ok(Self::Writer),
            "admin" | "sysadmin" => Ok(Self::Admin),
            other => Err(format!(
                "unknown role '{other}': expected reader, writer or admin"
            )),
        }
    }
}

/// An app registration that may ask for tokens: Entra's client id, one of
/// its secrets, and the API it exposes, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCredential {
    /// The application (client) id.
    pub client_id: String,
    /// The client secret's value.
    pub client_secret: String,
    /// The Application ID URI of the API the app exposes (`api://d365mcp`,
    /// or an `https` URL); tokens for it are asked with this URI or the
    /// client id as the resource of a scope.
    #[serde(default)]
    pub app_id_uri: Option<String>,
    /// The delegated scopes the API exposes (`mcp.tools`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The D365FO user the app acts as with app-only tokens (D365FO's
    /// "Microsoft Entra ID applications" mapping). Default admin.
    #[serde(default)]
    pub d365_role: D365Role,
}

impl ClientCredential {
    /// A confidential client that exposes no API and acts as admin.
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            app_id_uri: None,
            scopes: Vec::new(),
            d365_role: D365Role::Admin,
        }
    }

    /// Whether `resource` names this app's API: its client id or its
    /// Application ID URI (case and a trailing `/` ignored).
    pub fn is_resource(&self, resource: &str) -> bool {
        let resource = resource.trim_end_matches('/');
        resource.eq_ignore_ascii_case(&self.client_id)
            || self
                .app_id_uri
                .as_deref()
                .is_some_and(|uri| resource.eq_ignore_ascii_case(uri.trim_end_matches('/')))
    }
}

impl FromStr for ClientCredential {
    type Err = String;

    /// `client_id:client_secret`; the secret may itself contain `:`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some((id, secret)) if !id.trim().is_empty() && !secret.is_empty() => {
                Ok(Self::new(id.trim(), secret))
            }
            _ => Err(format!(
                "'{s}' is not a client: expected client_id:client_secret"
            )),
        }
    }
}

/// One exposed scope, `CLIENT_ID=APP_ID_URI/SCOPE` on the command line
/// (`--expose`): the scope's full name as Entra writes it, after the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// The app that exposes the API.
    pub client_id: String,
    /// Its Application ID URI.
    pub app_id_uri: String,
    /// The scope's name.
    pub scope: String,
}

impl FromStr for Exposure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not an exposed scope: expected CLIENT_ID=APP_ID_URI/SCOPE");
        let (id, full) = s.split_once('=').ok_or_else(bad)?;
        let (uri, scope) = full.trim().rsplit_once('/').ok_or_else(bad)?;
        let valid_uri = uri.contains("://") && !uri.ends_with("//");
        if id.trim().is_empty() || scope.is_empty() || !valid_uri {
            return Err(bad());
        }
        Ok(Self {
            client_id: id.trim().to_owned(),
            app_id_uri: uri.to_owned(),
            scope: scope.to_owned(),
        })
    }
}

impl Exposure {
    /// Adds the scope to its app in `clients`; an error if no app has the
    /// client id or the app already has another Application ID URI.
    pub fn apply(&self, clients: &mut [ClientCredential]) -> Result<(), String> {
        let app = clients
            .iter_mut()
            .find(|c| c.client_id.eq_ignore_ascii_case(&self.client_id))
            .ok_or_else(|| format!("no client '{}' to expose a scope", self.client_id))?;
        match &app.app_id_uri {
            Some(uri) if uri != &self.app_id_uri => {
                return Err(format!(
                    "client '{}' already has the Application ID URI '{uri}'",
                    self.client_id
                ));
            }
            _ => app.app_id_uri = Some(self.app_id_uri.clone()),
        }
        if !app.scopes.contains(&self.scope) {
            app.scopes.push(self.scope.clone());
        }
        Ok(())
    }
}

/// A user of the directory who is also a D365FO user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimUser {
    /// The user principal name, `alice@contoso.com`.
    pub upn: String,
    /// The object id: stable, derived from the UPN.
    pub object_id: String,
    /// The D365FO role.
    pub role: D365Role,
    /// The password the resource-owner password grant checks.
    pub password: String,
}

impl SimUser {
    /// A user with the default password.
    pub fn new(upn: &str, role: D365Role) -> Self {
        Self::with_password(upn, role, DEFAULT_USER_PASSWORD)
    }

    fn with_password(upn: &str, role: D365Role, password: &str) -> Self {
        Self {
            upn: upn.to_owned(),
            object_id: object_id(&upn.to_ascii_lowercase()),
            role,
            password: password.to_owned(),
        }
    }

    /// The display name Entra puts in `name`: the UPN's local part.
    pub fn name(&self) -> &str {
        self.upn.split('@').next().unwrap_or(&self.upn)
    }
}

/// The password of users configured without one.
pub const DEFAULT_USER_PASSWORD: &str = "d365mcp-sim-password";

impl FromStr for SimUser {
    type Err = String;

    /// `UPN=ROLE` or `UPN=ROLE:PASSWORD` (`alice@contoso.com=writer`).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a user: expected UPN=ROLE or UPN=ROLE:PASSWORD");
        let (upn, rest) = s.split_once('=').ok_or_else(bad)?;
        let upn = upn.trim();
        if upn.is_empty() || upn.contains(char::is_whitespace) {
            return Err(bad());
        }
        let (role, password) = rest
            .split_once(':')
            .unwrap_or((rest, DEFAULT_USER_PASSWORD));
        if password.is_empty() {
            return Err(bad());
        }
        Ok(Self::with_password(upn, role.parse()?, password))
    }
}

/// The users of the default configuration: alice (writer), bob (reader).
pub fn default_users() -> Vec<SimUser> {
    vec![
        SimUser::new("alice@contoso.com", D365Role::Writer),
        SimUser::new("bob@contoso.com", D365Role::Reader),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_users_and_exposures_parse() {
        let c: ClientCredential = "app:s:e:c".parse().unwrap();
        assert_eq!(
            (c.client_id.as_str(), c.client_secret.as_str()),
            ("app", "s:e:c")
        );
        assert!("nosecret".parse::<ClientCredential>().is_err());
        assert!(":x".parse::<ClientCredential>().is_err());

        let u: SimUser = "alice@contoso.com=writer".parse().unwrap();
        assert_eq!(u.role, D365Role::Writer);
        assert_eq!(u.password, DEFAULT_USER_PASSWORD);
        assert_eq!(u.object_id, object_id("alice@contoso.com"));
        assert_eq!(u.name(), "alice");
        let u: SimUser = "Bob@Contoso.com=reader:p:w".parse().unwrap();
        assert_eq!((u.role, u.password.as_str()), (D365Role::Reader, "p:w"));
        assert_eq!(u.object_id, object_id("bob@contoso.com"));
        for bad in ["alice", "=writer", "a=boss", "a=reader:", "a b=reader"] {
            assert!(bad.parse::<SimUser>().is_err(), "{bad}");
        }

        let e: Exposure = "app=https://contoso.com/api/mcp.tools".parse().unwrap();
        assert_eq!(
            (e.app_id_uri.as_str(), e.scope.as_str()),
            ("https://contoso.com/api", "mcp.tools")
        );
        for bad in [
            "app",
            "app=mcp.tools",
            "=api://x/s",
            "app=api://x/",
            "app=api://s",
        ] {
            assert!(bad.parse::<Exposure>().is_err(), "{bad}");
        }
    }

    #[test]
    fn exposures_attach_to_their_app() {
        let mut clients = vec![ClientCredential::new("app", "s")];
        let e: Exposure = "APP=api://d365mcp/mcp.tools".parse().unwrap();
        e.apply(&mut clients).unwrap();
        e.apply(&mut clients).unwrap();
        assert_eq!(clients[0].scopes, ["mcp.tools"]);
        assert!(clients[0].is_resource("api://D365MCP/"));
        assert!(clients[0].is_resource("app"));
        assert!(!clients[0].is_resource("api://other"));
        let other: Exposure = "app=api://other/x".parse().unwrap();
        assert!(other.apply(&mut clients).is_err());
        let nobody: Exposure = "nobody=api://x/y".parse().unwrap();
        assert!(nobody.apply(&mut clients).is_err());
        assert!(!D365Role::Reader.can_write() && D365Role::Writer.can_write());
    }
}
