//! The [`Limiter`]'s order of buckets and its store-error policies.

use std::{collections::BTreeMap, net::TcpListener, sync::Arc};

use common::{
    config::{RateLimits, StoreErrorPolicy},
    store::{Limit, MemoryStore, RedisStore, SharedStore},
};

use super::*;

fn limit(burst: u32) -> Limit {
    // Slow enough that nothing refills during a test.
    Limit {
        rate_per_second: 0.001,
        burst,
    }
}

fn caller(subject: &str, tenant: &str) -> Principal {
    Principal::key(subject, tenant)
}

fn scope(result: Result<(), Rejection>) -> Option<Scope> {
    match result {
        Ok(()) => None,
        Err(Rejection::Limited { scope, .. }) => Some(scope),
        Err(other) => panic!("not a limit: {other:?}"),
    }
}

/// A store whose Redis is not there: every operation fails at once.
fn dead_store() -> SharedStore {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Arc::new(RedisStore::open(&format!("redis://127.0.0.1:{port}")).unwrap())
}

#[tokio::test]
async fn a_tool_refusal_takes_nothing_from_the_callers_other_buckets() {
    let limits = RateLimits {
        principal: Some(limit(2)),
        tools: BTreeMap::from([("d365fo_execute_batch".into(), limit(1))]),
        ..RateLimits::off()
    };
    let limiter = Limiter::new(limits, Arc::new(MemoryStore::new()));
    let erp = caller("erp", "t");
    let batch = Some("d365fo_execute_batch");
    assert_eq!(scope(limiter.check(&erp, batch).await), None);
    assert!(matches!(
        scope(limiter.check(&erp, batch).await),
        Some(Scope::Tool { tool, subject }) if tool == "d365fo_execute_batch" && subject == "erp"
    ));
    assert_eq!(
        scope(limiter.check(&erp, Some("d365fo_get_label")).await),
        None
    );
    assert_eq!(
        scope(limiter.check(&erp, None).await),
        Some(Scope::Principal {
            subject: "erp".into()
        }),
        "two units: the batch and the label; the refused batch took none"
    );
}

#[tokio::test]
async fn one_noisy_key_does_not_drain_its_tenant() {
    let limits = RateLimits {
        principal: Some(limit(1)),
        tenant: Some(limit(3)),
        principals: BTreeMap::from([("vip".into(), limit(5))]),
        ..RateLimits::off()
    };
    let limiter = Limiter::new(limits, Arc::new(MemoryStore::new()));
    let noisy = caller("noisy", "contoso");
    assert_eq!(scope(limiter.check(&noisy, None).await), None);
    for _ in 0..10 {
        assert!(matches!(
            scope(limiter.check(&noisy, None).await),
            Some(Scope::Principal { .. })
        ));
    }
    let vip = caller("vip", "contoso");
    assert_eq!(scope(limiter.check(&vip, None).await), None);
    assert_eq!(scope(limiter.check(&vip, None).await), None);
    assert_eq!(
        scope(limiter.check(&vip, None).await),
        Some(Scope::Tenant {
            tenant: "contoso".into()
        }),
        "the tenant's third unit went to the noisy key's one admission"
    );
    let elsewhere = caller("other", "fabrikam");
    assert_eq!(scope(limiter.check(&elsewhere, None).await), None);
}

#[tokio::test]
async fn open_policy_limits_locally_while_the_store_is_down() {
    let limits = RateLimits {
        principal: Some(limit(3)),
        on_store_error: StoreErrorPolicy::Open,
        ..RateLimits::off()
    };
    let limiter = Limiter::new(limits, dead_store());
    let erp = caller("erp", "t");
    for _ in 0..3 {
        assert_eq!(scope(limiter.check(&erp, None).await), None);
    }
    assert!(matches!(
        scope(limiter.check(&erp, None).await),
        Some(Scope::Principal { .. })
    ));
    assert_eq!(limiter.fallbacks(), 4, "every local decision is counted");
}

#[tokio::test]
async fn closed_policy_refuses_while_the_store_is_down() {
    let limits = RateLimits {
        tenant: Some(limit(3)),
        on_store_error: StoreErrorPolicy::Closed,
        ..RateLimits::off()
    };
    let limiter = Limiter::new(limits, dead_store());
    for _ in 0..2 {
        let result = limiter.check(&caller("erp", "t"), None).await;
        assert!(
            matches!(
                result,
                Err(Rejection::StoreDown(StoreError::Unavailable(_)))
            ),
            "{result:?}"
        );
    }
    assert_eq!(limiter.fallbacks(), 0);
}

#[tokio::test]
async fn leases_keep_two_edges_within_the_shared_bound_and_use_the_whole_burst() {
    // 10,000/s leases up to 10 units; 40 is the burst.
    let busy = Limit {
        rate_per_second: 10_000.0,
        burst: 40,
    };
    let limits = || RateLimits {
        principal: Some(busy),
        ..RateLimits::off()
    };
    let store: SharedStore = Arc::new(MemoryStore::new());
    let edges = [
        Limiter::new(limits(), store.clone()),
        Limiter::new(limits(), store),
    ];
    let erp = caller("erp", "t");
    let started = std::time::Instant::now();
    let mut admitted = 0;
    for i in 0..400 {
        if edges[i % 2].check(&erp, None).await.is_ok() {
            admitted += 1;
        }
    }
    let bound = (10_000.0 * started.elapsed().as_secs_f64()).floor() as usize + 40;
    assert!(admitted <= bound, "{admitted} admitted, bound {bound}");
    assert!(admitted >= 40, "only {admitted}: leased units were lost");
}

#[tokio::test]
async fn a_tenant_refusal_takes_nothing_from_the_callers_bucket() {
    let limits = RateLimits {
        principal: Some(limit(2)),
        tenant: Some(limit(1)),
        ..RateLimits::off()
    };
    let store: SharedStore = Arc::new(MemoryStore::new());
    let limiter = Limiter::new(limits, store.clone());
    let (erp, other) = (caller("erp", "t"), caller("other", "t"));
    assert_eq!(scope(limiter.check(&other, None).await), None);
    assert!(matches!(
        scope(limiter.check(&erp, None).await),
        Some(Scope::Tenant { .. })
    ));
    // Both of erp's units are still there: the refusal took none.
    let key = format!("{KEY_PREFIX}{{t:t}}:principal:erp");
    let left = store.acquire(&key, limit(2), 2).await.unwrap();
    assert!(left.allowed, "{left:?}");
}
