//! Fault injection: D365FO on its bad days.
//!
//! [`FaultConfig`] is what a simulator starts with (flags) and what the
//! admin API reads and replaces at run time (`GET`/`PUT /_sim/faults`, as
//! JSON). Faults touch only D365FO's own endpoints (`/data`, `/Metadata`,
//! `/api`), never the token endpoint or the admin API.
//!
//! - [`throttle`]: per-caller request-rate and concurrency limits, answered
//!   with D365FO's 429 and a `Retry-After` that grows while a caller keeps
//!   pushing.
//! - [`inject`]: latency, 500/503 JSON errors, 502 gateway HTML and dropped
//!   connections, drawn from a seeded sequence so a run can be repeated.

pub mod inject;
pub mod throttle;

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The random part of a request's added latency.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Jitter {
    /// None.
    #[default]
    None,
    /// Uniform on `0..=max_ms`.
    Uniform {
        /// The largest delay.
        max_ms: u64,
    },
    /// Exponential with mean `mean_ms`: mostly short, a long tail.
    Exponential {
        /// The mean delay.
        mean_ms: u64,
    },
    /// Log-normal with mean `mean_ms` and shape `sigma`: the heavy tail of
    /// real service latencies.
    LogNormal {
        /// The mean delay.
        mean_ms: u64,
        /// The standard deviation of the delay's logarithm.
        sigma: f64,
    },
}

impl FromStr for Jitter {
    type Err = String;

    /// `none`, `uniform:MAX_MS`, `exp:MEAN_MS` or `lognormal:MEAN_MS:SIGMA`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("'{s}': expected none, uniform:MAX_MS, exp:MEAN_MS or lognormal:MEAN_MS:SIGMA")
        };
        let parts: Vec<&str> = s.trim().split(':').collect();
        let ms = |i: usize| {
            parts
                .get(i)
                .and_then(|p| p.parse::<u64>().ok())
                .ok_or_else(bad)
        };
        let jitter = match parts.first().map(|k| k.to_ascii_lowercase()).as_deref() {
            Some("none") if parts.len() == 1 => Jitter::None,
            Some("uniform") if parts.len() == 2 => Jitter::Uniform { max_ms: ms(1)? },
            Some("exp" | "exponential") if parts.len() == 2 => {
                Jitter::Exponential { mean_ms: ms(1)? }
            }
            Some("lognormal") if parts.len() == 3 => Jitter::LogNormal {
                mean_ms: ms(1)?,
                sigma: parts[2].parse().map_err(|_| bad())?,
            },
            _ => return Err(bad()),
        };
        Ok(jitter)
    }
}

/// Latency added to every D365FO request: `fixed_ms` plus a [`Jitter`] draw.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Latency {
    /// Added to every request.
    pub fixed_ms: u64,
    /// Added on top, drawn per request.
    pub random: Jitter,
}

/// D365FO's user-based service protection limits, per caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Throttle {
    /// Requests a caller may make in a sliding `window_secs` (D365FO: 6000
    /// in 300 s); `None` for no limit.
    pub requests: Option<u32>,
    /// The sliding window of `requests`, in seconds.
    pub window_secs: u64,
    /// Requests a caller may have in flight at once (D365FO: 52).
    pub concurrency: Option<u32>,
    /// `Retry-After` of a caller's first 429, in seconds.
    pub retry_after_secs: u64,
    /// The most `Retry-After` grows to for a caller that keeps pushing.
    pub max_retry_after_secs: u64,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            requests: None,
            window_secs: 300,
            concurrency: None,
            retry_after_secs: 5,
            max_retry_after_secs: 300,
        }
    }
}

/// `REQUESTS/WINDOW_SECS`, as the `--throttle-rate` flag takes it.
pub fn parse_rate(s: &str) -> Result<(u32, u64), String> {
    s.trim()
        .split_once('/')
        .and_then(|(n, w)| Some((n.trim().parse().ok()?, w.trim().parse().ok()?)))
        .filter(|&(_, w)| w > 0)
        .ok_or_else(|| format!("'{s}': expected REQUESTS/WINDOW_SECS, e.g. 6000/300"))
}

/// Every fault of a simulator. The default injects nothing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Added latency.
    pub latency: Latency,
    /// Service protection limits.
    pub throttle: Throttle,
    /// Share of requests answered 500 with D365FO's JSON error (0.0–1.0).
    pub error_500_rate: f64,
    /// Share answered 502 with an Azure gateway's HTML page.
    pub error_502_rate: f64,
    /// Share answered 503 with a JSON error.
    pub error_503_rate: f64,
    /// Share whose connection is closed without any response.
    pub drop_rate: f64,
    /// Seed of the draws that pick faults and jitter.
    pub seed: u64,
}

// Validated configs hold no NaN, so equality is total; SimConfig needs Eq.
impl Eq for FaultConfig {}

/// The longest latency a config may ask for: a minute, so a typo cannot
/// hang a test run for hours.
pub const MAX_LATENCY_MS: u64 = 60_000;

/// The longest throttling window or wait: a day.
pub const MAX_THROTTLE_SECS: u64 = 86_400;

impl FaultConfig {
    /// Checks ranges; the error names the bad field.
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            ("error_500_rate", self.error_500_rate),
            ("error_502_rate", self.error_502_rate),
            ("error_503_rate", self.error_503_rate),
            ("drop_rate", self.drop_rate),
        ];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0.0 and 1.0, not {rate}"));
            }
        }
        let total: f64 = rates.iter().map(|(_, r)| r).sum();
        if total > 1.0 + 1e-9 {
            return Err(format!(
                "error_500_rate + error_502_rate + error_503_rate + drop_rate is {total}; at most 1.0"
            ));
        }
        let mean = match self.latency.random {
            Jitter::None => 0,
            Jitter::Uniform { max_ms } => max_ms,
            Jitter::Exponential { mean_ms } => mean_ms,
            Jitter::LogNormal { mean_ms, sigma } => {
                if !(0.0..=4.0).contains(&sigma) {
                    return Err(format!("latency.random.sigma must be 0.0–4.0, not {sigma}"));
                }
                mean_ms
            }
        };
        if self.latency.fixed_ms > MAX_LATENCY_MS || mean > MAX_LATENCY_MS {
            return Err(format!("latency values are capped at {MAX_LATENCY_MS} ms"));
        }
        let t = &self.throttle;
        if t.window_secs == 0 || t.retry_after_secs == 0 {
            return Err(
                "throttle.window_secs and throttle.retry_after_secs must be at least 1".into(),
            );
        }
        if t.window_secs > MAX_THROTTLE_SECS || t.max_retry_after_secs > MAX_THROTTLE_SECS {
            return Err(format!(
                "throttle.window_secs and throttle.max_retry_after_secs are capped at {MAX_THROTTLE_SECS}"
            ));
        }
        if t.max_retry_after_secs < t.retry_after_secs {
            return Err(
                "throttle.max_retry_after_secs must be at least throttle.retry_after_secs".into(),
            );
        }
        Ok(())
    }

    /// Whether any fault is on; when none is, requests skip fault handling.
    pub fn is_active(&self) -> bool {
        self.latency.fixed_ms > 0
            || self.latency.random != Jitter::None
            || self.throttle.requests.is_some()
            || self.throttle.concurrency.is_some()
            || self.error_500_rate > 0.0
            || self.error_502_rate > 0.0
            || self.error_503_rate > 0.0
            || self.drop_rate > 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        assert_eq!("exp:20".parse(), Ok(Jitter::Exponential { mean_ms: 20 }));
        assert_eq!("uniform:5".parse(), Ok(Jitter::Uniform { max_ms: 5 }));
        assert_eq!(
            "lognormal:30:0.5".parse(),
            Ok(Jitter::LogNormal {
                mean_ms: 30,
                sigma: 0.5
            })
        );
        assert!("exp".parse::<Jitter>().is_err());
        assert!("gauss:3".parse::<Jitter>().is_err());
        assert_eq!(parse_rate("6000/300"), Ok((6000, 300)));
        assert!(parse_rate("6000/0").is_err());
        assert!(parse_rate("lots").is_err());
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(FaultConfig::default().validate(), Ok(()));
        assert!(!FaultConfig::default().is_active());
        let bad = FaultConfig {
            drop_rate: 1.5,
            ..FaultConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("drop_rate"));
        let nan = FaultConfig {
            error_500_rate: f64::NAN,
            ..FaultConfig::default()
        };
        assert!(nan.validate().is_err());
        let sum = FaultConfig {
            error_500_rate: 0.6,
            error_503_rate: 0.6,
            ..FaultConfig::default()
        };
        assert!(sum.validate().is_err());
        let json = r#"{"latency":{"fixed_ms":5,"random":{"kind":"exponential","mean_ms":3}},"throttle":{"requests":10}}"#;
        let parsed: FaultConfig = serde_json::from_str(json).unwrap();
        assert!(parsed.is_active());
        assert_eq!(parsed.throttle.window_secs, 300);
        assert!(serde_json::from_str::<FaultConfig>(r#"{"nope":1}"#).is_err());
    }
}
