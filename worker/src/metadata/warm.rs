//! The warm-up a worker runs at start for each configured environment: the
//! version hash, the entity list and the enumeration list, so the first
//! searches of the day do not wait on D365FO. Cheap when another worker
//! already did it: every step is a cache read then.
//!
//! Labels, schemas and the action index are left to the first call that
//! needs them: warming them would cost thousands of requests (labels,
//! schemas) or a document of tens of MB (actions) for entries most
//! environments never use.

use serde_json::{Value, json};

use super::Metadata;
use crate::error::WorkerError;

/// Steps reported.
const STEPS: u64 = 3;

/// Called after each step with (steps done, steps in all, what was done).
pub type ProgressFn<'a> = &'a (dyn Fn(u64, u64, &str) + Send + Sync);

/// Warms `meta`'s environment; returns what it found. Dropping the future
/// stops it between (or within) requests; nothing half-done is cached.
pub async fn warm_up(
    meta: &Metadata<'_>,
    progress: Option<ProgressFn<'_>>,
) -> Result<Value, WorkerError> {
    let started = tokio::time::Instant::now();
    let report = |done: u64, message: &str| {
        if let Some(progress) = progress {
            progress(done, STEPS, message);
        }
    };
    let version = meta.version().await?;
    report(
        1,
        &format!(
            "environment version {} ({} modules)",
            version.hash,
            version.modules.len()
        ),
    );
    let entities = meta.entities().await?;
    report(2, &format!("{} data entities", entities.len()));
    let enums = meta.enumerations().await?;
    report(3, &format!("{} enumerations", enums.len()));
    Ok(json!({
        "version_hash": &*version.hash,
        "modules": version.modules.len(),
        "entities": entities.len(),
        "enumerations": enums.len(),
        "elapsed_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }))
}
