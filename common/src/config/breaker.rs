//! Settings of the worker's circuit breaker: when a D365FO environment that
//! keeps failing (connection errors, timeouts, 5xx) stops being sent to, by
//! every worker on the store, and for how long.
//!
//! The defaults are meant never to trip on a healthy environment: twenty
//! failures in a row (no success between them) within ten seconds is not
//! what a restarting node of our own cluster or a stray gateway error
//! produces; it is an environment that is down.

use std::time::Duration;

use super::ConfigError;

/// Setting names, as operators spell them (environment variable and flag).
pub mod breaker_keys {
    /// Failures that open the breaker; 0 turns it off.
    pub const THRESHOLD: &str = "D365MCP_BREAKER_THRESHOLD (--breaker-threshold)";
    /// The window the failures must fall in.
    pub const WINDOW: &str = "D365MCP_BREAKER_WINDOW (--breaker-window)";
    /// How long the breaker first stays open.
    pub const OPEN: &str = "D365MCP_BREAKER_OPEN (--breaker-open)";
    /// The longest it stays open after failed probes.
    pub const MAX_OPEN: &str = "D365MCP_BREAKER_MAX_OPEN (--breaker-max-open)";
}

/// The most failures a threshold may ask for: each worker keeps up to this
/// many failure times per environment.
pub const MAX_THRESHOLD: u32 = 10_000;

/// When a worker stops sending to a failing D365FO environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Failures of one environment, with no success between them, that
    /// open its breaker when they fall within `window`. Default 20; 0 turns
    /// the breaker off.
    pub threshold: u32,
    /// The window of `threshold`. Default 10 s.
    pub window: Duration,
    /// How long an opened breaker refuses calls before one probe call is
    /// let through. Default 5 s.
    pub open_for: Duration,
    /// Each failed probe doubles the time open, up to this. Default 60 s.
    pub max_open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            threshold: 20,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
            max_open_for: Duration::from_secs(60),
        }
    }
}

impl BreakerConfig {
    /// A breaker that never opens.
    pub fn off() -> Self {
        Self {
            threshold: 0,
            ..Self::default()
        }
    }

    /// Whether the breaker can open at all.
    pub fn is_on(&self) -> bool {
        self.threshold > 0
    }

    /// Checks ranges; the error names the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.threshold > MAX_THRESHOLD {
            return Err(ConfigError::new(
                breaker_keys::THRESHOLD,
                format!(
                    "{} is out of range 0..={MAX_THRESHOLD} (0 turns the breaker off)",
                    self.threshold
                ),
            ));
        }
        for (key, value) in [
            (breaker_keys::WINDOW, self.window),
            (breaker_keys::OPEN, self.open_for),
            (breaker_keys::MAX_OPEN, self.max_open_for),
        ] {
            if value < Duration::from_millis(1) {
                return Err(ConfigError::new(key, "must be at least 1ms, e.g. 10s"));
            }
        }
        if self.max_open_for < self.open_for {
            return Err(ConfigError::new(
                breaker_keys::MAX_OPEN,
                format!(
                    "{} ms is shorter than the first open period ({} ms, {})",
                    self.max_open_for.as_millis(),
                    self.open_for.as_millis(),
                    breaker_keys::OPEN
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_on() {
        assert_eq!(BreakerConfig::default().validate(), Ok(()));
        assert!(BreakerConfig::default().is_on());
        assert!(!BreakerConfig::off().is_on());
        assert_eq!(BreakerConfig::off().validate(), Ok(()));
    }

    #[test]
    fn errors_name_the_setting() {
        let huge = BreakerConfig {
            threshold: MAX_THRESHOLD + 1,
            ..BreakerConfig::default()
        };
        assert!(
            huge.validate()
                .unwrap_err()
                .key
                .contains("--breaker-threshold")
        );
        let zero = BreakerConfig {
            window: Duration::ZERO,
            ..BreakerConfig::default()
        };
        assert!(zero.validate().unwrap_err().key.contains("BREAKER_WINDOW"));
        let inverted = BreakerConfig {
            open_for: Duration::from_secs(10),
            max_open_for: Duration::from_secs(5),
            ..BreakerConfig::default()
        };
        let err = inverted.validate().unwrap_err();
        assert!(err.key.contains("MAX_OPEN"), "{err}");
    }
}
