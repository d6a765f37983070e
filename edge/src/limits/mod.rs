//! Rate limits: per API key (principal), per tenant and per tool, decided in
//! the shared store so that every edge counts against the same buckets.
//!
//! - `enforce`: the HTTP middleware — a JSON-RPC request over a limit gets
//!   `429` with `Retry-After` and a JSON-RPC error (`rate_limited`, the
//!   hint in `data.retryAfterSeconds`); with the store unreachable and the
//!   `closed` policy, `503`.
//! - [`Limiter`] (here): which buckets a request takes from, in which order,
//!   and the fall-back to this edge's own buckets while the store is down.
//!
//! # Where limits are checked
//!
//! In a middleware between the body guard and rmcp, before any response has
//! started: the guard's one parse of the body hands over the request's id
//! and, for `tools/call`, the tool's name ([`RpcRequest`]). Every MCP request
//! of every era is one POST today, so every refusal can be a plain `429`
//! that HTTP clients and proxies understand; there is no refusal to make on
//! a stream that has already started. Only JSON-RPC *requests* count:
//! notifications (a cancellation above all) and a client's responses always
//! pass, as do the GET streams of `/mcp` and DELETE. Opening a legacy
//! stream (`GET /sse`) is one request of its caller (`enforce_stream`).
//!
//! # Buckets and keys
//!
//! A request takes one unit, in this order, stopping at the first refusal:
//! the tool's bucket for its caller (`d365mcp:rl:v1:tool:<tool>:<subject>`),
//! the caller's (`d365mcp:rl:v1:principal:<subject>`), then the tenant's
//! (`d365mcp:rl:v1:tenant:<tenant>`). Most specific first: a client refused
//! by its own limit takes nothing from its tenant's, so one noisy key cannot
//! starve the others of its tenant. A request refused by its tenant has
//! taken its principal's unit (at most one unit per refusal, to its own
//! caller). Each key lives only until its bucket is full again (its TTL is
//! set by the store on every admission), at most `burst / rate` seconds.
//!
//! # Leases
//!
//! A limit of thousands of requests a second (a load test's, or a large
//! tenant's) would cost a store round trip per request. For those, a busy
//! edge takes units ahead of need and spends them itself (`lease`): every
//! admission is still a unit of the shared bucket, so the bound holds
//! across edges. Limits below 2,000/s (the defaults among them) lease
//! nothing.
//!
//! # The shared store unreachable
//!
//! `open` (the default) decides with this edge's own buckets under the same
//! limits, so the cluster admits up to N edges × the limit until the store is
//! back; `closed` refuses with `503`. After a store error the store is left
//! alone for [`STORE_RETRY`] (no request waits on a dead store's timeout),
//! then tried again; the store reconnects by itself. The switch both ways is
//! logged, and decisions made locally are counted ([`Limiter::fallbacks`]).

mod enforce;
mod lease;

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

use common::{
    config::{RateLimits, StoreErrorPolicy},
    store::{Decision, Limit, LocalLimiter, SharedStore, StoreError, limits::KEY_PREFIX},
};
use parking_lot::Mutex;
use serde_json::Value;

use crate::{Principal, metrics::RateScope};

pub use enforce::{enforce, enforce_stream};

/// How long the shared store is left alone after it failed a decision.
pub const STORE_RETRY: Duration = Duration::from_secs(1);

/// A JSON-RPC request as the body guard read it: what the limits need.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcRequest {
    /// The request's id, for the error that answers it.
    pub id: Value,
    /// The tool a `tools/call` names.
    pub tool: Option<String>,
    /// Whether it is a `tools/list`.
    pub lists_tools: bool,
}

/// Which limit refused a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// The caller's calls of one tool.
    Tool { tool: String, subject: String },
    /// The caller's requests.
    Principal { subject: String },
    /// The caller's tenant's requests.
    Tenant { tenant: String },
}

/// Why a request may not go on.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// Over `limit` at `scope`; the same request is admitted after `retry_after`.
    Limited {
        scope: Scope,
        limit: Limit,
        retry_after: Duration,
    },
    /// The shared store could not decide and the policy is `closed`.
    StoreDown(StoreError),
}

/// Decides every request's limits; one per edge.
pub struct Limiter {
    limits: RateLimits,
    shared: SharedStore,
    local: LocalLimiter,
    leases: lease::Leases,
    /// Until when the shared store is left alone after an error.
    store_down_until: Mutex<Option<Instant>>,
    degraded: AtomicBool,
    fallbacks: AtomicU64,
}

impl Limiter {
    /// Limits `limits` decided in `shared`.
    pub fn new(limits: RateLimits, shared: SharedStore) -> Self {
        Self {
            limits,
            shared,
            local: LocalLimiter::new(),
            leases: lease::Leases::default(),
            store_down_until: Mutex::new(None),
            degraded: AtomicBool::new(false),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// Whether no limit applies to anything.
    pub fn is_off(&self) -> bool {
        self.limits.is_off()
    }

    /// Decisions made with this edge's own buckets because the shared store
    /// was unreachable (policy `open`), since start.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Takes a unit from each bucket `caller`'s request (a call of `tool`,
    /// if any) counts against, stopping at the first refusal.
    pub async fn check(&self, caller: &Principal, tool: Option<&str>) -> Result<(), Rejection> {
        let tool_limit = tool.and_then(|t| Some((t, self.limits.for_tool(t)?)));
        if let Some((tool, limit)) = tool_limit {
            let key = format!("{KEY_PREFIX}tool:{tool}:{}", caller.subject);
            let scope = || Scope::Tool {
                tool: tool.to_owned(),
                subject: caller.subject.clone(),
            };
            self.take(&key, limit, RateScope::Tool, scope).await?;
        }
        if let Some(limit) = self.limits.for_principal(&caller.subject) {
            let key = format!("{KEY_PREFIX}principal:{}", caller.subject);
            let scope = || Scope::Principal {
                subject: caller.subject.clone(),
            };
            self.take(&key, limit, RateScope::Principal, scope).await?;
        }
        if let Some(limit) = self.limits.for_tenant(&caller.tenant) {
            let key = format!("{KEY_PREFIX}tenant:{}", caller.tenant);
            let scope = || Scope::Tenant {
                tenant: caller.tenant.clone(),
            };
            self.take(&key, limit, RateScope::Tenant, scope).await?;
        }
        Ok(())
    }

    async fn take(
        &self,
        key: &str,
        limit: Limit,
        kind: RateScope,
        scope: impl FnOnce() -> Scope,
    ) -> Result<(), Rejection> {
        let decision = self.decide(key, limit).await?;
        crate::metrics::rate_limit(kind, decision.allowed);
        if decision.allowed {
            return Ok(());
        }
        Err(Rejection::Limited {
            scope: scope(),
            limit,
            retry_after: decision.retry_after,
        })
    }

    /// One unit from `key`: leased, from the shared store, or by the policy
    /// when the store fails.
    async fn decide(&self, key: &str, limit: Limit) -> Result<Decision, Rejection> {
        if self.leases.spend(key) {
            return Ok(Decision {
                allowed: true,
                retry_after: Duration::ZERO,
                remaining: 0,
            });
        }
        let error = match self.shared_decision(key, limit).await {
            Ok(decision) => return Ok(decision),
            Err(error) => error,
        };
        match self.limits.on_store_error {
            StoreErrorPolicy::Closed => Err(Rejection::StoreDown(error)),
            StoreErrorPolicy::Open => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                Ok(self.local.acquire_now(key, limit, 1))
            }
        }
    }

    /// One unit from `key`'s shared bucket, with a lease when it is busy.
    async fn shared_decision(&self, key: &str, limit: Limit) -> Result<Decision, StoreError> {
        if let Some(error) = self.store_skipped() {
            return Err(error);
        }
        let mut units = self.leases.size(key, limit);
        loop {
            match self.shared.acquire(key, limit, units).await {
                Ok(decision) if !decision.allowed && units > 1 => {
                    // Too few units left for the lease: one may still fit.
                    self.leases.refused(key);
                    units = 1;
                }
                Ok(decision) => {
                    self.store_is_back();
                    if decision.allowed {
                        self.leases.taken(key, units);
                    }
                    return Ok(decision);
                }
                Err(error) => {
                    self.store_failed(&error);
                    return Err(error);
                }
            }
        }
    }

    /// The reason to skip the store, while it is left alone after an error.
    fn store_skipped(&self) -> Option<StoreError> {
        let mut until = self.store_down_until.lock();
        match *until {
            Some(at) if Instant::now() < at => Some(StoreError::Unavailable(format!(
                "the shared store failed less than {} s ago",
                STORE_RETRY.as_secs()
            ))),
            Some(_) => {
                *until = None;
                None
            }
            None => None,
        }
    }

    fn store_failed(&self, error: &StoreError) {
        *self.store_down_until.lock() = Some(Instant::now() + STORE_RETRY);
        if !self.degraded.swap(true, Ordering::Relaxed) {
            let policy = self.limits.on_store_error;
            tracing::warn!(
                error = %error,
                policy = policy.as_str(),
                "rate limits: the shared store is unreachable; {}",
                match policy {
                    StoreErrorPolicy::Open => "deciding with this edge's own buckets",
                    StoreErrorPolicy::Closed => "refusing requests with 503",
                }
            );
        }
    }

    fn store_is_back(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!(
                local_decisions = self.fallbacks(),
                "rate limits: the shared store is reachable again"
            );
        }
    }
}

#[cfg(test)]
mod tests;
