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
    path::{Path, PathBuf},
    time::Duration,
};

use serde_json::{Value, json};
use support::{
    Cluster,
    mcp::{self, Era},
    metrics::{self, family_of},
    redis::RedisServer,
};

const DASHBOARD: &str = "deploy/grafana/d365mcp.json";
const PROMETHEUS_DIR: &str = "deploy/prometheus";
const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";
const FAMILIES: &str = "common/src/metrics/families.rs";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// Every `.yml` under `deploy/prometheus` but the scrape configuration.
fn rule_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join(PROMETHEUS_DIR))
        .expect("deploy/prometheus")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .map(|path| {
            format!(
                "{PROMETHEUS_DIR}/{}",
                path.file_name().unwrap().to_string_lossy()
            )
        })
        .filter(|path| path != PROMETHEUS_CONFIG)
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no rule files in {PROMETHEUS_DIR}");
    files
}

/// promtool's output; a failure shows it, then `context`.
async fn promtool(what: &str, args: &[&str], context: &str) -> String {
    let output = support::run_bounded(what, "promtool", args, Duration::from_secs(60)).await;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{what} failed:\n{said}{context}");
    said
}

// ---------------------------------------------------------------- the rules

/// One alerting or recording rule as the file writes it.
#[derive(Debug)]
struct Rule {
    file: String,
    /// `alert` or `record`.
    kind: &'static str,
    name: String,
    expr: String,
    /// The rule's own lines, `for:`, labels and annotations among them.
    body: String,
}

/// The rules of a rule file, read line by line (the files are ours, written
/// in one shape): each starts at its `- alert:` or `- record:` item, and its
/// `expr` is a plain scalar on the same line or a block scalar (`|`, `>`)
/// below it.
fn rules_of(file: &str, text: &str) -> Vec<Rule> {
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            let t = lines[i].trim_start();
            t.starts_with("- alert:") || t.starts_with("- record:")
        })
        .collect();
    let mut rules = Vec::new();
    for start in starts {
        // A rule ends where a line is indented no deeper than its `- `.
        let item_indent = indent(lines[start]);
        let end = (start + 1..lines.len())
            .find(|&i| !lines[i].trim().is_empty() && indent(lines[i]) <= item_indent)
            .unwrap_or(lines.len());
        let own = &lines[start..end];
        let head = own[0].trim_start().trim_start_matches("- ");
        let (kind, name) = head.split_once(':').unwrap();
        let kind = if kind == "alert" { "alert" } else { "record" };
        let expr_at = own
            .iter()
            .position(|l| l.trim_start().starts_with("expr:"))
            .unwrap_or_else(|| panic!("{file}: {name} has no expr"));
        let inline = own[expr_at].trim_start()["expr:".len()..].trim();
        let expr = if inline.starts_with('|') || inline.starts_with('>') {
            let expr_indent = indent(own[expr_at]);
            own[expr_at + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || indent(l) > expr_indent)
                .map(|l| l.trim())
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            inline.trim_matches(['"', '\'']).to_owned()
        };
        rules.push(Rule {
            file: file.to_owned(),
            kind,
            name: name.trim().trim_matches(['"', '\'']).to_owned(),
            expr,
            body: own.join("\n"),
        });
    }
    rules
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn all_rules() -> Vec<Rule> {
    rule_files()
        .iter()
        .flat_map(|file| rules_of(file, &read(file)))
        .collect()
}

// ------------------------------------------------------------ the dashboard

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD))
        .unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"))
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        out.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

/// `(where, query)` for every panel target and every query variable.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                let title = panel["title"].as_str().unwrap_or_default();
                let ref_id = target["refId"].as_str().unwrap_or_default();
                out.push((format!("panel \"{title}\" ({ref_id})"), expr.to_owned()));
            }
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if variable["type"] != "query" {
            continue;
        }
        let query = variable["query"]["query"]
            .as_str()
            .or_else(|| variable["query"].as_str())
            .unwrap_or_default();
        let name = variable["name"].as_str().unwrap_or_default();
        out.push((format!("variable ${name}"), query.to_owned()));
    }
    out
}

/// A dashboard query as Prometheus would receive it: Grafana's interval
/// variables become `5m`, every other variable `.*` (All).
fn substituted(expr: &str) -> String {
    let mut out = expr
        .replace("$__rate_interval", "5m")
        .replace("$__interval", "5m")
        .replace("$__range", "5m");
    while let Some(at) = out.find('$') {
        let rest = &out[at + 1..];
        let len = if rest.starts_with('{') {
            rest.find('}').map_or(rest.len(), |i| i + 1)
        } else {
            rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len())
        };
        out.replace_range(at..at + 1 + len, ".*");
    }
    out
}

/// The variables (`$name`, `${name}`) a query uses, Grafana's own
/// (`$__…`) left out.
fn variables_used(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in expr.match_indices('$') {
        let rest = expr[at + 1..].trim_start_matches('{');
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !name.starts_with("__") {
            out.insert(name);
        }
    }
    out
}

// ------------------------------------------------------------ metric names

/// The words of a PromQL expression that name series, in order: every
/// identifier outside strings, label matchers (`{…}`), ranges (`[…]`),
/// grouping clauses (`by (…)`, `on (…)`, …) and Grafana variables.
/// Function names and keywords come along; callers keep the names they
/// recognise.
fn series_words(expr: &str) -> Vec<String> {
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    // Skips from an opening character to just past its closing one,
    // strings inside included.
    let skip_to = |mut i: usize, close: char| -> usize {
        while i < chars.len() && chars[i] != close {
            if matches!(chars[i], '"' | '\'' | '`') {
                i = skip_string(&chars, i);
            } else {
                i += 1;
            }
        }
        i + 1
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_to(i + 1, '}'),
            '[' => i = skip_to(i + 1, ']'),
            '#' => i = skip_to(i + 1, '\n'),
            '$' => {
                i += 1;
                if chars.get(i) == Some(&'{') {
                    i = skip_to(i + 1, '}');
                } else {
                    while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // A number or a duration (`5m`, `1e3`): none names a series.
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if GROUPING.contains(&word.as_str()) {
                    let mut j = i;
                    while j < chars.len() && chars[j].is_whitespace() {
                        j += 1;
                    }
                    if chars.get(j) == Some(&'(') {
                        i = skip_to(j + 1, ')');
                    }
                } else {
                    words.push(word);
                }
            }
            _ => i += 1,
        }
    }
    words
}

fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        i += if chars[i] == '\\' && quote != '`' {
            2
        } else {
            1
        };
    }
    i + 1
}

/// The metric families an expression reads: our own names (`mcp_…`,
/// `d365mcp_…`), a histogram's sample suffix removed. Recorded series
/// (with a `:`) are not families.
fn metric_names(expr: &str) -> BTreeSet<String> {
    series_words(expr)
        .into_iter()
        .filter(|w| (w.starts_with("mcp_") || w.starts_with("d365mcp_")) && !w.contains(':'))
        .map(|w| family_of(&w).to_owned())
        .collect()
}

/// The recorded series (`level:metric:operation`) an expression reads.
fn recorded_names(expr: &str) -> BTreeSet<String> {
    series_words(expr)
        .into_iter()
        .filter(|w| w.contains(':'))
        .collect()
}

/// Every family the dashboard and the rules name, with where each is used.
fn named_families() -> BTreeMap<String, Vec<String>> {
    let mut named: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (place, query) in dashboard_queries(&dashboard()) {
        for name in metric_names(&query) {
            named
                .entry(name)
                .or_default()
                .push(format!("{DASHBOARD} {place}"));
        }
    }
    for rule in all_rules() {
        for name in metric_names(&rule.expr) {
            named
                .entry(name)
                .or_default()
                .push(format!("{} {} {}", rule.file, rule.kind, rule.name));
        }
    }
    named
}

/// The families `common/src/metrics/families.rs` defines: the first
/// argument of each `opts("…"` and `histogram("…"` there.
fn defined_families() -> BTreeSet<String> {
    let source = read(FAMILIES);
    let mut defined = BTreeSet::new();
    for opener in ["opts(", "histogram("] {
        for (at, _) in source.match_indices(opener) {
            let rest = source[at + opener.len()..].trim_start();
            if let Some(literal) = rest.strip_prefix('"') {
                defined.insert(literal[..literal.find('"').unwrap()].to_owned());
            }
        }
    }
    defined
}

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
fn every_metric_named_is_defined_in_families_rs() {
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
                "defined in common/src/metrics/families.rs, but no node exported a series"
            } else {
                "not defined in common/src/metrics/families.rs"
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
