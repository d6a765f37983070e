//! An environment's version: the hash over its installed modules that
//! keys its metadata and label entries, and when to compute it again.
//!
//! The hash is SHA-256 over the sorted `name`/`version` pairs, cut to 16 hex
//! digits (64 bits): the same on every process and machine, so every worker
//! of every region agrees on the keys, and two environments on one release
//! (production and its UAT copy, or tenants of one ISV build) share entries.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use parking_lot::Mutex;
use serde::Serialize;
use sha2::{Digest, Sha256};
// tokio's clock, which tests can pause and advance; `std`'s outside them.
use tokio::time::Instant;

use crate::error::WorkerError;

/// Longest wait before a failed refresh is tried again, while the last
/// known version keeps serving.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// One installed module, as `GetInstalledModules` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Module {
    /// Model name, e.g. `ApplicationSuite`.
    pub name: String,
    /// Its version, e.g. `10.0.2015.54`.
    pub version: String,
    /// The package (module) it belongs to.
    pub module: String,
    /// Who publishes it.
    pub publisher: String,
    /// Its display name.
    pub display_name: String,
}

/// Parses one `GetInstalledModules` entry,
/// `Name: X | Version: Y | Module: Z | Publisher: P | DisplayName: D`.
/// Fields may come in any order or be missing; an entry without `Name:`
/// is taken whole as the name, so nothing D365FO sends is lost from the hash.
pub fn parse_module(entry: &str) -> Module {
    let mut module = Module {
        name: String::new(),
        version: String::new(),
        module: String::new(),
        publisher: String::new(),
        display_name: String::new(),
    };
    for part in entry.split('|') {
        let Some((field, value)) = part.split_once(':') else {
            continue;
        };
        let value = value.trim().to_owned();
        match field.trim().to_ascii_lowercase().as_str() {
            "name" => module.name = value,
            "version" => module.version = value,
            "module" => module.module = value,
            "publisher" => module.publisher = value,
            "displayname" => module.display_name = value,
            _ => {}
        }
    }
    if module.name.is_empty() {
        module.name = entry.trim().to_owned();
    }
    module
}

/// The version hash of an environment with `modules` installed: order does
/// not matter, names and versions do.
pub fn version_hash(modules: &[Module]) -> String {
    let mut pairs: Vec<(&str, &str)> = modules
        .iter()
        .map(|m| (m.name.as_str(), m.version.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut text = String::new();
    for (name, version) in pairs {
        // Separators that cannot occur in either field keep
        // ("ab", "c") and ("a", "bc") apart.
        text.push_str(name);
        text.push('\u{1f}');
        text.push_str(version);
        text.push('\n');
    }
    short_hash(text.as_bytes())
}

/// SHA-256 of `bytes` as 16 lower-case hex digits.
pub fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// An environment's version as last read.
#[derive(Debug, Clone)]
pub struct EnvVersion {
    /// [`version_hash`] of `modules`.
    pub hash: Arc<str>,
    /// The installed modules, as D365FO listed them.
    pub modules: Arc<Vec<Module>>,
}

#[derive(Debug)]
struct Known {
    version: EnvVersion,
    next_check: Instant,
}

/// The version of each environment, read again every `refresh`.
///
/// Callers of one environment share one read: the first takes the slot's
/// async lock and asks D365FO while the others wait for its answer. A failed
/// refresh keeps serving the last known version (and is retried within a
/// minute); only an environment never read successfully fails the call.
#[derive(Debug)]
pub struct Versions {
    refresh: Duration,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Known>>>>>,
}

/// What [`Versions::get`] did, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// The known version was fresh.
    No,
    /// D365FO was asked and answered.
    Yes,
    /// D365FO was asked and failed; the last known version was used.
    Failed,
}

impl Versions {
    /// Versions read again after `refresh`.
    pub fn new(refresh: Duration) -> Self {
        Self {
            refresh,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The version of `environment`, asking `fetch` (which returns the raw
    /// `GetInstalledModules` entries) when none is known or it is due.
    pub async fn get<F, Fut>(
        &self,
        environment: &str,
        fetch: F,
    ) -> Result<(EnvVersion, Refreshed), WorkerError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<String>, WorkerError>>,
    {
        let slot = Arc::clone(self.slots.lock().entry(environment.to_owned()).or_default());
        let mut known = slot.lock().await;
        let now = Instant::now();
        if let Some(k) = known.as_ref().filter(|k| k.next_check > now) {
            return Ok((k.version.clone(), Refreshed::No));
        }
        match fetch().await {
            Ok(entries) => {
                let modules: Vec<Module> = entries.iter().map(|e| parse_module(e)).collect();
                let version = EnvVersion {
                    hash: version_hash(&modules).into(),
                    modules: Arc::new(modules),
                };
                if let Some(old) = known.as_ref().filter(|k| k.version.hash != version.hash) {
                    tracing::info!(
                        environment,
                        old = %old.version.hash,
                        new = %version.hash,
                        "environment version changed; metadata is read under the new version"
                    );
                }
                *known = Some(Known {
                    version: version.clone(),
                    next_check: Instant::now() + self.refresh,
                });
                Ok((version, Refreshed::Yes))
            }
            Err(error) => match known.as_mut() {
                Some(k) => {
                    tracing::warn!(
                        environment,
                        %error,
                        "could not read installed modules; serving the last known version"
                    );
                    k.next_check = Instant::now() + self.refresh.min(RETRY_AFTER_FAILURE);
                    Ok((k.version.clone(), Refreshed::Failed))
                }
                None => Err(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const LINE: &str = "Name: ApplicationSuite | Version: 10.0.2015.54 | Module: ApplicationSuite | Publisher: Microsoft Corporation | DisplayName: Application Suite";

    #[test]
    fn parses_entries() {
        let m = parse_module(LINE);
        assert_eq!(m.name, "ApplicationSuite");
        assert_eq!(m.version, "10.0.2015.54");
        assert_eq!(m.display_name, "Application Suite");
        assert_eq!(parse_module(" odd entry ").name, "odd entry");
    }

    #[test]
    fn the_hash_ignores_order_and_sees_versions() {
        let a = parse_module(LINE);
        let b = parse_module("Name: Tax | Version: 1.0");
        let h1 = version_hash(&[a.clone(), b.clone()]);
        assert_eq!(h1, version_hash(&[b.clone(), a.clone()]));
        assert_eq!(h1.len(), 16);
        let b2 = parse_module("Name: Tax | Version: 1.1");
        assert_ne!(h1, version_hash(&[a, b2]));
        // A fixed value: the hash must never depend on the process.
        assert_eq!(version_hash(&[]), short_hash(b""));
        assert_eq!(short_hash(b""), "e3b0c44298fc1c14");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_read_and_failures_keep_the_last_version() {
        let versions = Arc::new(Versions::new(Duration::from_millis(50)));
        let reads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (versions, reads) = (Arc::clone(&versions), Arc::clone(&reads));
            tasks.push(tokio::spawn(async move {
                versions
                    .get("env", || async {
                        reads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(vec![LINE.to_owned()])
                    })
                    .await
                    .unwrap()
                    .0
                    .hash
            }));
        }
        let mut hashes = Vec::new();
        for t in tasks {
            hashes.push(t.await.unwrap());
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert!(hashes.iter().all(|h| *h == hashes[0]));
        tokio::time::sleep(Duration::from_millis(60)).await;
        let (v, refreshed) = versions
            .get("env", || async {
                Err(WorkerError::Unavailable("down".into()))
            })
            .await
            .unwrap();
        assert_eq!((v.hash, refreshed), (hashes[0].clone(), Refreshed::Failed));
        let never = versions
            .get("other", || async {
                Err(WorkerError::Unavailable("down".into()))
            })
            .await;
        assert!(never.is_err());
    }
}
