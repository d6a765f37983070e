use std::collections::BTreeMap;

use super::{
    get,
    snapshot::{Family, Kind, Series, Snapshot},
};

fn counter(name: &str, series: &[(&str, f64)]) -> Family {
    Family {
        name: name.into(),
        help: "h".into(),
        kind: Kind::Counter,
        series: series
            .iter()
            .map(|(tool, v)| Series {
                labels: BTreeMap::from([("tool".to_owned(), (*tool).to_owned())]),
                value: *v,
                count: 0,
                buckets: Vec::new(),
            })
            .collect(),
    }
}

fn histogram(name: &str, buckets: &[(f64, u64)], count: u64, sum: f64) -> Family {
    Family {
        name: name.into(),
        help: "h".into(),
        kind: Kind::Histogram,
        series: vec![Series {
            labels: BTreeMap::new(),
            value: sum,
            count,
            buckets: buckets.to_vec(),
        }],
    }
}

fn node(families: Vec<Family>) -> Snapshot {
    Snapshot {
        node: "n".into(),
        role: "edge".into(),
        at_ms: 1,
        families,
    }
}

#[test]
fn every_family_is_defined_without_a_clash() {
    // Building the families panics on a duplicate or invalid name.
    let families = get();
    families
        .tools
        .calls
        .with_label_values(&["t", "tenant", "env", ""])
        .inc();
    assert!(
        Snapshot::take("n", "test")
            .family("d365mcp_tool_calls_total")
            .is_some()
    );
}

#[test]
fn the_sum_of_nodes_adds_series_with_the_same_labels() {
    let a = node(vec![
        counter("c_total", &[("x", 1.0), ("y", 2.0)]),
        histogram("h_seconds", &[(0.1, 1), (1.0, 2)], 3, 1.5),
    ]);
    let b = node(vec![
        counter("c_total", &[("y", 5.0), ("z", 1.0)]),
        histogram("h_seconds", &[(0.1, 0), (1.0, 4)], 4, 2.0),
    ]);
    let sum = Snapshot::sum([&a, &b]);
    let c = sum.family("c_total").unwrap();
    let values: Vec<f64> = c.series.iter().map(|s| s.value).collect();
    assert_eq!(values, [1.0, 7.0, 1.0]);
    let h = &sum.family("h_seconds").unwrap().series[0];
    assert_eq!((h.count, h.value), (7, 3.5));
    assert_eq!(h.buckets, [(0.1, 1), (1.0, 6)]);
}

#[test]
fn since_a_baseline_counts_only_what_came_after() {
    let before = node(vec![counter("c_total", &[("x", 3.0)])]);
    let now = node(vec![counter("c_total", &[("x", 5.0), ("y", 2.0)])]);
    let since = now.since(&before);
    let values: Vec<f64> = since
        .family("c_total")
        .unwrap()
        .series
        .iter()
        .map(|s| s.value)
        .collect();
    assert_eq!(values, [2.0, 2.0]);
    // A restarted node (lower than its baseline) never goes negative.
    let since = before.since(&now);
    assert_eq!(since.family("c_total").unwrap().series[0].value, 0.0);
}

#[test]
fn the_text_format_matches_the_prometheus_crates_encoder() {
    use prometheus::{Encoder, TextEncoder};
    let families = get();
    families
        .mcp
        .operation_duration
        .with_label_values(&["tools/call", "d365fo_query_entities", "", "2026-07-28"])
        .observe(0.03);
    families
        .edge
        .refused
        .with_label_values(&["a\"b\\c\nd"])
        .inc();
    // Both views of one registry, taken back to back: equal line for line
    // (for the two families only this test writes: other tests run beside it).
    let mine = |l: &&str| l.contains("mcp_server_operation") || l.contains("requests_refused");
    let gathered = families.registry.gather();
    let ours = Snapshot::take("", "test").render();
    let mut theirs = Vec::new();
    TextEncoder::new().encode(&gathered, &mut theirs).unwrap();
    let theirs = String::from_utf8(theirs).unwrap();
    let ours_lines: Vec<&str> = ours.lines().filter(mine).collect();
    let theirs_lines: Vec<&str> = theirs.lines().filter(mine).collect();
    assert!(ours_lines.len() > 20, "{ours}");
    assert_eq!(ours_lines, theirs_lines);
}

#[test]
fn a_snapshot_survives_its_json_form() {
    let a = node(vec![
        counter("c_total", &[("x", 1.0)]),
        histogram("h_seconds", &[(0.1, 1)], 1, 0.05),
    ]);
    let json = serde_json::to_vec(&a).unwrap();
    assert_eq!(serde_json::from_slice::<Snapshot>(&json).unwrap(), a);
}
