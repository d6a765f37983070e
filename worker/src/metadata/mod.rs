//! D365FO's metadata, read through the [`MetadataCache`]: the entity and
//! enumeration lists, one entity's or enumeration's definition, label
//! texts and the action index, each keyed by the environment's version.
//!
//! [`Metadata`] is what the metadata tools run on; the tool modules parse
//! arguments and shape results, the reads and their caching live here.
//!
//! - [`entities`], [`enums`], [`labels`], [`actions`]: each tool's
//!   result, from its arguments (types of `common::catalogue::metadata`).
//! - `fetch`: the D365FO requests, uncached.
//! - [`edmx`]: the action index parsed from `/data/$metadata`.
//! - [`rank`]: search ranking.
//! - [`warm`]: the warm-up run at worker start.

pub mod actions;
pub mod edmx;
pub mod entities;
pub mod enums;
mod fetch;
pub mod labels;
pub mod rank;
pub mod warm;

use std::{collections::HashMap, sync::Arc};

use common::catalogue::metadata::UnresolvedLabels;
use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use edmx::ActionInfo;

use crate::{
    cache::{CacheKey, Entry, EnvVersion, Kind, MetadataCache, Module, version::read_modules},
    d365::{D365Client, Deadline},
    error::WorkerError,
    progress::Progress,
};

/// A string field of a D365FO record; empty when absent or not a string
/// (D365FO leaves optional text fields out or null).
pub fn str_field(value: &Value, field: &str) -> String {
    value
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Label requests one call keeps in flight at most: enough to resolve a
/// schema's labels quickly, few enough to stay far from D365FO's
/// concurrency limit (52 per user) with other calls running.
pub const LABEL_CONCURRENCY: usize = 8;

/// One `DataEntities` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EntitySummary {
    /// AOT name, e.g. `CustCustomerV3Entity`.
    #[serde(default)]
    pub name: String,
    /// Public entity name, e.g. `CustomerV3`: the `PublicEntities` key.
    #[serde(default)]
    pub public_entity_name: String,
    /// Entity set (collection) name, e.g. `CustomersV3`: what `/data` serves.
    #[serde(default)]
    pub public_collection_name: String,
    /// Label id of the entity.
    #[serde(default)]
    pub label_id: String,
    /// `Master`, `Transaction`, `Reference`, `Document`, `Parameters`…
    #[serde(default)]
    pub entity_category: String,
    /// Served through OData.
    #[serde(default)]
    pub data_service_enabled: bool,
    /// Usable in data management (import/export).
    #[serde(default)]
    pub data_management_enabled: bool,
    /// Refuses writes.
    #[serde(default)]
    pub is_read_only: bool,
}

/// One `PublicEnumerations` record, without members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnumSummary {
    /// Enumeration name, e.g. `NoYes`.
    #[serde(default)]
    pub name: String,
    /// Its label id.
    #[serde(default)]
    pub label_id: String,
}

/// What [`Metadata::labels`] found: each id's text, `None` where D365FO has
/// none, or why its lookup failed.
#[derive(Debug, Default)]
pub struct LabelTexts {
    texts: HashMap<String, Option<String>>,
    /// Ids whose lookup failed, with the error's message.
    errors: HashMap<String, String>,
    /// The first failure to arrive, whole: its code and retry hint.
    first_error: Option<WorkerError>,
}

impl LabelTexts {
    fn fail(&mut self, id: String, error: WorkerError) {
        self.errors.insert(id, error.to_string());
        self.first_error.get_or_insert(error);
    }

    /// The text of `id`; `None` when D365FO has none or it was not read.
    pub fn text(&self, id: &str) -> Option<String> {
        self.texts.get(id).cloned().flatten()
    }

    /// Why the lookup of `id` failed, if it did.
    pub fn error(&self, id: &str) -> Option<&str> {
        self.errors.get(id).map(String::as_str)
    }

    /// Whether every lookup failed (and there was at least one).
    pub fn all_failed(&self) -> bool {
        self.texts.is_empty() && !self.errors.is_empty()
    }

    /// The first failure, to fail a call that has nothing else to return.
    pub fn into_first_error(self) -> Option<WorkerError> {
        self.first_error
    }

    /// How many lookups failed and the first error, when some did: the
    /// note a result carries beside the `null` labels they left.
    pub fn note(&self) -> Option<UnresolvedLabels> {
        self.first_error.as_ref().map(|first| UnresolvedLabels {
            count: self.errors.len(),
            first_error: first.to_string(),
        })
    }

    /// The texts found, for ranking.
    pub fn into_found(self) -> HashMap<String, String> {
        self.texts
            .into_iter()
            .filter_map(|(id, text)| Some((id, text?)))
            .collect()
    }
}

/// Metadata reads for one call: the environment's client, the cache and
/// the call's deadline.
pub struct Metadata<'a> {
    /// The environment's client.
    pub client: &'a D365Client,
    /// The worker's cache.
    pub cache: &'a MetadataCache,
    /// The call's deadline.
    pub deadline: Deadline,
    /// Where a call's progress goes: many labels resolved at once report
    /// how far they got. `None` for work outside a call (the warm-up).
    pub progress: Option<&'a Progress>,
}

impl Metadata<'_> {
    /// The environment's version (installed modules and their hash).
    pub async fn version(&self) -> Result<EnvVersion, WorkerError> {
        let id = self.client.base_url().as_str().trim_end_matches('/');
        self.cache.version(id, || self.installed_modules()).await
    }

    /// The installed modules, read now (not cached). An answer they cannot
    /// be read from is an error naming the environment: its version, and
    /// so every cache key of its metadata, is made of them.
    pub async fn installed_modules(&self) -> Result<Vec<Module>, WorkerError> {
        let answer = fetch::installed_modules(self.client, self.deadline).await?;
        read_modules(&answer).map_err(|reason| {
            WorkerError::BadResponse(format!(
                "environment {} ({}): GetInstalledModules {reason}. Its metadata is cached under \
                 a hash of its installed modules; without them it could not be told apart from \
                 another environment's, so it is neither read nor cached. Check that D365FO's \
                 user for this server may run SystemNotifications/GetInstalledModules",
                self.client.config().name,
                self.client.base_url().as_str().trim_end_matches('/'),
            ))
        })
    }

    async fn cached<F, Fut>(&self, kind: Kind, id: &str, fill: F) -> Result<Arc<Entry>, WorkerError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Entry, WorkerError>>,
    {
        let version = self.version().await?;
        let key = CacheKey::new(&version.hash, kind, id);
        self.cache.get_or_fill(&key, self.deadline, fill).await
    }

    /// Every data entity.
    pub async fn entities(&self) -> Result<Vec<EntitySummary>, WorkerError> {
        let entry = self
            .cached(Kind::Entities, "", || async {
                Ok(Entry::Found {
                    value: Value::Array(fetch::data_entities(self.client, self.deadline).await?),
                })
            })
            .await?;
        list(&entry, "DataEntities")
    }

    /// The entity called `name`: its public entity name, entity set name or
    /// AOT name, in any letter case.
    pub async fn resolve_entity(&self, name: &str) -> Result<EntitySummary, WorkerError> {
        let entities = self.entities().await?;
        let wanted = name.trim();
        let found = entities.iter().find(|e| {
            [&e.public_entity_name, &e.public_collection_name, &e.name]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(wanted))
        });
        match found {
            Some(e) => Ok(e.clone()),
            None => {
                let query = rank::Query::new(wanted);
                let mut near: Vec<(u32, &str)> = entities
                    .iter()
                    .map(|e| {
                        let names = [
                            e.public_entity_name.as_str(),
                            e.public_collection_name.as_str(),
                            e.name.as_str(),
                        ];
                        (query.best(names), e.public_collection_name.as_str())
                    })
                    .filter(|(score, _)| *score > 0)
                    .collect();
                near.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
                let hint = match near.iter().take(3).map(|(_, n)| *n).collect::<Vec<_>>() {
                    names if names.is_empty() => String::new(),
                    names => format!(" Did you mean {}?", names.join(", ")),
                };
                Err(WorkerError::Missing(format!(
                    "entity {} not found.{hint} Search with d365fo_search_entities.",
                    crate::d365::odata::quote(wanted)
                )))
            }
        }
    }

    /// The `PublicEntities` record of `entity`.
    pub async fn public_entity(&self, entity: &EntitySummary) -> Result<Value, WorkerError> {
        let name = entity.public_entity_name.as_str();
        let entry = self
            .cached(Kind::Entity, name, || async {
                Entry::from_read(fetch::public_entity(self.client, name, self.deadline).await)
            })
            .await?;
        match &*entry {
            Entry::Found { value } => Ok(value.clone()),
            Entry::Missing { .. } => Err(WorkerError::Missing(format!(
                "entity {} is listed in DataEntities but has no public schema \
                 (PublicEntities); it cannot be used through OData",
                crate::d365::odata::quote(name)
            ))),
        }
    }

    /// Every enumeration, names and labels only.
    pub async fn enumerations(&self) -> Result<Vec<EnumSummary>, WorkerError> {
        let entry = self
            .cached(Kind::Enums, "", || async {
                Ok(Entry::Found {
                    value: Value::Array(fetch::enumerations(self.client, self.deadline).await?),
                })
            })
            .await?;
        list(&entry, "PublicEnumerations")
    }

    /// The `PublicEnumerations` record of `name` (members included), or
    /// `None` when D365FO has no such enumeration.
    pub async fn enumeration(&self, name: &str) -> Result<Option<Value>, WorkerError> {
        let entry = self
            .cached(Kind::Enum, name, || async {
                Entry::from_read(fetch::public_enumeration(self.client, name, self.deadline).await)
            })
            .await?;
        Ok(entry.value().cloned())
    }

    /// The text of label `id` in `language`, `None` when D365FO has none.
    /// An id that is not a label reference (no leading `@`) is literal text
    /// already, as D365FO puts in `LabelId` for some objects.
    pub async fn label(&self, id: &str, language: &str) -> Result<Option<String>, WorkerError> {
        let id = id.trim();
        if id.is_empty() {
            return Ok(None);
        }
        if !id.starts_with('@') {
            return Ok(Some(id.to_owned()));
        }
        let language = language.to_ascii_lowercase();
        let version = self.version().await?;
        let key = CacheKey::label(&version.hash, &language, id);
        let entry = self
            .cache
            .get_or_fill(&key, self.deadline, || async {
                Entry::from_read(fetch::label(self.client, id, &language, self.deadline).await)
            })
            .await?;
        Ok(entry.value().and_then(Value::as_str).map(str::to_owned))
    }

    /// The texts of `ids` in `language`, at most [`LABEL_CONCURRENCY`]
    /// requests at a time; duplicates are asked once. A lookup that fails
    /// is recorded in the answer, not returned: one label must not fail a
    /// schema. Only the call's deadline passing fails the whole.
    pub async fn labels(
        &self,
        ids: impl IntoIterator<Item = String>,
        language: &str,
    ) -> Result<LabelTexts, WorkerError> {
        let mut unique: Vec<String> = ids.into_iter().filter(|i| !i.is_empty()).collect();
        unique.sort_unstable();
        unique.dedup();
        let total = unique.len();
        // More labels than run at once take several round trips when cold:
        // worth telling a caller who asked for progress.
        let progress = self
            .progress
            .filter(|p| p.enabled() && total > LABEL_CONCURRENCY);
        let mut texts = stream::iter(unique)
            .map(|id| async move {
                let text = self.label(&id, language).await;
                (id, text)
            })
            .buffer_unordered(LABEL_CONCURRENCY);
        let mut out = LabelTexts::default();
        while let Some((id, text)) = texts.next().await {
            match text {
                Ok(text) => {
                    out.texts.insert(id, text);
                }
                Err(error @ WorkerError::DeadlineExceeded(_)) if self.deadline.is_past() => {
                    return Err(error);
                }
                Err(error) => out.fail(id, error),
            }
            let done = out.texts.len() + out.errors.len();
            if let Some(progress) = progress
                && (done % LABEL_CONCURRENCY == 0 || done == total)
            {
                let message = format!("{done} of {total} labels resolved");
                progress
                    .report(done as f64, Some(total as f64), message)
                    .await;
            }
        }
        Ok(out)
    }

    /// The texts of `ids` this worker holds in memory, without asking the
    /// store or D365FO: for ranking by label where fetching every label
    /// would cost too much.
    pub async fn cached_labels(
        &self,
        ids: impl IntoIterator<Item = String>,
        language: &str,
    ) -> Result<HashMap<String, String>, WorkerError> {
        let version = self.version().await?;
        let language = language.to_ascii_lowercase();
        let mut out = HashMap::new();
        for id in ids {
            let key = CacheKey::label(&version.hash, &language, &id);
            if let Some(text) = self
                .cache
                .peek(&key)
                .await
                .and_then(|e| e.value().and_then(Value::as_str).map(str::to_owned))
            {
                out.insert(id, text);
            }
        }
        Ok(out)
    }

    /// Every action of the environment.
    pub async fn actions(&self) -> Result<Vec<ActionInfo>, WorkerError> {
        let entry = self
            .cached(Kind::Actions, "", || async {
                let xml = fetch::edmx(self.client, self.deadline).await?;
                // Parsing tens of MB is CPU work: off the async threads.
                let actions = tokio::task::spawn_blocking(move || edmx::action_index(&xml))
                    .await
                    .map_err(|e| WorkerError::Internal(format!("the EDMX parser failed: {e}")))?
                    .map_err(WorkerError::BadResponse)?;
                let value = serde_json::to_value(actions)
                    .map_err(|e| WorkerError::Internal(format!("the action index: {e}")))?;
                Ok(Entry::Found { value })
            })
            .await?;
        list(&entry, "the action index")
    }
}

/// A cached list as typed records.
fn list<T: serde::de::DeserializeOwned>(entry: &Entry, what: &str) -> Result<Vec<T>, WorkerError> {
    let value = entry
        .value()
        .ok_or_else(|| WorkerError::BadResponse(format!("{what} is missing")))?;
    Vec::<T>::deserialize(value)
        .map_err(|e| WorkerError::BadResponse(format!("{what} has an unexpected shape: {e}")))
}
