//! Metric families as plain data: taken from this process's registry,
//! serialized into the shared store, summed over nodes and written in the
//! Prometheus text format (version 0.0.4).

use std::{collections::BTreeMap, fmt::Write as _};

use prometheus::proto::{MetricFamily, MetricType};
use serde::{Deserialize, Serialize};

/// What a family measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Only goes up (until the process restarts).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in cumulative buckets, with their sum and count.
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One labelled series of a family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Label names and values, sorted by name.
    pub labels: BTreeMap<String, String>,
    /// A counter's or gauge's value; a histogram's sum.
    pub value: f64,
    /// A histogram's observation count.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub count: u64,
    /// A histogram's cumulative buckets (upper bound, count), without `+Inf`
    /// (which is `count`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<(f64, u64)>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One metric family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Family {
    /// The family's name.
    pub name: String,
    /// Its help text.
    pub help: String,
    /// What it measures.
    pub kind: Kind,
    /// Its series, sorted by labels.
    pub series: Vec<Series>,
}

/// A node's (or the cluster's) metric families at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The node that took it; empty for an aggregate.
    #[serde(default)]
    pub node: String,
    /// Its role (`edge`, `worker`, `dev`).
    #[serde(default)]
    pub role: String,
    /// Milliseconds since the Unix epoch when it was taken.
    #[serde(default)]
    pub at_ms: u64,
    /// Families sorted by name.
    pub families: Vec<Family>,
}

impl Snapshot {
    /// This process's families now.
    pub fn take(node: &str, role: &str) -> Self {
        let mut families: Vec<Family> = super::get()
            .registry
            .gather()
            .iter()
            .filter_map(convert)
            .collect();
        families.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            node: node.to_owned(),
            role: role.to_owned(),
            at_ms: now_ms(),
            families,
        }
    }

    /// The family named `name`.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The sum of `snapshots`: series with the same name and labels add up
    /// (counters, gauges, and histograms bucket by bucket). A family whose
    /// kind differs between nodes (different versions) keeps the first
    /// node's kind and adds only series of that kind.
    pub fn sum<'a>(snapshots: impl IntoIterator<Item = &'a Snapshot>) -> Self {
        let mut families: BTreeMap<String, (Family, BTreeMap<LabelKey, Series>)> = BTreeMap::new();
        let mut at_ms = 0;
        for snapshot in snapshots {
            at_ms = at_ms.max(snapshot.at_ms);
            for family in &snapshot.families {
                let (first, series) = families.entry(family.name.clone()).or_insert_with(|| {
                    let empty = Family {
                        series: Vec::new(),
                        ..family.clone()
                    };
                    (empty, BTreeMap::new())
                });
                if first.kind != family.kind {
                    continue;
                }
                for s in &family.series {
                    let key: Vec<(String, String)> = s
                        .labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    match series.get_mut(&key) {
                        Some(total) => add(total, s),
                        None => {
                            series.insert(key, s.clone());
                        }
                    }
                }
            }
        }
        Self {
            node: String::new(),
            role: "cluster".into(),
            at_ms,
            families: families
                .into_values()
                .map(|(mut family, series)| {
                    family.series = series.into_values().collect();
                    family
                })
                .collect(),
        }
    }

    /// These families less `baseline`'s, series by series, never below zero
    /// (what was counted since the baseline was taken). Gauges are kept as
    /// they are.
    pub fn since(&self, baseline: &Snapshot) -> Self {
        let mut out = self.clone();
        for family in &mut out.families {
            if family.kind == Kind::Gauge {
                continue;
            }
            let Some(before) = baseline.family(&family.name) else {
                continue;
            };
            for s in &mut family.series {
                if let Some(b) = before.series.iter().find(|b| b.labels == s.labels) {
                    subtract(s, b);
                }
            }
        }
        out
    }

    /// The families in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.families.len() * 256);
        for family in &self.families {
            if family.series.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(&family.help));
            let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.name());
            for s in &family.series {
                match family.kind {
                    Kind::Counter | Kind::Gauge => {
                        line(&mut out, &family.name, "", &s.labels, None, s.value);
                    }
                    Kind::Histogram => {
                        let bucket = format!("{}_bucket", family.name);
                        for (bound, n) in &s.buckets {
                            let le = format_value(*bound);
                            line(&mut out, &bucket, "", &s.labels, Some(&le), *n as f64);
                        }
                        line(
                            &mut out,
                            &bucket,
                            "",
                            &s.labels,
                            Some("+Inf"),
                            s.count as f64,
                        );
                        line(&mut out, &family.name, "_sum", &s.labels, None, s.value);
                        line(
                            &mut out,
                            &family.name,
                            "_count",
                            &s.labels,
                            None,
                            s.count as f64,
                        );
                    }
                }
            }
        }
        out
    }
}

/// A series' labels as a map key.
type LabelKey = Vec<(String, String)>;

fn add(total: &mut Series, s: &Series) {
    total.value += s.value;
    total.count += s.count;
    for (bound, n) in &s.buckets {
        match total.buckets.iter_mut().find(|(b, _)| b == bound) {
            Some((_, sum)) => *sum += n,
            None => total.buckets.push((*bound, *n)),
        }
    }
    total.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
}

fn subtract(s: &mut Series, before: &Series) {
    s.value = (s.value - before.value).max(0.0);
    s.count = s.count.saturating_sub(before.count);
    for (bound, n) in &mut s.buckets {
        if let Some((_, b)) = before.buckets.iter().find(|(x, _)| x == bound) {
            *n = n.saturating_sub(*b);
        }
    }
}

fn convert(family: &MetricFamily) -> Option<Family> {
    let kind = match family.get_field_type() {
        MetricType::COUNTER => Kind::Counter,
        MetricType::GAUGE => Kind::Gauge,
        MetricType::HISTOGRAM => Kind::Histogram,
        // Only the three kinds above are registered (families.rs).
        _ => return None,
    };
    let mut series: Vec<Series> = family
        .get_metric()
        .iter()
        .map(|metric| {
            let labels = metric
                .get_label()
                .iter()
                .map(|l| (l.name().to_owned(), l.value().to_owned()))
                .collect();
            match kind {
                Kind::Counter => Series {
                    labels,
                    value: metric.get_counter().get_value(),
                    count: 0,
                    buckets: Vec::new(),
                },
                Kind::Gauge => Series {
                    labels,
                    value: metric.get_gauge().get_value(),
                    count: 0,
                    buckets: Vec::new(),
                },
                Kind::Histogram => {
                    let h = metric.get_histogram();
                    Series {
                        labels,
                        value: h.get_sample_sum(),
                        count: h.get_sample_count(),
                        buckets: h
                            .get_bucket()
                            .iter()
                            .filter(|b| b.upper_bound().is_finite())
                            .map(|b| (b.upper_bound(), b.cumulative_count()))
                            .collect(),
                    }
                }
            }
        })
        .collect();
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Some(Family {
        name: family.name().to_owned(),
        help: family.help().to_owned(),
        kind,
        series,
    })
}

fn line(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &BTreeMap<String, String>,
    le: Option<&str>,
    value: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        if let Some(le) = le {
            if !first {
                out.push(',');
            }
            let _ = write!(out, "le=\"{le}\"");
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_value(value));
    out.push('\n');
}

/// A sample value as the text format writes it.
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
