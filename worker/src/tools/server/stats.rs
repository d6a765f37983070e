//! `d365fo_get_performance_stats` and its reset, read from the Prometheus
//! families (`common::metrics`) rather than counters of their own.
//!
//! - **Scope.** `cluster` sums the answering worker's live families with the
//!   snapshots every other live node published to the shared store
//!   (`common::metrics::publish`; at most one publish interval old); `node`
//!   is the answering worker's process alone.
//! - **Reset** never touches the Prometheus counters (a scraper's `rate()`
//!   would see a restart): it stores a baseline, each live node's families
//!   at that moment, under [`BASELINE_KEY`]; the statistics are the families
//!   less the baseline of the same node. A node that started after the reset
//!   has no baseline and counts whole; a node that died leaves with its
//!   baseline.
//! - **Visibility.** Totals are over all tenants (counts, no data); the
//!   per-tenant and per-environment breakdowns show an operator everything
//!   and any other key only its own tenant and the environments its policy
//!   allows.

use std::{collections::BTreeMap, time::Duration};

use bytes::Bytes;
use common::{
    catalogue::server::Scope,
    metrics::{self, Snapshot, publish, snapshot::Family},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Context;
use crate::error::WorkerError;

/// Where the reset's baseline lives in the shared store.
pub const BASELINE_KEY: &str = "d365mcp:metrics:v1:stats-baseline";

/// A baseline is kept for 30 days; after that the statistics count from
/// each node's start again.
const BASELINE_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The families the statistics read (and the baseline keeps).
const FAMILIES: [&str; 8] = [
    "d365mcp_tool_calls_total",
    "d365mcp_tool_call_duration_seconds",
    "d365mcp_upstream_requests_total",
    "d365mcp_upstream_throttled_total",
    "d365mcp_upstream_retries_total",
    "d365mcp_upstream_outcome_unknown_total",
    "d365mcp_cache_requests_total",
    "d365mcp_cache_fills_total",
];

/// The percentiles reported, as upper bounds of histogram buckets.
const PERCENTILES: [(&str, f64); 3] = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)];

#[derive(Debug, Default, Serialize, Deserialize)]
struct Baseline {
    at_unix_s: u64,
    nodes: BTreeMap<String, Snapshot>,
}

/// The families of the nodes `scope` covers, each with only [`FAMILIES`]:
/// (node id, snapshot) pairs, this process first and live.
async fn nodes(ctx: &Context<'_>, scope: Scope) -> Vec<Snapshot> {
    let own = keep(Snapshot::take(metrics::node_id(), metrics::role()));
    let mut nodes = vec![own];
    if scope == Scope::Cluster {
        // An unreachable store leaves this node's own numbers; the count of
        // nodes in the answer says so.
        if let Ok(view) = publish::cluster(ctx.store.as_ref()).await {
            nodes.extend(
                view.nodes
                    .into_iter()
                    .filter(|n| n.node != metrics::node_id())
                    .map(keep),
            );
        }
    }
    nodes
}

fn keep(mut snapshot: Snapshot) -> Snapshot {
    snapshot
        .families
        .retain(|f| FAMILIES.contains(&f.name.as_str()));
    snapshot
}

async fn baseline(ctx: &Context<'_>) -> Baseline {
    match ctx.store.get(BASELINE_KEY).await {
        Ok(Some(raw)) => serde_json::from_slice(&raw).unwrap_or_default(),
        _ => Baseline::default(),
    }
}

/// The statistics `scope` covers, as `(nodes counted, reset time, calls,
/// upstream, cache)`.
pub async fn read(ctx: &Context<'_>, scope: Scope) -> (usize, Option<u64>, Value, Value, Value) {
    let nodes = nodes(ctx, scope).await;
    let baseline = baseline(ctx).await;
    let count = nodes.len();
    let since: Vec<Snapshot> = nodes
        .iter()
        .map(|n| match baseline.nodes.get(&n.node) {
            Some(before) => n.since(before),
            None => n.clone(),
        })
        .collect();
    let total = Snapshot::sum(&since);
    let sees = Visibility::of(ctx);
    let reset = (baseline.at_unix_s > 0).then_some(baseline.at_unix_s);
    (
        count,
        reset,
        calls(&total, &sees),
        upstream(&total, &sees),
        cache(&total),
    )
}

/// Stores every live node's families as the new baseline; the number of
/// nodes it covers.
pub async fn reset(ctx: &Context<'_>) -> Result<usize, WorkerError> {
    let nodes = nodes(ctx, Scope::Cluster).await;
    let count = nodes.len();
    let baseline = Baseline {
        at_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        nodes: nodes.into_iter().map(|n| (n.node.clone(), n)).collect(),
    };
    let raw = serde_json::to_vec(&baseline)
        .map_err(|e| WorkerError::Internal(format!("statistics baseline: {e}")))?;
    ctx.store
        .set(BASELINE_KEY, Bytes::from(raw), Some(BASELINE_TTL))
        .await
        .map_err(|e| WorkerError::Unavailable(format!("statistics not reset: {e}")))?;
    Ok(count)
}

/// Which tenants and environments the caller may see broken down.
struct Visibility<'a> {
    ctx: &'a Context<'a>,
    operator: bool,
}

impl<'a> Visibility<'a> {
    fn of(ctx: &'a Context<'a>) -> Self {
        let policy = &ctx.node.config.policy;
        Self {
            ctx,
            operator: policy.is_operator(ctx.subject, ctx.tenant),
        }
    }

    fn tenant(&self, tenant: &str) -> bool {
        self.operator || tenant == self.ctx.tenant
    }

    fn environment(&self, environment: &str) -> bool {
        self.operator
            || self.ctx.node.config.policy.may_follow(
                self.ctx.subject,
                self.ctx.tenant,
                Some(environment),
            )
    }
}

#[derive(Default)]
struct Tally {
    calls: f64,
    errors: BTreeMap<String, f64>,
    sum_s: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl Tally {
    fn add_call(&mut self, n: f64, error: &str) {
        self.calls += n;
        if !error.is_empty() {
            *self.errors.entry(error.to_owned()).or_default() += n;
        }
    }

    fn add_latency(&mut self, sum_s: f64, count: u64, buckets: &[(f64, u64)]) {
        self.sum_s += sum_s;
        self.count += count;
        for (bound, n) in buckets {
            match self.buckets.iter_mut().find(|(b, _)| b == bound) {
                Some((_, total)) => *total += n,
                None => self.buckets.push((*bound, *n)),
            }
        }
        self.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }

    fn describe(&self) -> Value {
        let errors: f64 = self.errors.values().sum();
        let mut latency = Map::new();
        if self.count > 0 {
            latency.insert(
                "mean_ms".into(),
                json!(round(self.sum_s * 1000.0 / self.count as f64)),
            );
            for (name, quantile) in PERCENTILES {
                latency.insert(
                    format!("{name}_ms_at_most"),
                    percentile(&self.buckets, self.count, quantile)
                        .map_or(Value::Null, |s| json!(round(s * 1000.0))),
                );
            }
        }
        let errors_by_code: Map<String, Value> = self
            .errors
            .iter()
            .map(|(code, n)| (code.clone(), json!(*n as u64)))
            .collect();
        let mut out = json!({
            "calls": self.calls as u64,
            "errors": errors as u64,
            "errors_by_code": errors_by_code,
        });
        if !latency.is_empty() {
            out["latency"] = Value::Object(latency);
        }
        out
    }
}

/// The bucket bound (seconds) below which `quantile` of `count` fall;
/// `None` when it lies beyond the last bound.
fn percentile(buckets: &[(f64, u64)], count: u64, quantile: f64) -> Option<f64> {
    let rank = ((count as f64) * quantile).ceil().max(1.0) as u64;
    buckets.iter().find(|(_, n)| *n >= rank).map(|(b, _)| *b)
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn series<'a>(
    total: &'a Snapshot,
    name: &str,
) -> impl Iterator<Item = &'a common::metrics::snapshot::Series> {
    total
        .family(name)
        .map(|f: &Family| f.series.as_slice())
        .unwrap_or_default()
        .iter()
}

fn label<'a>(s: &'a common::metrics::snapshot::Series, name: &str) -> &'a str {
    s.labels.get(name).map_or("", String::as_str)
}

fn calls(total: &Snapshot, sees: &Visibility<'_>) -> Value {
    let mut all = Tally::default();
    let mut tools: BTreeMap<String, Tally> = BTreeMap::new();
    let mut environments: BTreeMap<String, Tally> = BTreeMap::new();
    let mut tenants: BTreeMap<String, Tally> = BTreeMap::new();
    for s in series(total, "d365mcp_tool_calls_total") {
        let (tool, env, tenant, error) = (
            label(s, "tool"),
            label(s, "environment"),
            label(s, "tenant"),
            label(s, "error_type"),
        );
        all.add_call(s.value, error);
        tools
            .entry(tool.to_owned())
            .or_default()
            .add_call(s.value, error);
        if sees.environment(env) {
            environments
                .entry(env.to_owned())
                .or_default()
                .add_call(s.value, error);
        }
        if sees.tenant(tenant) {
            tenants
                .entry(tenant.to_owned())
                .or_default()
                .add_call(s.value, error);
        }
    }
    for s in series(total, "d365mcp_tool_call_duration_seconds") {
        let (tool, env) = (label(s, "tool"), label(s, "environment"));
        all.add_latency(s.value, s.count, &s.buckets);
        tools
            .entry(tool.to_owned())
            .or_default()
            .add_latency(s.value, s.count, &s.buckets);
        if sees.environment(env) {
            environments
                .entry(env.to_owned())
                .or_default()
                .add_latency(s.value, s.count, &s.buckets);
        }
    }
    let describe = |m: BTreeMap<String, Tally>| -> Map<String, Value> {
        m.into_iter()
            .filter(|(_, t)| t.calls > 0.0)
            .map(|(k, t)| (k, t.describe()))
            .collect()
    };
    json!({
        "total": all.describe(),
        "tools": describe(tools),
        "environments": describe(environments),
        "tenants": describe(tenants),
    })
}

/// D365FO requests of one environment.
#[derive(Default, Serialize)]
struct Upstream {
    requests_by_status: BTreeMap<String, u64>,
    throttled: u64,
    retries_by_reason: BTreeMap<String, u64>,
    outcome_unknown: u64,
}

fn upstream(total: &Snapshot, sees: &Visibility<'_>) -> Value {
    let mut out: BTreeMap<String, Upstream> = BTreeMap::new();
    let mut visit = |name: &str, add: &dyn Fn(&mut Upstream, &str, u64), key: &str| {
        for s in series(total, name) {
            let env = label(s, "environment");
            if s.value > 0.0 && sees.environment(env) {
                add(
                    out.entry(env.to_owned()).or_default(),
                    label(s, key),
                    s.value as u64,
                );
            }
        }
    };
    visit(
        "d365mcp_upstream_requests_total",
        &|u, status, n| *u.requests_by_status.entry(status.to_owned()).or_default() += n,
        "status",
    );
    visit(
        "d365mcp_upstream_throttled_total",
        &|u, _, n| u.throttled += n,
        "",
    );
    visit(
        "d365mcp_upstream_retries_total",
        &|u, reason, n| *u.retries_by_reason.entry(reason.to_owned()).or_default() += n,
        "reason",
    );
    visit(
        "d365mcp_upstream_outcome_unknown_total",
        &|u, _, n| u.outcome_unknown += n,
        "",
    );
    json!(out)
}

fn cache(total: &Snapshot) -> Value {
    // kind → `l1_hits`, `l2_misses`, …, `fills` → count.
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for s in series(total, "d365mcp_cache_requests_total") {
        let field = format!("{}_{}s", label(s, "layer"), label(s, "result"));
        *out.entry(label(s, "kind").to_owned())
            .or_default()
            .entry(field)
            .or_default() += s.value as u64;
    }
    for s in series(total, "d365mcp_cache_fills_total") {
        *out.entry(label(s, "kind").to_owned())
            .or_default()
            .entry("fills".to_owned())
            .or_default() += s.value as u64;
    }
    json!(out)
}
