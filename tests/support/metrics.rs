//! Reading a node's Prometheus metrics: one scrape of `/metrics`, and the
//! metric families a scrape shows. A worker's metrics listener is
//! `cluster::Process::metrics_url`.

use std::collections::BTreeSet;

/// The body of `GET url`, or why there is none (a refused connection, a
/// status other than 200).
pub async fn scrape(url: &str) -> Result<String, String> {
    let response = reqwest::get(url)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if status != 200 {
        return Err(format!("GET {url}: {status}: {body}"));
    }
    Ok(body)
}

/// The families a scrape in the Prometheus text format shows: every name
/// declared by a `# TYPE` line, and every sample's name, a histogram's
/// `_bucket`, `_sum` and `_count` samples counted as their family.
pub fn families(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if let Some(declared) = line.strip_prefix("# TYPE ") {
            if let Some(name) = declared.split_whitespace().next() {
                names.insert(name.to_owned());
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap_or_default().to_owned();
        names.insert(family_of(&name).to_owned());
        names.insert(name);
    }
    names
}

/// `name` less a histogram's sample suffix (`_bucket`, `_sum`, `_count`).
pub fn family_of(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
}
