//! [`Breaker`]: stops sending to a D365FO environment that keeps failing,
//! on every worker that shares the store, and lets one probe find out when
//! it is back.
//!
//! ## What counts
//!
//! The client tells the breaker what each exchange says about the
//! environment's health ([`Health`]): no connection, a request that ran
//! into its whole timeout, a reset, or a 500/502/503/504 is a failure; any
//! other answer (2xx, 4xx, 429) shows it is up. Nothing sent (a token that
//! could not be fetched, a deadline already past), a timeout cut short by
//! the caller's deadline and a cancelled call say nothing.
//!
//! ## Opening: counted per worker, shared through the store
//!
//! Each worker counts its own failures since its last success; at least
//! `threshold` of them within `window` (defaults 20 in 10 s) open the
//! breaker. Counting locally costs the store nothing per request; a worker
//! that opens writes `d365mcp:breaker:v1:{base_url}` (the [`Open`] state,
//! with a TTL that outlives the open period and a probe) and announces it on
//! [`CHANNEL`], as `"open {until} {open_ms} {failures} {window_ms}
//! {probes_failed} {key}"`. Every gate keeps a local view, kept current as
//! the throttle gate's is (`super::throttle`): a listener applies the
//! messages for its key, and a timer reads the store every
//! [`RESYNC_INTERVAL`] (every [`REFRESH_INTERVAL`] while not subscribed),
//! so a closed breaker costs a request no store command; only the first
//! request of a worker waits for a read. A later open wins over an earlier
//! one; a close names the end of the open state it closes.
//!
//! ## Open, half-open, closed
//!
//! While open, every call fails at once with a retryable
//! [`WorkerError::CircuitOpen`] whose retry-after is the time left; nothing
//! is sent. Once the time is up, a worker reads the store once more (a
//! probe elsewhere may just have closed or reopened it), and the first call
//! to claim the probe key (`set_if_absent`, TTL the request timeout and a
//! second) is sent as the probe; the others are refused meanwhile, and a
//! worker that found the claim taken asks again after [`REFRESH_INTERVAL`]
//! at the earliest. An answered probe closes the
//! breaker (key deleted, `"closed {until} {key}"` announced); a failed one
//! reopens it for twice as long, up to `max_open_for`.
//!
//! ## A store that is down
//!
//! The breaker is advisory: when the store cannot be reached the worker
//! goes on with its own view (it opens, refuses and probes locally), and a
//! store error never refuses a call.

mod report;
mod state;

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use bytes::Bytes;
use common::{config::BreakerConfig, store::SharedStore};
use futures::{StreamExt, stream::BoxStream};
use tokio::time::Instant;

use self::report::Reported;
use self::state::View;
pub use self::{
    report::{BreakerCounters, Health},
    state::{Message, Open},
};
use super::retry::unix_now_ms;
use crate::error::WorkerError;

/// Key prefix of open breakers; `v1` is the value's format ([`Open`]).
pub const PREFIX: &str = "d365mcp:breaker:v1:";

/// The channel on which breakers are announced opened and closed.
pub const CHANNEL: &str = "d365mcp:breaker:v1:changed";

/// How often a breaker reads the store while it has no subscription; also
/// how long it refuses without asking after finding another worker's probe.
pub const REFRESH_INTERVAL: Duration = super::throttle::REFRESH_INTERVAL;

/// How often a subscribed breaker reads the store anyway (a lost message).
pub const RESYNC_INTERVAL: Duration = super::throttle::RESYNC_INTERVAL;

/// The retry-after of a call refused while a probe runs.
const PROBE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The circuit breaker of one D365FO environment.
pub struct Breaker {
    store: SharedStore,
    config: BreakerConfig,
    probe_ttl: Duration,
    counters: Arc<BreakerCounters>,
    shared: Arc<Shared>,
}

/// What a gate and its listener share; the listener holds it weakly.
struct Shared {
    key: String,
    probe_key: String,
    base_url: String,
    /// The environment's name, the metrics' label.
    environment: String,
    view: parking_lot::Mutex<View>,
    /// The state last shown in the metrics.
    reported: Reported,
    /// Held while reading the store: one read for concurrent callers.
    refreshing: tokio::sync::Mutex<()>,
    /// The subscription to the channel and its task.
    listener: super::listener::Listener,
    /// Whether the resync task was started (the first read starts it).
    resyncing: std::sync::atomic::AtomicBool,
}

/// Leave to send one request; hand it back to [`Breaker::record`].
#[must_use = "record what the request said about the environment"]
pub struct Permit {
    probe: Option<Probe>,
}

/// The probe of a half-open breaker. Dropped unsettled (its call was
/// cancelled), it frees the probe for the next call.
struct Probe {
    open: Open,
    claimed: bool,
    settled: bool,
    shared: Arc<Shared>,
    store: SharedStore,
}

impl Shared {
    /// Shows `view`'s state in the metrics, if it changed.
    fn report(&self, view: &View) {
        self.reported.report(&self.environment, view, unix_now_ms());
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.shared.view.lock().probing = false;
        if self.claimed && !self.settled {
            let (store, key) = (self.store.clone(), self.shared.probe_key.clone());
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { store.delete(&key).await });
            }
        }
    }
}

/// What the store holds.
enum Read {
    Open(Open),
    Absent,
    Unreachable,
}

impl Breaker {
    /// The breaker of the environment named `environment` at `base_url`,
    /// as `config` sets it, with probes claimed for `probe_ttl` (as long as
    /// a request may run).
    pub fn new(
        store: SharedStore,
        environment: &str,
        base_url: &str,
        config: BreakerConfig,
        probe_ttl: Duration,
        counters: Arc<BreakerCounters>,
    ) -> Self {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let key = format!("{PREFIX}{base_url}");
        Self {
            store,
            config,
            probe_ttl,
            counters,
            shared: Arc::new(Shared {
                probe_key: format!("{key}:probe"),
                key,
                base_url,
                environment: environment.to_owned(),
                view: parking_lot::Mutex::new(View::default()),
                reported: Reported::default(),
                refreshing: tokio::sync::Mutex::new(()),
                listener: super::listener::Listener::default(),
                resyncing: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Leave to send a request, or the refusal while the breaker is open
    /// (or half-open with another call probing).
    pub async fn admit(&self) -> Result<Permit, WorkerError> {
        let Some(open) = self.state(false).await else {
            return Ok(Permit { probe: None });
        };
        if let Some(left) = open.left(unix_now_ms()) {
            return Err(self.refuse(&open, left, false));
        }
        {
            let view = self.shared.view.lock();
            let elsewhere = view
                .probe_elsewhere
                .is_some_and(|at| at.elapsed() < REFRESH_INTERVAL);
            if view.probing || elsewhere {
                drop(view);
                return Err(self.refuse(&open, PROBE_RETRY_AFTER, true));
            }
        }
        // Half-open. The store's word first: a probe another worker just
        // sent may have closed or reopened it, and its message may not have
        // arrived yet.
        let Some(open) = self.state(true).await else {
            return Ok(Permit { probe: None });
        };
        if let Some(left) = open.left(unix_now_ms()) {
            return Err(self.refuse(&open, left, false));
        }
        {
            let mut view = self.shared.view.lock();
            if view.probing {
                drop(view);
                return Err(self.refuse(&open, PROBE_RETRY_AFTER, true));
            }
            view.probing = true;
        }
        let mut probe = Probe {
            open,
            claimed: false,
            settled: false,
            shared: Arc::clone(&self.shared),
            store: self.store.clone(),
        };
        let token = Bytes::from(open.until_ms.to_string());
        match self
            .store
            .set_if_absent(&self.shared.probe_key, token, self.probe_ttl)
            .await
        {
            Ok(true) => probe.claimed = true,
            Ok(false) => {
                self.shared.view.lock().probe_elsewhere = Some(Instant::now());
                drop(probe);
                return Err(self.refuse(&open, PROBE_RETRY_AFTER, true));
            }
            Err(error) => {
                tracing::debug!(%error, "probe not claimed in the store; probing from this worker's view");
            }
        }
        BreakerCounters::count(&self.counters.probes);
        tracing::info!(environment = %self.shared.base_url, "sending one probe to a D365FO environment that was failing");
        Ok(Permit { probe: Some(probe) })
    }

    /// Records what the request sent with `permit` said about the
    /// environment: a probe's answer closes or reopens the breaker, a
    /// streak of failures opens it.
    pub async fn record(&self, permit: Permit, health: Health) {
        let Permit { probe } = permit;
        let Some(mut probe) = probe else {
            let opened = {
                let mut view = self.shared.view.lock();
                match health {
                    Health::Answered => {
                        view.succeeded();
                        None
                    }
                    Health::Failed => {
                        view.failed(Instant::now(), self.config.threshold, self.config.window)
                    }
                    Health::Unknown => None,
                }
            };
            if let Some(failures) = opened {
                let open_ms = millis(self.config.open_for);
                self.open(Open {
                    until_ms: unix_now_ms().saturating_add(open_ms),
                    open_ms,
                    failures,
                    window_ms: millis(self.config.window),
                    probes_failed: 0,
                })
                .await;
            }
            return;
        };
        match health {
            Health::Answered => {
                probe.settled = true;
                self.close(probe.open).await;
            }
            Health::Failed => {
                probe.settled = true;
                let reopened = probe
                    .open
                    .reopened(unix_now_ms(), millis(self.config.max_open_for));
                self.open(reopened).await;
            }
            Health::Unknown => {}
        }
        if probe.claimed {
            probe.settled = true;
            if let Err(error) = self.store.delete(&self.shared.probe_key).await {
                tracing::debug!(%error, "could not free the probe; it expires");
            }
        }
    }

    /// Opens (or reopens) the breaker: this view at once, every other
    /// through the store and [`CHANNEL`].
    async fn open(&self, open: Open) {
        {
            let mut view = self.shared.view.lock();
            if !view.learn_open(open) {
                return;
            }
            self.shared.report(&view);
        }
        BreakerCounters::count(&self.counters.opened);
        tracing::warn!(
            environment = %self.shared.base_url,
            failures = open.failures,
            window_ms = open.window_ms,
            probes_failed = open.probes_failed,
            open_ms = open.open_ms,
            "D365FO environment is failing; not sending to it until a probe succeeds"
        );
        // Kept past the end for the probe, so a failed probe can double it.
        let ttl = Duration::from_millis(open.open_ms)
            .saturating_add(self.config.max_open_for)
            .saturating_add(self.probe_ttl);
        let value = Bytes::from(open.encode());
        if let Err(error) = self.store.set(&self.shared.key, value, Some(ttl)).await {
            tracing::warn!(%error, "could not share the open breaker; other workers find out themselves");
        }
        self.announce(Message::Opened(open, &self.shared.key)).await;
    }

    /// Closes the breaker after an answered probe of `open`.
    async fn close(&self, open: Open) {
        {
            let mut view = self.shared.view.lock();
            view.learn_close(open.until_ms);
            self.shared.report(&view);
        }
        BreakerCounters::count(&self.counters.closed);
        tracing::info!(environment = %self.shared.base_url, "D365FO environment answered the probe; sending to it again");
        if let Err(error) = self.store.delete(&self.shared.key).await {
            tracing::warn!(%error, "could not clear the open breaker; it expires");
        }
        self.announce(Message::Closed(open.until_ms, &self.shared.key))
            .await;
    }

    async fn announce(&self, message: Message<'_>) {
        let message = Bytes::from(message.encode());
        if let Err(error) = self.store.publish(CHANNEL, message).await {
            tracing::debug!(%error, "could not announce the breaker; others read it at their refresh");
        }
    }

    /// The refusal of a call while `open`, `left` before it may be retried.
    fn refuse(&self, open: &Open, left: Duration, probing: bool) -> WorkerError {
        BreakerCounters::count(&self.counters.refused);
        WorkerError::CircuitOpen {
            message: report::refusal(&self.shared.base_url, open, left, probing),
            retry_after: left,
        }
    }

    /// The known open state: the view once read (its timer keeps it
    /// current), unless `force`d; otherwise read from the store (once for
    /// all concurrent callers). The first read starts the resync timer.
    async fn state(&self, force: bool) -> Option<Open> {
        if !force {
            let view = self.shared.view.lock();
            if view.refreshed.is_some() {
                self.shared.report(&view);
                return view.open;
            }
        }
        let _refreshing = self.shared.refreshing.lock().await;
        if !force {
            let view = self.shared.view.lock();
            if view.refreshed.is_some() {
                self.shared.report(&view);
                return view.open;
            }
        }
        let open = refresh(&self.store, &self.shared).await;
        use std::sync::atomic::Ordering;
        if !self.shared.resyncing.swap(true, Ordering::AcqRel) {
            let weak = Arc::downgrade(&self.shared);
            tokio::spawn(resync(self.store.clone(), weak));
        }
        open
    }
}

/// Reads the stored state into `shared`'s view, subscribed first: a change
/// is in the read or in a message. Called with `refreshing` held.
async fn refresh(store: &SharedStore, shared: &Arc<Shared>) -> Option<Open> {
    let read = if listen(store, shared).await {
        read(store, &shared.key).await
    } else {
        Read::Unreachable
    };
    let mut view = shared.view.lock();
    match read {
        Read::Open(open) => {
            view.learn_open(open);
        }
        Read::Absent => view.learn_absent(unix_now_ms()),
        Read::Unreachable => {}
    }
    shared.report(&view);
    view.refreshed = Some(Instant::now());
    view.open
}

/// Reads the store into the view on a timer, as the throttle gate does
/// (`super::throttle`: [`RESYNC_INTERVAL`] while subscribed,
/// [`REFRESH_INTERVAL`] while not), until the breaker is dropped: requests
/// go by the view and send nothing to the store.
async fn resync(store: SharedStore, shared: Weak<Shared>) {
    let interval = |shared: &Shared| match shared.listener.is_listening() {
        true => RESYNC_INTERVAL,
        false => REFRESH_INTERVAL,
    };
    super::listener::resync(shared, interval, |shared| {
        let store = store.clone();
        async move {
            let _refreshing = shared.refreshing.lock().await;
            refresh(&store, &shared).await;
        }
    })
    .await;
}

async fn read(store: &SharedStore, key: &str) -> Read {
    match store.get(key).await {
        Ok(Some(bytes)) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(Open::decode)
            .map_or(Read::Absent, Read::Open),
        Ok(None) => Read::Absent,
        Err(error) => {
            tracing::debug!(%error, "breaker state unreadable; going by this worker's view");
            Read::Unreachable
        }
    }
}

/// Subscribes to [`CHANNEL`] and starts the listener unless one runs;
/// `false` when subscribing failed. Called with `refreshing` held.
async fn listen(store: &SharedStore, shared: &Arc<Shared>) -> bool {
    let weak = Arc::downgrade(shared);
    shared
        .listener
        .ensure(store, CHANNEL, "breaker", |messages| apply(messages, weak))
        .await
}

/// Applies the messages for `shared`'s key until the subscription ends (it
/// is renewed at the next refresh) or the gate is dropped.
async fn apply(mut messages: BoxStream<'static, Bytes>, shared: Weak<Shared>) {
    while let Some(message) = messages.next().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match Message::parse(&message) {
            Some(Message::Opened(open, key)) if key == shared.key => {
                let mut view = shared.view.lock();
                view.learn_open(open);
                shared.report(&view);
            }
            Some(Message::Closed(until_ms, key)) if key == shared.key => {
                let mut view = shared.view.lock();
                view.learn_close(until_ms);
                shared.report(&view);
            }
            Some(_) => {}
            None => tracing::debug!(len = message.len(), "malformed breaker message ignored"),
        }
    }
    tracing::debug!("breaker subscription ended; subscribing again at the next refresh");
    if let Some(shared) = shared.upgrade() {
        shared.listener.ended();
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
