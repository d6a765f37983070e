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
//! A request takes one unit from each of its buckets: the tool's bucket for
//! its caller (`d365mcp:rl:v1:{t:<tenant>}:tool:<tool>:<subject>`), the
//! caller's (`d365mcp:rl:v1:{t:<tenant>}:principal:<subject>`) and the
//! tenant's (`d365mcp:rl:v1:{t:<tenant>}:tenant`), all in one store call
//! (one Lua script on Redis: one round trip per request, not one per
//! bucket). The tenant is the keys' hash tag, so on Redis Cluster the
//! buckets of one request share a slot, as a script's keys must; the
//! limiter is their only user, and a principal belongs to one tenant, so
//! the tag splits nothing. The decision is all or nothing: a request
//! refused by any bucket takes nothing from the others, so one noisy key
//! cannot starve the others of its tenant, and a refusal costs nobody a
//! unit. The refusal named is the first in order, most specific first.
//! Each key lives only until its bucket is full again (its TTL is set by
//! the store on every admission), at most `burst / rate` seconds.
//!
//! # Leases
//!
//! A limit of thousands of requests a second (a load test's, or a large
//! tenant's) would cost a store round trip per request. For those, a busy
//! edge takes units ahead of need and spends them itself (`lease`): every
//! admission is still a unit of the shared bucket, so the bound holds
//! across edges. Limits below 2,000/s (the defaults among them) lease
//! nothing. A bucket with a leased unit left is not asked; the others are
//! asked together, and a request refused by one of them gives its leased
//! units back.
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
    store::{Decision, Limit, LocalLimiter, SharedStore, StoreError, Take, limits::KEY_PREFIX},
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

/// One bucket a request takes from.
struct Bucket {
    key: String,
    limit: Limit,
    kind: RateScope,
    scope: Scope,
}

impl Bucket {
    fn take(&self, cost: u32) -> Take<'_> {
        Take {
            key: &self.key,
            limit: self.limit,
            cost,
        }
    }
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
    /// if any) counts against, all in one decision of the store: all of
    /// them, or none when one refuses (the first, in order, names the
    /// refusal).
    pub async fn check(&self, caller: &Principal, tool: Option<&str>) -> Result<(), Rejection> {
        let buckets = self.buckets(caller, tool);
        if buckets.is_empty() {
            return Ok(());
        }
        // Leased units need no store; the others are decided together.
        let leased: Vec<bool> = buckets.iter().map(|b| self.leases.spend(&b.key)).collect();
        let asked: Vec<&Bucket> = buckets
            .iter()
            .zip(&leased)
            .filter_map(|(bucket, &leased)| (!leased).then_some(bucket))
            .collect();
        let mut decided = self.decide(&asked).await?.into_iter();
        for (bucket, &was_leased) in buckets.iter().zip(&leased) {
            let decision = if was_leased { None } else { decided.next() };
            let allowed = decision.is_none_or(|d| d.allowed);
            crate::metrics::rate_limit(bucket.kind, allowed);
            if let Some(decision) = decision.filter(|d| !d.allowed) {
                // Nothing was taken: the leased units go back.
                for (bucket, leased) in buckets.iter().zip(&leased) {
                    if *leased {
                        self.leases.unspend(&bucket.key);
                    }
                }
                return Err(Rejection::Limited {
                    scope: bucket.scope.clone(),
                    limit: bucket.limit,
                    retry_after: decision.retry_after,
                });
            }
        }
        Ok(())
    }

    /// The buckets a request of `caller` (a call of `tool`, if any) takes
    /// from, most specific first. Every key carries the tenant as its hash
    /// tag (`{t:<tenant>}`, never empty: `{}` would tag nothing), so one
    /// script may touch them all on Redis Cluster.
    fn buckets(&self, caller: &Principal, tool: Option<&str>) -> Vec<Bucket> {
        let (subject, tenant) = (&caller.subject, &caller.tenant);
        let mut buckets = Vec::with_capacity(3);
        if let Some((tool, limit)) = tool.and_then(|t| Some((t, self.limits.for_tool(t)?))) {
            buckets.push(Bucket {
                key: format!("{KEY_PREFIX}{{t:{tenant}}}:tool:{tool}:{subject}"),
                limit,
                kind: RateScope::Tool,
                scope: Scope::Tool {
                    tool: tool.to_owned(),
                    subject: subject.clone(),
                },
            });
        }
        if let Some(limit) = self.limits.for_principal(subject) {
            buckets.push(Bucket {
                key: format!("{KEY_PREFIX}{{t:{tenant}}}:principal:{subject}"),
                limit,
                kind: RateScope::Principal,
                scope: Scope::Principal {
                    subject: subject.clone(),
                },
            });
        }
        if let Some(limit) = self.limits.for_tenant(tenant) {
            buckets.push(Bucket {
                key: format!("{KEY_PREFIX}{{t:{tenant}}}:tenant"),
                limit,
                kind: RateScope::Tenant,
                scope: Scope::Tenant {
                    tenant: tenant.clone(),
                },
            });
        }
        buckets
    }

    /// One unit from each of `buckets`: from the shared store, or by the
    /// policy when the store fails.
    async fn decide(&self, buckets: &[&Bucket]) -> Result<Vec<Decision>, Rejection> {
        if buckets.is_empty() {
            return Ok(Vec::new());
        }
        let error = match self.shared_decision(buckets).await {
            Ok(decisions) => return Ok(decisions),
            Err(error) => error,
        };
        match self.limits.on_store_error {
            StoreErrorPolicy::Closed => Err(Rejection::StoreDown(error)),
            StoreErrorPolicy::Open => {
                let takes: Vec<Take> = buckets.iter().map(|b| b.take(1)).collect();
                let decisions = self.local.acquire_all_now(&takes);
                let made = u64::try_from(decisions.len()).unwrap_or(u64::MAX);
                self.fallbacks.fetch_add(made, Ordering::Relaxed);
                Ok(decisions)
            }
        }
    }

    /// One unit from each of `buckets`' shared buckets in one store call,
    /// with a lease for those that are busy.
    async fn shared_decision(&self, buckets: &[&Bucket]) -> Result<Vec<Decision>, StoreError> {
        if let Some(error) = self.store_skipped() {
            return Err(error);
        }
        let mut units: Vec<u32> = buckets
            .iter()
            .map(|b| self.leases.size(&b.key, b.limit))
            .collect();
        loop {
            let takes: Vec<Take> = buckets
                .iter()
                .zip(&units)
                .map(|(b, &n)| b.take(n))
                .collect();
            match self.shared.acquire_all(&takes).await {
                Ok(decisions) => {
                    let refused = decisions.len().checked_sub(1).filter(|&last| {
                        decisions.get(last).is_some_and(|d| !d.allowed) && units[last] > 1
                    });
                    if let Some(at) = refused {
                        // Too few units left for the lease: one may still fit.
                        self.leases.refused(&buckets[at].key);
                        units[at] = 1;
                        continue;
                    }
                    self.store_is_back();
                    if decisions.iter().all(|d| d.allowed) {
                        for (bucket, &n) in buckets.iter().zip(&units) {
                            self.leases.taken(&bucket.key, n);
                        }
                    }
                    return Ok(decisions);
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
