//! The dashboard and alerts in `deploy/` checked against the code:
//! `promtool` accepts the rule files and the example configuration, the
//! Grafana dashboard is importable JSON whose every panel runs a query that
//! parses, every alert carries a `for:`, a severity and a runbook that
//! exists, and every metric the dashboard and the rules name is exported by a
//! running edge or worker. Never skipped: without `promtool` the test fails
//! and says how to install it.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::Duration,
};

use serde_json::json;
use support::{
    Cluster,
    mcp::{self, Era},
    metrics,
    redis::RedisServer,
};

#[path = "observability_files/read.rs"]
mod read;

use read::*;

// ------------------------------------------------------------------- tests

#[test]
fn metric_names_are_read_from_promql_and_not_from_labels_strings_or_variables() {
    let expr = r#"histogram_quantile(0.99, sum by (mcp_method_name, le) (rate(mcp_server_operation_duration_seconds_bucket{mcp_protocol_version=~"$v", error_type!="d365mcp_x"}[$__rate_interval])))
        / on (job) group_left (gen_ai_tool_name) sum(d365mcp_store_up{job=~"${job}"}) # d365mcp_comment
        + job:d365mcp_recorded:rate5m offset 5m"#;
    assert_eq!(
        metric_names(expr),
        BTreeSet::from([
            "mcp_server_operation_duration_seconds".to_owned(),
            "d365mcp_store_up".to_owned(),
        ])
    );
    assert_eq!(
        recorded_names(expr),
        BTreeSet::from(["job:d365mcp_recorded:rate5m".to_owned()])
    );
    assert_eq!(
        metric_names(r#"label_values(d365mcp_build_info{region=~"$region"}, job)"#),
        BTreeSet::from(["d365mcp_build_info".to_owned()])
    );
    assert_eq!(
        substituted(r#"rate(x{job=~"$job", r=~"${region}"}[$__rate_interval])"#),
        r#"rate(x{job=~".*", r=~".*"}[5m])"#
    );
}

#[test]
fn the_dashboard_is_importable_json_and_every_panel_queries_prometheus() {
    let dashboard = dashboard();
    for key in ["uid", "title"] {
        assert!(
            dashboard[key].as_str().is_some_and(|s| !s.is_empty()),
            "{DASHBOARD}: no {key}"
        );
    }
    assert!(
        dashboard["schemaVersion"].is_u64(),
        "{DASHBOARD}: schemaVersion"
    );
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list");
    let datasource = variables
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a ${datasource} variable");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let defined: BTreeSet<String> = variables
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();

    let panels = panels(&dashboard);
    assert!(panels.len() > 1, "{DASHBOARD}: no panels");
    let mut ids = BTreeSet::new();
    for panel in &panels {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel without a title: {panel}");
        assert!(
            ids.insert(panel["id"].as_u64().expect("a numeric id")),
            "{title}: id repeated"
        );
        let grid = &panel["gridPos"];
        for key in ["h", "w", "x", "y"] {
            assert!(grid[key].is_u64(), "{title}: gridPos.{key}");
        }
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{title}: wider than the grid"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"],
            json!({"type": "prometheus", "uid": "${datasource}"}),
            "{title}: the panel's data source"
        );
        let targets = panel["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert!(!targets.is_empty(), "{title}: no target");
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(!expr.trim().is_empty(), "{title}: a target without expr");
            assert!(
                target["refId"].is_string(),
                "{title}: a target without refId"
            );
            for variable in variables_used(expr) {
                assert!(
                    defined.contains(&variable),
                    "{title}: ${variable} is not a variable"
                );
            }
        }
    }
}

#[test]
fn every_alert_has_a_for_a_severity_and_a_runbook_that_exists() {
    let rules = all_rules();
    let alerts: Vec<&Rule> = rules.iter().filter(|r| r.kind == "alert").collect();
    assert!(!alerts.is_empty(), "no alerts in {PROMETHEUS_DIR}");
    let recorded: BTreeSet<&str> = rules
        .iter()
        .filter(|r| r.kind == "record")
        .map(|r| r.name.as_str())
        .collect();
    for rule in &rules {
        for name in recorded_names(&rule.expr) {
            assert!(
                recorded.contains(name.as_str()),
                "{} {}: reads {name}, which no recording rule records",
                rule.file,
                rule.name
            );
        }
    }
    for alert in alerts {
        let field = |key: &str| {
            alert
                .body
                .lines()
                .find_map(|l| l.trim_start().strip_prefix(key))
                .map(|v| v.trim().trim_matches('"').to_owned())
                .unwrap_or_else(|| panic!("{} {}: no {key}", alert.file, alert.name))
        };
        field("for:");
        assert!(
            ["critical", "warning", "info"].contains(&field("severity:").as_str()),
            "{}: severity",
            alert.name
        );
        field("summary:");
        field("description:");
        let runbook = field("runbook:");
        let (path, anchor) = runbook.split_once('#').unwrap_or((&runbook, ""));
        let doc = read(path);
        let slugs: BTreeSet<String> = doc
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .map(|heading| {
                heading
                    .trim_start_matches('#')
                    .trim()
                    .to_lowercase()
                    .chars()
                    .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                    .map(|c| if c == ' ' { '-' } else { c })
                    .collect()
            })
            .collect();
        assert!(
            anchor.is_empty() || slugs.contains(anchor),
            "{}: its runbook {runbook} names no heading of {path}",
            alert.name
        );
    }
}

#[test]
fn every_metric_named_is_defined_in_common_metrics() {
    let defined = defined_families();
    assert!(
        defined.contains("d365mcp_build_info"),
        "{FAMILIES} read wrongly: {defined:?}"
    );
    let undefined: Vec<String> = named_families()
        .into_iter()
        .filter(|(name, _)| !defined.contains(name))
        .map(|(name, places)| format!("{name} (used by {})", places.join(", ")))
        .collect();
    assert!(
        undefined.is_empty(),
        "named in deploy/ but not defined in {FAMILIES}:\n  {}",
        undefined.join("\n  ")
    );
}

#[tokio::test]
async fn promtool_accepts_the_rules_the_config_and_the_dashboards_queries() {
    let files = rule_files();
    let mut args = vec!["check", "rules"];
    args.extend(files.iter().map(String::as_str));
    promtool("promtool check rules", &args, "").await;
    promtool(
        "promtool check config",
        &["check", "config", PROMETHEUS_CONFIG],
        "",
    )
    .await;

    // The dashboard's queries, variables replaced, as recording rules: if
    // promtool accepts the file, each query parses.
    let mut checked = String::from("groups:\n  - name: dashboard-queries\n    rules:\n");
    let queries = dashboard_queries(&dashboard());
    let mut n = 0;
    let mut legend = String::from("\nwhere the rules come from:");
    for (place, query) in queries
        .iter()
        .filter(|(place, _)| place.starts_with("panel"))
    {
        n += 1;
        legend.push_str(&format!("\n  dashboard:query_{n}:check = {place}"));
        let expr = serde_json::to_string(&substituted(query)).unwrap();
        checked.push_str(&format!(
            "      - record: dashboard:query_{n}:check\n        expr: {expr}\n"
        ));
    }
    let path: PathBuf = std::env::temp_dir().join(format!(
        "d365mcp-dashboard-queries-{}.yml",
        std::process::id()
    ));
    std::fs::write(&path, &checked).unwrap();
    let said = promtool(
        "promtool check rules (the dashboard's queries)",
        &["check", "rules", path.to_str().unwrap()],
        &legend,
    )
    .await;
    let _ = std::fs::remove_file(&path);
    assert!(said.contains(&format!("{n} rules found")), "{said}");
}

/// Each family the dashboard and the rules name shows in a scrape of a
/// running node: two edges (their `/metrics` on the MCP listener) and two
/// workers (their metrics listeners), on Redis and the simulator, after a
/// tools/list and a read in each protocol era.
#[tokio::test]
async fn every_metric_the_dashboard_and_the_rules_name_is_exported_by_a_running_node() {
    let named = named_families();
    let redis = RedisServer::start();
    let cluster = Cluster::builder()
        .edges(2)
        .workers(2)
        .worker_arg("--redis-url")
        .worker_arg(&redis.url())
        .worker_arg("--metrics-listen")
        .worker_arg("127.0.0.1:0")
        .edge_arg("--redis-url")
        .edge_arg(&redis.url())
        .start()
        .await;

    for (i, era) in Era::ALL.into_iter().enumerate() {
        let client = mcp::connect(&cluster.mcp_url(i % cluster.edges.len()), era).await;
        client.list_all_tools().await.expect("tools/list");
        mcp::call_ok(
            &client,
            "d365fo_query_entities",
            json!({"entity_set": "CustomersV3", "top": 2, "select": ["CustomerAccount"]}),
        )
        .await;
        client.cancel().await.ok();
    }

    let mut nodes = Vec::new();
    for edge in &cluster.edges {
        nodes.push(format!("{}/metrics", edge.url()));
    }
    for worker in &cluster.workers {
        nodes.push(worker.metrics_url().await);
    }
    let mut exported: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for url in &nodes {
        let text = support::wait_until(url, Duration::from_secs(10), || metrics::scrape(url)).await;
        for family in metrics::families(&text) {
            exported.entry(family).or_default().push(url.clone());
        }
    }

    let defined = defined_families();
    let missing: Vec<String> = named
        .iter()
        .filter(|(name, _)| !exported.contains_key(*name))
        .map(|(name, places)| {
            let state = if defined.contains(name) {
                "defined in common/src/metrics/register.rs, but no node exported a series"
            } else {
                "not defined in common/src/metrics/register.rs"
            };
            format!("{name}: {state}; used by {}", places.join(", "))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} of the {} families that deploy/ names are not exported by {}:\n  {}",
        missing.len(),
        named.len(),
        nodes.join(", "),
        missing.join("\n  ")
    );
}
