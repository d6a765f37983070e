//! Settings of the worker's metadata and label cache.
//!
//! Entries are keyed by the environment's version hash (a hash over its
//! installed modules), so an entry can never describe another release than
//! the one it is read for: the TTLs bound memory and the life of entries a
//! version no longer uses, not staleness. Hence the long default.

use std::time::Duration;

use super::ConfigError;

/// Setting names, as operators spell them (environment variable and flag).
pub mod cache_keys {
    /// Shared-store (L2) TTL of an entry.
    pub const TTL: &str = "D365MCP_CACHE_TTL (--cache-ttl)";
    /// TTL of a "does not exist" entry.
    pub const NEGATIVE_TTL: &str = "D365MCP_CACHE_NEGATIVE_TTL (--cache-negative-ttl)";
    /// In-process (L1) TTL.
    pub const L1_TTL: &str = "D365MCP_CACHE_L1_TTL (--cache-l1-ttl)";
    /// In-process (L1) capacity in bytes.
    pub const L1_CAPACITY: &str = "D365MCP_CACHE_L1_BYTES (--cache-l1-bytes)";
    /// How often an environment's version hash is recomputed.
    pub const VERSION_REFRESH: &str = "D365MCP_CACHE_VERSION_REFRESH (--cache-version-refresh)";
}

/// How the metadata and label cache keeps its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Life of an entry in the shared store (L2). Default 24 h: entries are
    /// version-keyed, so this only bounds how long an unused version's
    /// entries occupy the store.
    pub ttl: Duration,
    /// Life of an entry recording that D365FO said a label, entity or
    /// enumeration does not exist, in both levels. Default 5 min: short,
    /// because a missing thing may be added without a module version change
    /// (a label file deployed by hot-fix), yet long enough that a storm of
    /// calls for a wrong name costs one D365FO request.
    pub negative_ttl: Duration,
    /// Life of an entry in a worker's own memory (L1). Default 10 min:
    /// bounds how long a worker serves an entry that was removed from the
    /// shared store (say, by an operator flushing it).
    pub l1_ttl: Duration,
    /// Most bytes of entries (their JSON size) a worker keeps in memory.
    /// Default 128 MiB.
    pub l1_capacity_bytes: u64,
    /// How often an environment's installed modules are read again to see
    /// whether its version changed (an update or a hot-fix). Default 10 min;
    /// until then a changed environment is served the old version's entries.
    pub version_refresh: Duration,
    /// Life of the lock a worker holds in the shared store while it fills
    /// an entry, so that others wait instead of asking D365FO too. Default
    /// 30 s; a worker that dies mid-fill delays the others at most this long.
    pub fill_lock_ttl: Duration,
    /// Whether a worker warms the cache of every configured environment at
    /// start (version, entity and enumeration lists), beside serving.
    /// Default on; off for a worker whose first requests must be the only
    /// ones it sends (some tests), or with very many environments.
    pub warm_up: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 3600),
            negative_ttl: Duration::from_secs(5 * 60),
            l1_ttl: Duration::from_secs(10 * 60),
            l1_capacity_bytes: 128 * 1024 * 1024,
            version_refresh: Duration::from_secs(10 * 60),
            fill_lock_ttl: Duration::from_secs(30),
            warm_up: true,
        }
    }
}

impl CacheConfig {
    /// Checks that every duration is positive and the negative TTL is no
    /// longer than the positive one; the error names the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            (cache_keys::TTL, self.ttl),
            (cache_keys::NEGATIVE_TTL, self.negative_ttl),
            (cache_keys::L1_TTL, self.l1_ttl),
            (cache_keys::VERSION_REFRESH, self.version_refresh),
        ];
        for (key, value) in positive {
            if value.is_zero() {
                return Err(ConfigError::new(key, "must be longer than zero, e.g. 10m"));
            }
        }
        if self.negative_ttl > self.ttl {
            return Err(ConfigError::new(
                cache_keys::NEGATIVE_TTL,
                format!(
                    "{}s is longer than the cache TTL ({}s); a missing entry should not outlive \
                     a present one",
                    self.negative_ttl.as_secs(),
                    self.ttl.as_secs()
                ),
            ));
        }
        if self.l1_capacity_bytes < 1024 * 1024 {
            return Err(ConfigError::new(
                cache_keys::L1_CAPACITY,
                "must be at least 1048576 (1 MiB); one entity schema can take tens of KiB",
            ));
        }
        if self.fill_lock_ttl.is_zero() {
            return Err(ConfigError::new(
                "cache fill lock TTL",
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(CacheConfig::default().validate(), Ok(()));
    }

    #[test]
    fn errors_name_the_setting() {
        let zero = CacheConfig {
            l1_ttl: Duration::ZERO,
            ..CacheConfig::default()
        };
        assert!(zero.validate().unwrap_err().key.contains("--cache-l1-ttl"));
        let inverted = CacheConfig {
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(120),
            ..CacheConfig::default()
        };
        let err = inverted.validate().unwrap_err();
        assert!(err.key.contains("NEGATIVE_TTL"), "{err}");
        let tiny = CacheConfig {
            l1_capacity_bytes: 10,
            ..CacheConfig::default()
        };
        assert!(tiny.validate().unwrap_err().key.contains("L1_BYTES"));
    }
}
