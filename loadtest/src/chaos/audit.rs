//! The audit: what the simulator's write journal says each write did,
//! set against what its client heard.

use std::collections::HashMap;

use serde_json::Value;

use super::client::Ending;
use super::ops::marker_of;

/// How often the application received a write, and how often it applied it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    pub times: u32,
    pub applied: u32,
}

/// Every journaled write by marker, read from the simulator at `sim_url`.
pub async fn journal(
    http: &reqwest::Client,
    sim_url: &str,
) -> Result<HashMap<String, Received>, String> {
    let mut by_marker: HashMap<String, Received> = HashMap::new();
    let mut after = 0u64;
    loop {
        let url = format!("{sim_url}/_sim/journal?after={after}");
        let page: Value = http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("reading {url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("reading {url}: {e}"))?;
        if page["dropped"].as_u64().unwrap_or(0) > 0 {
            return Err(
                "the simulator's journal dropped entries: the run wrote more than it keeps".into(),
            );
        }
        let entries = page["entries"].as_array().cloned().unwrap_or_default();
        let Some(last) = entries.last().and_then(|e| e["seq"].as_u64()) else {
            return Ok(by_marker);
        };
        for entry in &entries {
            let method = entry["method"].as_str().unwrap_or("");
            let path = entry["path"].as_str().unwrap_or("");
            let body = entry["body"]
                .as_str()
                .and_then(|b| serde_json::from_str::<Value>(b).ok())
                .unwrap_or(Value::Null);
            let Some(marker) = marker_of(method, path, &body) else {
                continue;
            };
            let status = entry["status"].as_u64().unwrap_or(0);
            let seen = by_marker.entry(marker).or_default();
            seen.times += 1;
            if (200..300).contains(&status) {
                seen.applied += 1;
            }
        }
        after = last;
    }
}

/// Waits until the journal has not grown for two seconds (writes whose
/// callers left may still be finishing), at most `within`.
pub async fn settle(http: &reqwest::Client, sim_url: &str, within: std::time::Duration) {
    let url = format!("{sim_url}/_sim/journal?limit=0");
    let deadline = tokio::time::Instant::now() + within;
    let mut last = None;
    let mut still = 0;
    while still < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let now = match http.get(&url).send().await {
            Ok(r) => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["last"].as_u64()),
            Err(_) => None,
        };
        still = if now.is_some() && now == last {
            still + 1
        } else {
            0
        };
        last = now;
    }
}

/// What the audit found wrong with one write (any number may hold).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Acknowledged, but never applied.
    pub lost: bool,
    /// Reached the application more than once.
    pub doubled: bool,
    /// Applied, but its client heard it failed (not `outcome_unknown`).
    pub applied_but_failed: bool,
    /// Its client heard `outcome_unknown`, and it was applied.
    pub unknown_applied: bool,
}

/// Judges a write its client ended with `ending`, which the journal saw as `seen`.
pub fn judge(ending: &Ending, seen: Received) -> Verdict {
    Verdict {
        lost: *ending == Ending::Ok && seen.applied == 0,
        doubled: seen.times > 1,
        applied_but_failed: matches!(ending, Ending::Failed(_) | Ending::GaveUp(_))
            && seen.applied > 0,
        unknown_applied: *ending == Ending::Unknown && seen.applied > 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(times: u32, applied: u32) -> Received {
        Received { times, applied }
    }

    #[test]
    fn each_wrong_is_named() {
        assert_eq!(judge(&Ending::Ok, seen(1, 1)), Verdict::default());
        assert!(judge(&Ending::Ok, seen(0, 0)).lost);
        assert!(judge(&Ending::Ok, seen(2, 1)).doubled);
        let failed = Ending::Failed("conflict".into());
        assert!(judge(&failed, seen(1, 1)).applied_but_failed);
        assert_eq!(judge(&failed, seen(1, 0)), Verdict::default());
        assert!(judge(&Ending::GaveUp("timeout".into()), seen(1, 1)).applied_but_failed);
        let unknown = judge(&Ending::Unknown, seen(1, 1));
        assert!(unknown.unknown_applied && !unknown.applied_but_failed);
    }
}
