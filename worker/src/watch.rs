//! Watching each environment's version, so that clients hear of a D365FO
//! service update: every `D365MCP_CACHE_VERSION_REFRESH` each environment's
//! version is read (through the cache, so at most one `GetInstalledModules`
//! per refresh interval); when it differs from the last one this worker saw,
//! the change is published once for the cluster (`common::notify`).

use std::collections::HashMap;

use bytes::Bytes;
use common::notify::{CLAIM_TTL, ENVIRONMENT_VERSIONS, VersionChanged, claim_key};

use crate::{Worker, d365::Deadline};

impl Worker {
    /// Watches every environment's version until dropped.
    pub async fn watch_versions(&self) {
        let node = self.node();
        let mut seen: HashMap<String, String> = HashMap::new();
        loop {
            for (name, env) in &node.environments {
                let meta = crate::metadata::Metadata {
                    client: &env.client,
                    cache: &node.cache,
                    deadline: Deadline::NONE,
                    progress: None,
                };
                let Ok(version) = meta.version().await else {
                    continue; // logged by the cache; the next round tries again
                };
                let hash = version.hash.to_string();
                let previous = seen.insert(name.clone(), hash.clone());
                if previous.is_some_and(|p| p != hash) {
                    self.announce(name, &hash).await;
                }
            }
            tokio::time::sleep(node.cache.config().version_refresh).await;
        }
    }

    async fn announce(&self, environment: &str, version: &str) {
        let node = self.node();
        match node
            .store
            .set_if_absent(
                &claim_key(environment, version),
                Bytes::from_static(b"1"),
                CLAIM_TTL,
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => return, // another worker announced it
            Err(e) => {
                tracing::warn!(environment, error = %e, "version change not announced");
                return;
            }
        }
        let change = VersionChanged {
            environment: environment.to_owned(),
            is_default: environment == node.default_environment,
            version: version.to_owned(),
        };
        let Ok(payload) = serde_json::to_vec(&change) else {
            return;
        };
        match node
            .store
            .publish(ENVIRONMENT_VERSIONS, Bytes::from(payload))
            .await
        {
            Ok(edges) => tracing::info!(environment, version, edges, "version change announced"),
            Err(e) => tracing::warn!(environment, error = %e, "version change not announced"),
        }
    }
}
