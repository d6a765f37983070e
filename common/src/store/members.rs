//! Group membership with leases: members announce themselves with a
//! heartbeat that carries a payload and a time to live, and anyone can list
//! the members whose lease has not run out. Workers use it to join the
//! cluster; edges read it to build their hash ring (`crate::membership`).
//!
//! A group is named like a key, with its prefix (e.g.
//! `d365mcp:members:v1:workers`); it must not end in `:` nor contain `{` or
//! `}`, because the Redis backend adds a hash tag of its own so that a
//! group's keys share a Cluster slot. A lease is timed by the backend's clock (the Redis server's), never
//! by the caller's, so nodes with skewed clocks agree on who is live.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use bytes::Bytes;

use super::{StoreError, StoreResult};

/// A live member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's id, unique in its group.
    pub id: String,
    /// What the member said about itself in its last heartbeat.
    pub payload: Bytes,
    /// Time left on its lease when it was read.
    pub expires_in: Duration,
}

/// Leased membership of named groups.
#[async_trait]
pub trait MemberStore: Send + Sync {
    /// Joins `group` as `member`, or renews its lease: it is live for `ttl`
    /// from now, with `payload` replacing what it said before.
    async fn heartbeat(
        &self,
        group: &str,
        member: &str,
        payload: Bytes,
        ttl: Duration,
    ) -> StoreResult<()>;
    /// Removes `member` from `group` at once; `true` when it was live.
    async fn leave(&self, group: &str, member: &str) -> StoreResult<bool>;
    /// The live members of `group`, sorted by id; expired ones are left out.
    async fn live(&self, group: &str) -> StoreResult<Vec<Member>>;
}

/// Refuses a group name the backends cannot store faithfully.
pub(super) fn check_group(group: &str) -> StoreResult<()> {
    if group.is_empty() || group.ends_with(':') || group.contains(['{', '}']) {
        return Err(StoreError::Protocol(format!(
            "membership group {group:?} must be non-empty, free of braces and not end in `:`"
        )));
    }
    Ok(())
}

/// The in-memory backend's groups: per group, each member's payload and
/// lease end. Expired members are dropped whenever their group is written.
#[derive(Default)]
pub(super) struct MemberTable {
    groups: HashMap<String, HashMap<String, (Bytes, Instant)>>,
}

impl MemberTable {
    pub(super) fn heartbeat(&mut self, group: &str, member: &str, payload: Bytes, ttl: Duration) {
        let now = Instant::now();
        let members = self.groups.entry(group.to_owned()).or_default();
        members.retain(|_, (_, until)| *until > now);
        members.insert(member.to_owned(), (payload, now + ttl));
    }

    pub(super) fn leave(&mut self, group: &str, member: &str) -> bool {
        let now = Instant::now();
        let Some(members) = self.groups.get_mut(group) else {
            return false;
        };
        let was_live = members.remove(member).is_some_and(|(_, until)| until > now);
        members.retain(|_, (_, until)| *until > now);
        if members.is_empty() {
            self.groups.remove(group);
        }
        was_live
    }

    pub(super) fn live(&self, group: &str) -> Vec<Member> {
        let now = Instant::now();
        let mut live: Vec<Member> = self
            .groups
            .get(group)
            .into_iter()
            .flatten()
            .filter(|(_, (_, until))| *until > now)
            .map(|(id, (payload, until))| Member {
                id: id.clone(),
                payload: payload.clone(),
                expires_in: until.saturating_duration_since(now),
            })
            .collect();
        live.sort_by(|a, b| a.id.cmp(&b.id));
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_with_braces_are_refused() {
        assert!(check_group("d365mcp:members:v1:workers").is_ok());
        for bad in ["", "a{b}", "{x", "y}", "d365mcp:"] {
            assert!(
                matches!(check_group(bad), Err(StoreError::Protocol(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn expired_members_are_dropped_when_their_group_is_written() {
        let mut table = MemberTable::default();
        table.heartbeat("g", "old", Bytes::new(), Duration::ZERO);
        table.heartbeat("g", "new", Bytes::new(), Duration::from_secs(60));
        let stored: Vec<&String> = table.groups["g"].keys().collect();
        assert_eq!(stored, ["new"], "the expired member is gone from memory");
        assert!(!table.leave("g", "old"), "an expired member was not live");
        assert!(table.leave("g", "new"));
        assert!(table.groups.is_empty(), "an empty group is forgotten");
    }
}
