//! [`Identity`]: whose token a D365FO request carries and whose throttle
//! window it waits on — the application's, or (on-behalf-of) the signed-in
//! user's, chosen from the call's [`obo::Caller`].
//!
//! D365FO throttles per user under on-behalf-of, so each user has a gate
//! of their own ([`UserGates`]), made on first use, polling the store
//! rather than subscribing ([`ThrottleGate::polling`]), and bounded: at
//! most [`MAX_USER_GATES`] per environment, one unused for
//! [`USER_GATE_IDLE`] dropped (its window, if any, stays in the store and
//! is read again by the next gate of that user).

use std::{sync::Arc, time::Duration};

use common::{config::D365Config, store::SharedStore};

use super::{
    auth::{TokenProvider, obo},
    throttle::ThrottleGate,
};
use crate::error::WorkerError;

/// Most users' throttle gates kept per environment.
pub const MAX_USER_GATES: u64 = 1024;

/// How long an unused user's gate is kept.
pub const USER_GATE_IDLE: Duration = Duration::from_secs(10 * 60);

/// Users' throttle gates of one environment, by throttle identity.
pub struct UserGates(moka::sync::Cache<String, Arc<ThrottleGate>>);

impl Default for UserGates {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(MAX_USER_GATES)
                .time_to_idle(USER_GATE_IDLE)
                .build(),
        )
    }
}

impl UserGates {
    fn get(&self, store: &SharedStore, config: &D365Config, identity: &str) -> Arc<ThrottleGate> {
        self.0.get_with_by_ref(identity, || {
            Arc::new(ThrottleGate::polling(
                store.clone(),
                &config.name,
                config.base_url.as_str(),
                identity,
            ))
        })
    }
}

/// Who a request is sent as.
pub enum Identity<'a> {
    /// The environment's application identity.
    App {
        tokens: &'a TokenProvider,
        gate: Option<&'a Arc<ThrottleGate>>,
    },
    /// A signed-in user, through on-behalf-of.
    User {
        user: obo::User,
        gate: Option<Arc<ThrottleGate>>,
    },
}

impl<'a> Identity<'a> {
    /// The identity of this task's call: the user's when `obo` is on and
    /// the caller signed in, else the application's (`app`, `app_gate`).
    /// Refused when the policy requires a user and the caller is none.
    /// `throttling` is where users' gates keep their windows, if anywhere.
    pub fn of(
        app: &'a TokenProvider,
        app_gate: Option<&'a Arc<ThrottleGate>>,
        obo: Option<&obo::OnBehalfOf>,
        gates: &UserGates,
        throttling: Option<(&SharedStore, &D365Config)>,
    ) -> Result<Self, WorkerError> {
        let application = Self::App {
            tokens: app,
            gate: app_gate,
        };
        // Outside a call (the warm-up) there is no caller: the application.
        let (Some(obo), Some(caller)) = (obo, obo::current()) else {
            return Ok(application);
        };
        let Some(user) = obo.user(&caller)? else {
            return Ok(application);
        };
        let gate =
            throttling.map(|(store, config)| gates.get(store, config, &user.throttle_identity));
        Ok(Self::User { user, gate })
    }

    /// The token source.
    pub fn tokens(&self) -> &TokenProvider {
        match self {
            Self::App { tokens, .. } => tokens,
            Self::User { user, .. } => &user.tokens,
        }
    }

    /// The throttle gate, if requests are gated.
    pub fn gate(&self) -> Option<&ThrottleGate> {
        match self {
            Self::App { gate, .. } => gate.map(|g| g.as_ref()),
            Self::User { gate, .. } => gate.as_deref(),
        }
    }

    /// `error` as the caller should read it: D365FO's refusal of a user is
    /// about that user's D365FO account, not the server's credentials.
    pub fn explain(&self, error: WorkerError) -> WorkerError {
        match (self, error) {
            (Self::User { .. }, WorkerError::UpstreamAuth { status, message }) => {
                WorkerError::UserAuth(format!(
                    "D365FO refused the signed-in user (HTTP {status}): {message}. The user needs \
                     a D365FO account mapped to their Entra ID identity, with the roles the call \
                     needs; if the token was revoked, sign in again"
                ))
            }
            (_, error) => error,
        }
    }
}
