//! The run-time fault state and the responses faults produce.
//!
//! Draws come from SplitMix64 over the config's seed and a request counter:
//! lock-free, and the same seed gives the same sequence of faults and
//! delays (which request gets which one depends only on arrival order).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;

use super::throttle::{Refusal, Throttler};
use super::{FaultConfig, Jitter, MAX_LATENCY_MS};
use crate::json;
use crate::splitmix::SplitMix64;

/// What happens to one request after throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served normally.
    Pass,
    /// 500 with D365FO's JSON error.
    Error500,
    /// 502 with a gateway's HTML page.
    Error502,
    /// 503 with a JSON error.
    Error503,
    /// The connection is closed without a response.
    Drop,
}

/// A simulator's faults: the start-up config, the current one, and the
/// throttling state.
#[derive(Debug)]
pub struct Faults {
    startup: FaultConfig,
    current: RwLock<Arc<FaultConfig>>,
    /// Mirrors `current.is_active()` so the no-fault path takes no lock.
    active: AtomicBool,
    draws: AtomicU64,
    /// Per-caller limits.
    pub throttler: Arc<Throttler>,
}

impl Faults {
    /// Faults as configured at start-up.
    pub fn new(startup: FaultConfig) -> Self {
        Self {
            active: AtomicBool::new(startup.is_active()),
            current: RwLock::new(Arc::new(startup.clone())),
            startup,
            draws: AtomicU64::new(0),
            throttler: Arc::default(),
        }
    }

    /// Whether any fault is configured.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// The current config.
    pub fn current(&self) -> Arc<FaultConfig> {
        Arc::clone(&self.current.read())
    }

    /// Replaces the config (validated by the caller); restarts the draw
    /// sequence so the new seed takes effect from the next request.
    pub fn replace(&self, config: FaultConfig) {
        let active = config.is_active();
        *self.current.write() = Arc::new(config);
        self.draws.store(0, Ordering::Relaxed);
        self.active.store(active, Ordering::Relaxed);
    }

    /// Back to the start-up config, with throttling state forgotten.
    pub fn reset(&self) {
        self.replace(self.startup.clone());
        self.throttler.clear();
    }

    /// A uniform draw in `[0, 1)`.
    fn draw(&self, seed: u64) -> f64 {
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let z = SplitMix64::keyed(seed, n).next_u64();
        // The top 53 bits, as an f64 mantissa.
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// This request's added latency.
    pub fn latency(&self, config: &FaultConfig) -> Duration {
        let l = &config.latency;
        let random_ms = match l.random {
            Jitter::None => 0.0,
            Jitter::Uniform { max_ms } => self.draw(config.seed) * max_ms as f64,
            Jitter::Exponential { mean_ms } => {
                -(mean_ms as f64) * (1.0 - self.draw(config.seed)).ln()
            }
            Jitter::LogNormal { mean_ms, sigma } => {
                // Box–Muller for a standard normal, then scale so the mean
                // (not the median) is mean_ms.
                let (u1, u2) = (1.0 - self.draw(config.seed), self.draw(config.seed));
                let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let mu = (mean_ms.max(1) as f64).ln() - sigma * sigma / 2.0;
                (mu + sigma * normal).exp()
            }
        };
        // The random part is capped like every latency value (README: 60 s).
        let total = l.fixed_ms as f64 + random_ms.clamp(0.0, MAX_LATENCY_MS as f64);
        // try_: a NaN or overflow must not panic a request; none it is.
        Duration::try_from_secs_f64(total / 1000.0).unwrap_or(Duration::ZERO)
    }

    /// Picks this request's fault.
    pub fn outcome(&self, config: &FaultConfig) -> Outcome {
        let total = config.drop_rate
            + config.error_500_rate
            + config.error_502_rate
            + config.error_503_rate;
        if total <= 0.0 {
            return Outcome::Pass;
        }
        let u = self.draw(config.seed);
        let mut edge = 0.0;
        for (rate, outcome) in [
            (config.drop_rate, Outcome::Drop),
            (config.error_500_rate, Outcome::Error500),
            (config.error_502_rate, Outcome::Error502),
            (config.error_503_rate, Outcome::Error503),
        ] {
            edge += rate;
            if u < edge {
                return outcome;
            }
        }
        Outcome::Pass
    }
}

/// An error body in D365FO's OData shape.
fn odata_error(status: StatusCode, message: &str, inner: &str, kind: &str) -> Response {
    let mut body = String::with_capacity(256);
    body.push_str(r#"{"error":{"code":"","message":"#);
    json::push_str(&mut body, message);
    body.push_str(r#","innererror":{"message":"#);
    json::push_str(&mut body, inner);
    body.push_str(r#","type":"#);
    json::push_str(&mut body, kind);
    body.push_str(r#","stacktrace":""}}}"#);
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; odata.metadata=minimal"),
    );
    response
}

/// 429 with `Retry-After` and the message of the broken limit.
pub fn throttled(refusal: &Refusal) -> Response {
    let message = refusal.limit.message();
    let mut response = odata_error(StatusCode::TOO_MANY_REQUESTS, &message, &message, "");
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(refusal.retry_after_secs),
    );
    response
}

/// Azure Application Gateway's 502 page, as D365FO's front door sends it.
pub const GATEWAY_502_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Microsoft-Azure-Application-Gateway/v2</center>\r\n</body>\r\n</html>\r\n";

/// The response of an injected HTTP error (`None` for `Pass` and `Drop`).
pub fn error_response(outcome: Outcome) -> Option<Response> {
    match outcome {
        Outcome::Error500 => Some(odata_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An error has occurred.",
            "The simulator injected an internal server error.",
            "System.Exception",
        )),
        Outcome::Error503 => Some(odata_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable. Please try again later.",
            "The simulator injected a service-unavailable error.",
            "System.Exception",
        )),
        Outcome::Error502 => {
            let mut response = (StatusCode::BAD_GATEWAY, GATEWAY_502_HTML).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            Some(response)
        }
        Outcome::Pass | Outcome::Drop => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let config = FaultConfig {
            error_500_rate: 0.25,
            error_502_rate: 0.25,
            drop_rate: 0.25,
            seed: 7,
            ..FaultConfig::default()
        };
        let run = || {
            let f = Faults::new(config.clone());
            (0..200).map(|_| f.outcome(&config)).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        for o in [
            Outcome::Pass,
            Outcome::Drop,
            Outcome::Error500,
            Outcome::Error502,
        ] {
            let n = a.iter().filter(|x| **x == o).count();
            assert!((25..=75).contains(&n), "{o:?}: {n}");
        }
        assert!(!a.contains(&Outcome::Error503));
    }

    #[test]
    fn latencies_have_the_configured_mean() {
        for random in [
            Jitter::Uniform { max_ms: 20 },
            Jitter::Exponential { mean_ms: 10 },
            Jitter::LogNormal {
                mean_ms: 10,
                sigma: 0.5,
            },
        ] {
            let mut config = FaultConfig::default();
            config.latency.fixed_ms = 5;
            config.latency.random = random;
            let f = Faults::new(config.clone());
            let n = 20_000;
            let mean: f64 = (0..n)
                .map(|_| f.latency(&config).as_secs_f64() * 1000.0)
                .sum::<f64>()
                / f64::from(n);
            assert!((14.0..16.0).contains(&mean), "{random:?}: {mean}");
        }
    }

    #[test]
    fn random_latency_is_capped_at_a_minute() {
        let mut config = FaultConfig::default();
        config.latency.random = Jitter::LogNormal {
            mean_ms: MAX_LATENCY_MS,
            sigma: 4.0,
        };
        let f = Faults::new(config.clone());
        let longest = (0..2_000).map(|_| f.latency(&config)).max();
        assert_eq!(longest, Some(Duration::from_millis(MAX_LATENCY_MS)));
    }
}
