//! Reading `deploy/`: the rule files, the dashboard and the PromQL in them,
//! and the families `common::metrics` defines.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    time::Duration,
};

use serde_json::Value;

use super::support::{self, metrics::family_of};

pub(crate) const DASHBOARD: &str = "deploy/grafana/d365mcp.json";
pub(crate) const PROMETHEUS_DIR: &str = "deploy/prometheus";
pub(crate) const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";
pub(crate) const FAMILIES: &str = "common/src/metrics/register.rs";

pub(crate) fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// Every `.yml` under `deploy/prometheus` but the scrape configuration.
pub(crate) fn rule_files() -> Vec<String> {
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
pub(crate) async fn promtool(what: &str, args: &[&str], context: &str) -> String {
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
pub(crate) struct Rule {
    pub(crate) file: String,
    /// `alert` or `record`.
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) expr: String,
    /// The rule's own lines, `for:`, labels and annotations among them.
    pub(crate) body: String,
}

/// The rules of a rule file, read line by line (the files are ours, written
/// in one shape): each starts at its `- alert:` or `- record:` item, and its
/// `expr` is a plain scalar on the same line or a block scalar (`|`, `>`)
/// below it.
pub(crate) fn rules_of(file: &str, text: &str) -> Vec<Rule> {
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

pub(crate) fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

pub(crate) fn all_rules() -> Vec<Rule> {
    rule_files()
        .iter()
        .flat_map(|file| rules_of(file, &read(file)))
        .collect()
}

// ------------------------------------------------------------ the dashboard

pub(crate) fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD))
        .unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"))
}

/// Every panel, rows' nested panels included.
pub(crate) fn panels(dashboard: &Value) -> Vec<&Value> {
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
pub(crate) fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
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
pub(crate) fn substituted(expr: &str) -> String {
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
pub(crate) fn variables_used(expr: &str) -> BTreeSet<String> {
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
pub(crate) fn series_words(expr: &str) -> Vec<String> {
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

pub(crate) fn skip_string(chars: &[char], start: usize) -> usize {
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
pub(crate) fn metric_names(expr: &str) -> BTreeSet<String> {
    series_words(expr)
        .into_iter()
        .filter(|w| (w.starts_with("mcp_") || w.starts_with("d365mcp_")) && !w.contains(':'))
        .map(|w| family_of(&w).to_owned())
        .collect()
}

/// The recorded series (`level:metric:operation`) an expression reads.
pub(crate) fn recorded_names(expr: &str) -> BTreeSet<String> {
    series_words(expr)
        .into_iter()
        .filter(|w| w.contains(':'))
        .collect()
}

/// Every family the dashboard and the rules name, with where each is used.
pub(crate) fn named_families() -> BTreeMap<String, Vec<String>> {
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

/// The families `common/src/metrics/register.rs` defines: the first
/// argument of each `opts("…"` and `histogram("…"` there.
pub(crate) fn defined_families() -> BTreeSet<String> {
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
