//! Caps on what one API key and one tenant may hold: 2025 sessions,
//! cluster-wide, and legacy `GET /sse` streams, per edge.
//!
//! A session takes a *slot* of its key and one of its tenant: store keys
//! `d365mcp:session:v1:slot:{key|tenant}:{name}:{i}`, `i` below the cap,
//! each taken with SET NX and the session's idle TTL, renewed with the
//! session's record ([`super::gate`]) and deleted with it. Taking a free slot
//! is atomic on every backend, so the caps hold across edges and under
//! concurrent opens; a slot of a session that expired expires with it. Slots
//! are probed from a random index, [`BATCH`] at a time and at most
//! [`MAX_PROBES`] per open: below that many the cap is exact; above it, a
//! key or tenant that is nearly full may be refused a little early.
//!
//! A legacy stream is a connection to one edge, and what it costs is that
//! edge's memory: its caps are counted in memory there, and a slot is
//! freed the moment the stream ends.

use std::{collections::HashMap, sync::Arc, time::Duration};

use bytes::Bytes;
use common::{
    ErrorCode, Failure,
    config::SessionCaps,
    store::{SharedStore, StoreError},
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::auth::Principal;

/// Slots tried at once.
pub const BATCH: u32 = 32;

/// Most slots tried for one open.
pub const MAX_PROBES: u32 = 256;

/// Marks a request whose body is an `initialize` (set by the body guard).
#[derive(Debug, Clone, Copy)]
pub struct OpensSession;

/// The slots a session holds, kept in its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slots {
    /// Its key's slot.
    pub key: u32,
    /// Its tenant's slot.
    pub tenant: u32,
}

/// The caps of one edge.
pub struct Caps {
    store: SharedStore,
    caps: SessionCaps,
    idle_ttl: Duration,
    /// Legacy streams open on this edge, by `key:{subject}` and `tenant:{tenant}`.
    streams: Arc<Mutex<HashMap<String, u32>>>,
}

/// Which cap refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Key,
    Tenant,
}

impl Caps {
    pub fn new(store: SharedStore, caps: SessionCaps, idle_ttl: Duration) -> Self {
        Self {
            store,
            caps,
            idle_ttl,
            streams: Arc::default(),
        }
    }

    /// Takes a session slot of `who`'s key and tenant; `Ok(None)` when the
    /// store cannot say (the session is not counted, as it is not shared).
    pub async fn claim(&self, who: &Principal) -> Result<Option<Slots>, (Failure, Scope)> {
        let key = match self.take(&prefix(Scope::Key, who), self.caps.per_key).await {
            Ok(Some(i)) => i,
            Ok(None) => return Err((self.full(Scope::Key), Scope::Key)),
            Err(e) => return Ok(unavailable(&e)),
        };
        let tenant = match self
            .take(&prefix(Scope::Tenant, who), self.caps.per_tenant)
            .await
        {
            Ok(Some(i)) => i,
            Ok(None) => {
                self.free(&prefix(Scope::Key, who), key).await;
                return Err((self.full(Scope::Tenant), Scope::Tenant));
            }
            Err(e) => {
                self.free(&prefix(Scope::Key, who), key).await;
                return Ok(unavailable(&e));
            }
        };
        Ok(Some(Slots { key, tenant }))
    }

    /// Renews `slots` with their session's record.
    pub async fn renew(&self, who: &Principal, slots: Slots) {
        let (a, b) = (
            slot_key(&prefix(Scope::Key, who), slots.key),
            slot_key(&prefix(Scope::Tenant, who), slots.tenant),
        );
        let _ = tokio::join!(
            self.store.expire(&a, self.idle_ttl),
            self.store.expire(&b, self.idle_ttl)
        );
    }

    /// Frees `slots` (their session ended, or never opened).
    pub async fn release(&self, who: &Principal, slots: Slots) {
        let (key, tenant) = (prefix(Scope::Key, who), prefix(Scope::Tenant, who));
        tokio::join!(self.free(&key, slots.key), self.free(&tenant, slots.tenant));
    }

    /// A free slot below `cap` under `prefix`, taken; `None` when every
    /// slot probed is taken.
    async fn take(&self, prefix: &str, cap: u32) -> Result<Option<u32>, StoreError> {
        let start = (uuid::Uuid::new_v4().as_u128() % u128::from(cap)) as u32;
        let probes = cap.min(MAX_PROBES);
        let mut tried = 0;
        while tried < probes {
            let batch: Vec<u32> = (tried..probes.min(tried + BATCH))
                .map(|n| (start + n) % cap)
                .collect();
            tried += batch.len() as u32;
            let results = futures::future::join_all(batch.iter().map(|&i| async move {
                self.store
                    .set_if_absent(
                        &slot_key(prefix, i),
                        Bytes::from_static(b"1"),
                        self.idle_ttl,
                    )
                    .await
            }))
            .await;
            let mut won = Vec::new();
            for (&i, result) in batch.iter().zip(results) {
                if result? {
                    won.push(i);
                }
            }
            if let Some((&first, extra)) = won.split_first() {
                // Taken by this call alone: give the others back.
                futures::future::join_all(extra.iter().map(|&i| self.free(prefix, i))).await;
                return Ok(Some(first));
            }
        }
        Ok(None)
    }

    async fn free(&self, prefix: &str, i: u32) {
        if let Err(e) = self.store.delete(&slot_key(prefix, i)).await {
            tracing::debug!(error = %e, "a session slot was not freed; it expires with its TTL");
        }
    }

    /// The refusal of a session over `scope`'s cap (counted).
    fn full(&self, scope: Scope) -> Failure {
        crate::metrics::refused(crate::metrics::Refusal::SessionCap);
        let (who, cap, setting) = match scope {
            Scope::Key => (
                "this API key",
                self.caps.per_key,
                "D365MCP_MAX_SESSIONS_PER_KEY",
            ),
            Scope::Tenant => (
                "this tenant",
                self.caps.per_tenant,
                "D365MCP_MAX_SESSIONS_PER_TENANT",
            ),
        };
        Failure::new(
            ErrorCode::RateLimited,
            format!("{who} holds its most open sessions ({cap}, {setting})"),
        )
        .with_hint(format!(
            "end a session you no longer use with DELETE and its Mcp-Session-Id, or wait for \
             one to expire ({} unused); then send initialize again",
            human(self.idle_ttl)
        ))
    }

    /// Opens a legacy stream of `who` on this edge, until the returned
    /// guard is dropped.
    pub fn open_stream(&self, who: &Principal) -> Result<StreamSlot, (Failure, Scope)> {
        let names = [
            format!("key:{}", who.subject),
            format!("tenant:{}", who.tenant),
        ];
        let mut open = self.streams.lock();
        for (name, scope, cap, setting) in [
            (
                &names[0],
                Scope::Key,
                self.caps.streams_per_key,
                "D365MCP_MAX_STREAMS_PER_KEY",
            ),
            (
                &names[1],
                Scope::Tenant,
                self.caps.streams_per_tenant,
                "D365MCP_MAX_STREAMS_PER_TENANT",
            ),
        ] {
            if open.get(name).copied().unwrap_or(0) >= cap {
                let who = if scope == Scope::Key {
                    "this API key"
                } else {
                    "this tenant"
                };
                let failure = Failure::new(
                    ErrorCode::RateLimited,
                    format!("{who} holds its most legacy streams on this edge ({cap}, {setting})"),
                )
                .with_hint("close a GET /sse stream you no longer read, then open this one again");
                crate::metrics::refused(crate::metrics::Refusal::SessionCap);
                return Err((failure, scope));
            }
        }
        for name in &names {
            *open.entry(name.clone()).or_insert(0) += 1;
        }
        Ok(StreamSlot {
            streams: Arc::clone(&self.streams),
            names,
        })
    }
}

/// A legacy stream counted against its caps until dropped.
#[derive(Debug)]
pub struct StreamSlot {
    streams: Arc<Mutex<HashMap<String, u32>>>,
    names: [String; 2],
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.lock();
        for name in &self.names {
            if let Some(n) = open.get_mut(name) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(name);
                }
            }
        }
    }
}

impl Scope {
    /// The name a refusal's `data.limit` gives.
    pub fn sessions(self) -> &'static str {
        match self {
            Self::Key => "sessions_per_key",
            Self::Tenant => "sessions_per_tenant",
        }
    }

    /// The name a refusal's `data.limit` gives.
    pub fn streams(self) -> &'static str {
        match self {
            Self::Key => "streams_per_key",
            Self::Tenant => "streams_per_tenant",
        }
    }
}

fn prefix(scope: Scope, who: &Principal) -> String {
    match scope {
        Scope::Key => format!("d365mcp:session:v1:slot:key:{}", who.subject),
        Scope::Tenant => format!("d365mcp:session:v1:slot:tenant:{}", who.tenant),
    }
}

fn slot_key(prefix: &str, i: u32) -> String {
    format!("{prefix}:{i}")
}

fn unavailable(e: &StoreError) -> Option<Slots> {
    tracing::warn!(error = %e, "session caps not checked: the shared store is unreachable");
    None
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use common::store::MemoryStore;

    use super::*;

    fn caps(per_key: u32, per_tenant: u32) -> Caps {
        let caps = SessionCaps {
            per_key,
            per_tenant,
            streams_per_key: 2,
            streams_per_tenant: 3,
        };
        Caps::new(Arc::new(MemoryStore::new()), caps, Duration::from_secs(60))
    }

    fn who(subject: &str, tenant: &str) -> Principal {
        Principal::key(subject, tenant)
    }

    #[tokio::test]
    async fn a_key_gets_its_cap_of_sessions_and_a_released_slot_back() {
        let caps = caps(5, 100);
        let erp = who("erp", "contoso");
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(caps.claim(&erp).await.unwrap().unwrap());
        }
        let (failure, scope) = caps.claim(&erp).await.unwrap_err();
        assert_eq!(scope, Scope::Key);
        assert_eq!(failure.code, ErrorCode::RateLimited);
        assert!(
            failure.message.contains("D365MCP_MAX_SESSIONS_PER_KEY"),
            "{}",
            failure.message
        );
        assert!(
            caps.claim(&who("other", "contoso"))
                .await
                .unwrap()
                .is_some()
        );
        caps.release(&erp, held[2]).await;
        assert!(caps.claim(&erp).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_tenant_cap_holds_across_its_keys_and_takes_nothing_when_it_refuses() {
        let caps = caps(1, 3);
        for n in 0..3 {
            caps.claim(&who(&format!("k{n}"), "t"))
                .await
                .unwrap()
                .unwrap();
        }
        let (_, scope) = caps.claim(&who("k9", "t")).await.unwrap_err();
        assert_eq!(scope, Scope::Tenant);
        // The refused key's own slot (its only one) was given back.
        caps.claim(&who("k9", "elsewhere")).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn concurrent_opens_never_pass_the_cap() {
        let caps = Arc::new(caps(7, 1000));
        let erp = who("erp", "t");
        let opens = (0..40).map(|_| {
            let (caps, erp) = (Arc::clone(&caps), erp.clone());
            tokio::spawn(async move { caps.claim(&erp).await.is_ok() })
        });
        let admitted = futures::future::join_all(opens)
            .await
            .into_iter()
            .filter(|r| matches!(r, Ok(true)))
            .count();
        assert_eq!(admitted, 7);
    }

    #[test]
    fn streams_are_capped_per_key_and_tenant_and_freed_on_drop() {
        let caps = caps(1, 1);
        let a = who("a", "t");
        let one = caps.open_stream(&a).unwrap();
        let _two = caps.open_stream(&a).unwrap();
        assert_eq!(caps.open_stream(&a).unwrap_err().1, Scope::Key);
        let _three = caps.open_stream(&who("b", "t")).unwrap();
        assert_eq!(
            caps.open_stream(&who("c", "t")).unwrap_err().1,
            Scope::Tenant
        );
        drop(one);
        assert!(caps.open_stream(&who("c", "t")).is_ok());
    }
}
