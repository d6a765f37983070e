//! A consistent-hash ring with bounded load.
//!
//! Calls for one D365FO environment should land on the same few workers so
//! that their caches and connection pools stay warm. Plain consistent hashing
//! does that but lets one hot environment swamp its worker; bounded load
//! (Mirrokni et al.) caps any worker at `ceil(c × average)` in-flight calls and
//! spills the excess to the next worker clockwise. Unhealthy workers are
//! skipped the same way, so a dead worker's environments move to their
//! neighbours only.

use std::hash::Hash;

use consistent_hash::{DefaultHash, Node, StaticHashRing};

/// Virtual nodes per member: enough for an even spread over a few dozen
/// workers without making lookups slow.
const VNODES: usize = 64;

/// Members of the ring and the order to try them in for a key.
pub struct HashRing<M: Clone + Eq + Hash + Ord + 'static> {
    ring: StaticHashRing<'static, M, (), DefaultHash>,
    members: Vec<M>,
}

impl<M: Clone + Eq + Hash + Ord + 'static> HashRing<M> {
    /// A ring over `members` (duplicates ignored).
    pub fn new(members: impl IntoIterator<Item = M>) -> Self {
        let mut members: Vec<M> = members.into_iter().collect();
        members.sort();
        members.dedup();
        let nodes = members
            .iter()
            .map(|m| Node::new(m.clone()).quantity(VNODES));
        Self {
            ring: StaticHashRing::new(DefaultHash, nodes),
            members,
        }
    }

    /// Members in sorted order.
    pub fn members(&self) -> &[M] {
        &self.members
    }

    /// Every member once, in the order a call for `key` should try them.
    pub fn candidates<K: Hash>(&self, key: &K) -> Vec<M> {
        self.ring
            .calc_candidates(key)
            .map(|node| node.key.clone())
            .collect()
    }

    /// Picks the member for `key` among those `eligible`, where `load` gives a
    /// member's in-flight calls and `factor` (> 1, e.g. 1.25) bounds any
    /// member's share at `ceil(factor × (total + 1) / eligible)`. Returns the
    /// eligible candidates in try order: the chosen one first, then the rest
    /// clockwise (for retrying elsewhere).
    pub fn pick<K: Hash>(
        &self,
        key: &K,
        eligible: impl Fn(&M) -> bool,
        load: impl Fn(&M) -> usize,
        factor: f64,
    ) -> Vec<M> {
        let ordered: Vec<M> = self
            .candidates(key)
            .into_iter()
            .filter(|m| eligible(m))
            .collect();
        if ordered.is_empty() {
            return ordered;
        }
        let total: usize = ordered.iter().map(&load).sum();
        let cap = ((total + 1) as f64 * factor.max(1.0) / ordered.len() as f64).ceil() as usize;
        let first = ordered
            .iter()
            .position(|m| load(m) < cap.max(1))
            .unwrap_or(0);
        let mut result = Vec::with_capacity(ordered.len());
        result.extend_from_slice(&ordered[first..]);
        result.extend_from_slice(&ordered[..first]);
        result
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn ring(n: usize) -> HashRing<String> {
        HashRing::new((0..n).map(|i| format!("w{i}")))
    }

    #[test]
    fn same_key_same_order() {
        let r = ring(5);
        assert_eq!(r.candidates(&"usmf-prod"), r.candidates(&"usmf-prod"));
        assert_eq!(r.candidates(&"usmf-prod").len(), 5);
    }

    #[test]
    fn keys_spread_over_members() {
        let r = ring(4);
        let mut hits: HashMap<String, usize> = HashMap::new();
        for i in 0..4000 {
            *hits
                .entry(r.candidates(&format!("env-{i}"))[0].clone())
                .or_default() += 1;
        }
        assert_eq!(hits.len(), 4);
        for (member, n) in hits {
            assert!((500..1500).contains(&n), "{member} got {n} of 4000");
        }
    }

    #[test]
    fn removing_a_member_moves_only_its_keys() {
        let before = ring(4);
        let after = HashRing::new(["w0", "w1", "w3"].map(String::from));
        for i in 0..1000 {
            let key = format!("env-{i}");
            let owner = before.candidates(&key)[0].clone();
            if owner != "w2" {
                assert_eq!(after.candidates(&key)[0], owner, "{key} moved");
            }
        }
    }

    #[test]
    fn unhealthy_members_are_skipped_and_overloaded_ones_spill() {
        let r = ring(3);
        let natural = r.candidates(&"env");
        let skipped = r.pick(&"env", |m| *m != natural[0], |_| 0, 1.25);
        assert_eq!(skipped[0], natural[1]);
        assert_eq!(skipped.len(), 2);

        let busy = natural[0].clone();
        let spilled = r.pick(&"env", |_| true, |m| if *m == busy { 10 } else { 0 }, 1.25);
        assert_eq!(spilled[0], natural[1]);
        assert_eq!(spilled.len(), 3, "every member stays a fallback");
        assert!(r.pick(&"env", |_| false, |_| 0, 1.25).is_empty());
    }

    proptest! {
        #[test]
        fn pick_never_exceeds_the_bound(loads in proptest::collection::vec(0usize..20, 1..8), key in "[a-z]{1,8}") {
            let r = ring(loads.len());
            let load = |m: &String| loads[m[1..].parse::<usize>().unwrap()];
            let picked = r.pick(&key, |_| true, load, 1.25);
            prop_assert_eq!(picked.len(), loads.len());
            let total: usize = loads.iter().sum();
            let cap = ((total + 1) as f64 * 1.25 / loads.len() as f64).ceil() as usize;
            prop_assert!(load(&picked[0]) < cap.max(1) || loads.iter().all(|l| *l >= cap.max(1)));
        }
    }
}
