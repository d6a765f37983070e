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
use serde_json::Value;
use sha2::{Digest, Sha256};
// tokio's clock, which tests can pause and advance; `std`'s outside them.
use tokio::time::Instant;

use crate::error::WorkerError;

/// Longest wait before a failed refresh is tried again, while the last
/// known version keeps serving.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// Most characters of an unreadable `GetInstalledModules` answer quoted in
/// its error.
const MAX_QUOTED: usize = 300;

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

/// The modules of a `GetInstalledModules` answer, `{"value": [...]}`.
///
/// D365FO declares the result `Collection(Edm.String)` and sends
/// `Name: X | Version: Y | …` lines ([`parse_module`]); objects with
/// `Name`/`Version`/… fields (any letter case) are read too, in case a
/// release or a proxy sends them. `null` and blank entries carry nothing
/// and are skipped. Anything else, or no module at all, is an error that
/// quotes the answer: a version hashed over what could not be read would
/// be the same for environments that share nothing (the empty list hashes
/// to `e3b0c44298fc1c14` everywhere), and serve one's metadata to the other.
pub fn read_modules(answer: &Value) -> Result<Vec<Module>, String> {
    let unreadable = |what: &str| format!("{what}: {}", quote(answer));
    let Some(entries) = answer.get("value").and_then(Value::as_array) else {
        return Err(unreadable("answered without a `value` array"));
    };
    let mut modules = Vec::with_capacity(entries.len());
    for (n, entry) in entries.iter().enumerate() {
        match entry {
            Value::Null => {}
            Value::String(line) if line.trim().is_empty() => {}
            Value::String(line) => modules.push(parse_module(line)),
            Value::Object(fields) => match module_of(fields) {
                Some(module) => modules.push(module),
                None => {
                    return Err(unreadable(&format!(
                        "answered an entry (#{}) with no `Name`",
                        n + 1
                    )));
                }
            },
            _ => {
                return Err(unreadable(&format!(
                    "answered an entry (#{}) that is neither text nor an object",
                    n + 1
                )));
            }
        }
    }
    if modules.is_empty() {
        return Err(unreadable("answered no modules"));
    }
    Ok(modules)
}

/// A module from an object's fields, matched in any letter case; `None`
/// without a non-empty name.
fn module_of(fields: &serde_json::Map<String, Value>) -> Option<Module> {
    let field = |name: &str| -> String {
        fields
            .iter()
            .find(|(k, _)| k.replace('_', "").eq_ignore_ascii_case(name))
            .map(|(_, v)| match v {
                Value::String(s) => s.trim().to_owned(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let module = Module {
        name: field("name"),
        version: field("version"),
        module: field("module"),
        publisher: field("publisher"),
        display_name: field("displayname"),
    };
    (!module.name.is_empty()).then_some(module)
}

/// `value` as compact JSON, cut to [`MAX_QUOTED`] characters.
fn quote(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(MAX_QUOTED) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
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

    /// The version of `environment`, asking `fetch` (which returns its
    /// installed modules, [`read_modules`]) when none is known or it is due.
    /// An empty list is a failed read, never a version.
    pub async fn get<F, Fut>(
        &self,
        environment: &str,
        fetch: F,
    ) -> Result<(EnvVersion, Refreshed), WorkerError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<Module>, WorkerError>>,
    {
        let slot = Arc::clone(self.slots.lock().entry(environment.to_owned()).or_default());
        let mut known = slot.lock().await;
        let now = Instant::now();
        if let Some(k) = known.as_ref().filter(|k| k.next_check > now) {
            return Ok((k.version.clone(), Refreshed::No));
        }
        let fetched = fetch().await.and_then(|modules| {
            if modules.is_empty() {
                Err(WorkerError::BadResponse(format!(
                    "environment {environment}: no installed modules to key its metadata by"
                )))
            } else {
                Ok(modules)
            }
        });
        match fetched {
            Ok(modules) => {
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

    use serde_json::json;

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
                        Ok(vec![parse_module(LINE)])
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
        // No modules is a failed read, never the version everyone would share.
        let empty = versions.get("empty", || async { Ok(Vec::new()) }).await;
        assert!(empty.is_err());
        tokio::time::sleep(Duration::from_millis(60)).await;
        let (v, refreshed) = versions
            .get("env", || async { Ok(Vec::new()) })
            .await
            .unwrap();
        assert_eq!((v.hash, refreshed), (hashes[0].clone(), Refreshed::Failed));
    }

    #[test]
    fn module_lists_are_read_as_lines_or_objects() {
        let lines = read_modules(&json!({"value": [LINE, null, "  "]})).unwrap();
        assert_eq!(lines, [parse_module(LINE)]);
        let objects = read_modules(&json!({"value": [
            {"Name": "ApplicationSuite", "Version": "10.0.2015.54", "Module": "ApplicationSuite",
             "Publisher": "Microsoft Corporation", "DisplayName": "Application Suite"},
            {"name": "Tax", "version": 7, "display_name": "Tax engine"}
        ]}))
        .unwrap();
        assert_eq!(objects[0], parse_module(LINE));
        assert_eq!(
            (
                objects[1].version.as_str(),
                objects[1].display_name.as_str()
            ),
            ("7", "Tax engine")
        );
    }

    #[test]
    fn unreadable_module_lists_are_errors_that_quote_the_answer() {
        for (answer, says) in [
            (json!({"value": []}), "no modules"),
            (json!({"value": [null, ""]}), "no modules"),
            (
                json!({"value": [LINE, {"Id": 1}]}),
                "entry (#2) with no `Name`",
            ),
            (json!({"value": [7]}), "neither text nor an object"),
            (json!({"modules": [LINE]}), "without a `value` array"),
            (json!(null), "without a `value` array"),
        ] {
            let error = read_modules(&answer).unwrap_err();
            assert!(error.contains(says), "{answer}: {error}");
            assert!(error.contains(&answer.to_string()), "{error}");
        }
        let long: Vec<Value> = (0..100).map(|_| json!({"x": "y".repeat(50)})).collect();
        let error = read_modules(&json!({"value": long})).unwrap_err();
        assert!(error.len() < 500 && error.ends_with('…'), "{error}");
    }
}
