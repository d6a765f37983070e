//! The signed-in user's own identity toward D365FO, through Entra's
//! on-behalf-of exchange, so D365FO's roles and record-level security apply
//! to the user rather than to the application.
//!
//! **Who is calling.** The executor runs each call inside [`scope`] with
//! its [`Caller`]: the user's access token when the edge authenticated one
//! (`CallToolRequest.user_assertion`), or none (an API key, an app-only
//! token). A task-local, not a parameter: every tool reaches D365FO
//! through `D365Client`, and threading the caller through every tool's
//! signature would change them all for one value. Work outside a call (the
//! start-up warm-up) has no caller and uses the application identity.
//!
//! **Policy.** Per environment (`on_behalf_of` in the environments file):
//! `off` ignores user tokens; `preferred` exchanges them and uses the
//! application for other callers; `required` refuses other callers with
//! `permission_denied` ([`OnBehalfOf::admit`]).
//!
//! **Cache.** One [`TokenProvider`] per user token, keyed by the SHA-256
//! of the token (the token itself is kept only inside its provider, in
//! memory, never in the store or a log): it caches the D365FO token until
//! shortly before it expires, makes one exchange for a burst (single
//! flight), and drops a token D365FO refused. At most [`MAX_USERS`]
//! providers are kept; one unused for [`IDLE`] goes.
//!
//! **Throttling.** D365FO throttles each user on its own under
//! on-behalf-of, so a user's requests wait on a throttle window of their
//! own, keyed by [`User::throttle_identity`]: a hash of the token's tenant
//! and object id (`tid`, `oid`, read without verifying the token: the edge
//! has), or of the token when it has neither.

use std::{future::Future, sync::Arc, time::Duration};

use base64::Engine as _;
use common::config::{ClientCredentials, OnBehalfOf as Policy, Secret};
use sha2::{Digest, Sha256};

use super::{TokenProvider, entra::Endpoint};
use crate::error::WorkerError;

/// Most user tokens whose D365FO tokens a worker keeps per environment.
pub const MAX_USERS: u64 = 10_000;

/// How long an unused user's D365FO token is kept.
pub const IDLE: Duration = Duration::from_secs(60 * 60);

/// Longest user token accepted (Entra's are a few kilobytes; the edge
/// bounds requests, this bounds what is hashed and decoded here).
pub const MAX_ASSERTION_BYTES: usize = 32 * 1024;

tokio::task_local! {
    static CALLER: Caller;
}

/// Who a tool call is made for. No `Debug`: it holds a token.
#[derive(Clone, Default)]
pub struct Caller {
    assertion: Option<Arc<Secret>>,
}

impl Caller {
    /// The caller of a call whose user token is `user_assertion` (empty:
    /// not a signed-in user).
    pub fn new(user_assertion: &str) -> Self {
        let assertion = user_assertion.trim();
        Self {
            assertion: (!assertion.is_empty()).then(|| Arc::new(Secret::new(assertion))),
        }
    }

    /// The user's access token, if a user signed in.
    fn assertion(&self) -> Option<&str> {
        self.assertion.as_deref().map(Secret::expose)
    }
}

/// Runs `future` as a call made for `caller`.
pub fn scope<F: Future>(caller: Caller, future: F) -> impl Future<Output = F::Output> {
    CALLER.scope(caller, future)
}

/// The caller of the call this task runs; `None` outside a call.
pub fn current() -> Option<Caller> {
    CALLER.try_with(Clone::clone).ok()
}

/// One environment's on-behalf-of exchange and its per-user tokens.
pub struct OnBehalfOf {
    policy: Policy,
    endpoint: Arc<Endpoint>,
    scope: String,
    users: moka::sync::Cache<[u8; 32], Arc<TokenProvider>>,
}

/// A signed-in user's token source for one call.
pub struct User {
    /// The user's D365FO tokens.
    pub tokens: Arc<TokenProvider>,
    /// The identity part of the user's throttle window key.
    pub throttle_identity: String,
}

impl OnBehalfOf {
    /// The exchange of `credentials` for `scope`, when their policy is on.
    pub fn new(
        credentials: &ClientCredentials,
        scope: String,
        http: &reqwest::Client,
    ) -> Result<Option<Self>, WorkerError> {
        if !credentials.on_behalf_of.is_on() {
            return Ok(None);
        }
        let endpoint = Endpoint::new(credentials, http)?;
        Ok(Some(Self::with_endpoint(
            credentials.on_behalf_of,
            Arc::new(endpoint),
            scope,
            MAX_USERS,
        )))
    }

    fn with_endpoint(policy: Policy, endpoint: Arc<Endpoint>, scope: String, max: u64) -> Self {
        Self {
            policy,
            endpoint,
            scope,
            users: moka::sync::Cache::builder()
                .max_capacity(max)
                .time_to_idle(IDLE)
                .build(),
        }
    }

    /// The environment's policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Refuses `caller` when the policy requires a signed-in user and it
    /// is none.
    pub fn admit(&self, caller: &Caller) -> Result<(), WorkerError> {
        if self.policy == Policy::Required && caller.assertion().is_none() {
            return Err(WorkerError::PermissionDenied(
                "this environment is called only as the signed-in user (on_behalf_of = \
                 \"required\"): sign in with OAuth (Entra ID) instead of using an API key or an \
                 app-only token"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The token source of `caller`: the user's own, or `None` for the
    /// application's (no user signed in).
    pub fn user(&self, caller: &Caller) -> Result<Option<User>, WorkerError> {
        self.admit(caller)?;
        let Some(assertion) = caller.assertion() else {
            return Ok(None);
        };
        if assertion.len() > MAX_ASSERTION_BYTES {
            return Err(WorkerError::UserAuth(format!(
                "the signed-in user's token is longer than {MAX_ASSERTION_BYTES} bytes; sign \
                 in again"
            )));
        }
        let key: [u8; 32] = Sha256::digest(assertion.as_bytes()).into();
        let tokens = self.users.get_with(key, || {
            Arc::new(TokenProvider::on_behalf_of(
                Arc::clone(&self.endpoint),
                assertion,
                self.scope.clone(),
            ))
        });
        Ok(Some(User {
            tokens,
            throttle_identity: throttle_identity(assertion),
        }))
    }

    /// How many users' providers are kept (after pending evictions).
    #[cfg(test)]
    fn users(&self) -> u64 {
        self.users.run_pending_tasks();
        self.users.entry_count()
    }
}

/// `user:` and 32 hex digits of the SHA-256 of the token's `tid` and `oid`
/// claims, or of the whole token when it carries no `oid`.
pub fn throttle_identity(assertion: &str) -> String {
    let who = subject(assertion);
    let digest = match &who {
        Some(who) => Sha256::digest(who.as_bytes()),
        None => Sha256::digest(assertion.as_bytes()),
    };
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("user:{hex}")
}

/// `tid/oid` from the JWT payload of `assertion`, unverified.
fn subject(assertion: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Claims {
        #[serde(default)]
        tid: String,
        oid: String,
    }
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    (!claims.oid.is_empty()).then(|| format!("{}/{}", claims.tid, claims.oid))
}

#[cfg(test)]
#[path = "obo_tests.rs"]
mod tests;
