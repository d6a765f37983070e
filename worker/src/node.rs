//! [`Node`]: what one worker process shares between calls — its D365FO
//! environments (each with a pooled client and a token cache), the metadata
//! cache and the shared stores. Its statistics are the Prometheus families
//! of `common::metrics` (filled through `crate::metrics`).
//!
//! # Regional and global state
//!
//! A region is a complete cluster with its own store (`--redis-url`):
//! membership, sessions, rate limits, the metadata cache, breakers and
//! metrics stay there. What guards the one D365FO environment that several
//! regions call goes to [`Node::global`] (`--global-redis-url`) when one is
//! configured — without it, to the regional store, as in a single region:
//!
//! - write claims ([`crate::d365::write_once`]) and the records of keyed
//!   writes ([`crate::replay`]): a client that fails over to another region
//!   and resends a write finds its first attempt there, so the write is not
//!   applied twice;
//! - D365FO's throttle windows ([`crate::d365::throttle`]): D365FO limits
//!   its callers per environment and identity, not per region, so a 429
//!   seen in one region holds back the others.
//!
//! A user's own D365FO tokens (on-behalf-of, [`crate::d365::auth::obo`])
//! stay in this worker's memory only, never in either store.
//!
//! The circuit breaker stays regional: it follows whether D365FO answers
//! this region, and a network fault may cut off one region only.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use common::{config::WorkerConfig, store::SharedStore};

use crate::{
    cache::MetadataCache,
    d365::{
        D365Client,
        auth::{TokenProvider, obo::OnBehalfOf},
        breaker::BreakerCounters,
    },
    error::WorkerError,
};

/// Default of [`Node::max_result_bytes`]: most bytes of row JSON (or of a
/// document) one call returns. `tools::output` carries a result twice (text
/// and structured), the text escaped, so this stays well under a quarter of
/// [`crate::MAX_MESSAGE_BYTES`].
pub const MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;

/// How long an idle pooled connection to D365FO is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// One configured D365FO environment.
pub struct Environment {
    /// Its name inside the cluster.
    pub name: String,
    /// Its HTTP client, tokens included.
    pub client: D365Client,
}

/// A worker's shared state.
pub struct Node {
    /// This worker's name in statistics: the host name (a pod's name under
    /// Kubernetes) and the process id.
    pub id: String,
    /// When the node was built.
    pub started: std::time::Instant,
    /// Environments by name.
    pub environments: BTreeMap<String, Arc<Environment>>,
    /// The environment of calls that name none.
    pub default_environment: String,
    /// Metadata and labels.
    pub cache: MetadataCache,
    /// The region's shared store.
    pub store: SharedStore,
    /// Where write claims, keyed write records and throttle windows live:
    /// the global store shared by every region, or [`Node::store`] when
    /// none is configured.
    pub global: SharedStore,
    /// What this node's circuit breakers did (opens, refusals, probes,
    /// closes), across its environments: exact per node, for tests; an
    /// operator reads `d365mcp_breaker_*` instead.
    pub breakers: Arc<BreakerCounters>,
    /// The configuration the node was built from (secrets stay wrapped).
    pub config: WorkerConfig,
    /// Most rows a query returns per call.
    pub max_rows: usize,
    /// Most bytes of row JSON a call returns.
    pub max_result_bytes: usize,
    /// Keyed writes running on tasks of their own.
    pub detached: crate::detached::Detached,
}

impl Node {
    /// Builds one shared HTTP client (pooled, with the configured timeouts)
    /// and a client with its token provider per environment; `store` is
    /// the region's, `global` the one every region shares (the same store
    /// in a single region).
    pub fn new(
        config: WorkerConfig,
        store: SharedStore,
        global: SharedStore,
    ) -> Result<Self, WorkerError> {
        crate::metrics::init(&config);
        let http = reqwest::Client::builder()
            .user_agent(concat!("d365mcp/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(POOL_IDLE)
            .build()
            .map_err(|e| WorkerError::Setup(format!("HTTP client: {e}")))?;
        let breakers: Arc<BreakerCounters> = Arc::default();
        let mut environments = BTreeMap::new();
        for d365 in &config.environments {
            let (auth, obo) = match &d365.credentials {
                Some(credentials) => (
                    TokenProvider::client_credentials(credentials, d365.scope(), &http)?,
                    OnBehalfOf::new(credentials, d365.scope(), &http)?,
                ),
                None => (TokenProvider::none(), None),
            };
            let client = D365Client::new(http.clone(), d365.clone(), auth, config.request_timeout)
                .with_on_behalf_of(obo)
                .with_shared_throttling(global.clone())
                .with_circuit_breaker(store.clone(), &config.breaker, Arc::clone(&breakers));
            let environment = Environment {
                name: d365.name.clone(),
                client,
            };
            environments.insert(d365.name.clone(), Arc::new(environment));
        }
        if !environments.contains_key(&config.default_environment) {
            return Err(WorkerError::Setup(format!(
                "the default environment `{}` is not among the configured ones ({})",
                config.default_environment,
                names(&environments)
            )));
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| "worker".into());
        Ok(Self {
            id: format!("{}-{}", host.trim(), std::process::id()),
            started: std::time::Instant::now(),
            default_environment: config.default_environment.clone(),
            environments,
            cache: MetadataCache::new(config.cache.clone(), Some(store.clone())),
            store,
            global,
            breakers,
            max_rows: config.max_rows.max(1),
            max_result_bytes: MAX_RESULT_BYTES,
            detached: crate::detached::Detached::default(),
            config,
        })
    }

    /// The environment `asked` names; empty means the default. The error
    /// lists the configured names, so a model can correct itself.
    pub fn environment(&self, asked: &str) -> Result<&Arc<Environment>, String> {
        let asked = asked.trim();
        let name = if asked.is_empty() {
            self.default_environment.as_str()
        } else {
            asked
        };
        self.environments.get(name).ok_or_else(|| {
            format!(
                "`environment` {} is not configured; configured environments: {}",
                crate::d365::odata::quote(&common::clip::clip(name).to_string()),
                names(&self.environments)
            )
        })
    }
}

fn names(environments: &BTreeMap<String, Arc<Environment>>) -> String {
    environments
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
