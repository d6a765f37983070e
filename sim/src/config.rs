//! What a simulator instance is started with.

/// Settings of one simulator instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Largest page a collection read returns before it answers with an
    /// `@odata.nextLink` (D365FO uses 10,000). Values below 1 act as 1.
    pub max_page_size: usize,
    /// The caller's default legal entity: company-specific sets return only
    /// its rows unless the query says `cross-company=true`. Case-insensitive.
    pub default_company: String,
    /// Seed of the generated data; the same seed gives the same rows.
    pub seed: u64,
    /// How much data to generate (`--scale`).
    pub scale: crate::data::Scale,
    /// The token endpoint's tenant and clients, and how D365FO endpoints
    /// check bearer tokens (default: no token needed).
    pub auth: crate::auth::AuthConfig,
    /// Faults at start-up; the admin API changes them at run time.
    pub faults: crate::faults::FaultConfig,
    /// Finish a request whose caller went away, as D365FO does, instead of
    /// dropping it where it stands (`--finish-abandoned`). Off by default:
    /// a dropped request that changes nothing is kinder to load tests; the
    /// at-most-once tests turn it on.
    pub finish_abandoned: bool,
    /// Record every write that reaches the application, with its answer,
    /// for `GET /_sim/journal` (`--journal`; see `journal`). Off by default.
    pub journal: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            max_page_size: 10_000,
            default_company: "usmf".to_owned(),
            seed: 365,
            scale: crate::data::Scale::default(),
            auth: crate::auth::AuthConfig::default(),
            faults: crate::faults::FaultConfig::default(),
            finish_abandoned: false,
            journal: false,
        }
    }
}
