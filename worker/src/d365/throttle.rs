//! [`ThrottleGate`]: D365FO's throttling is per identity and environment,
//! so backing off is a decision for every worker, not just the one that was
//! told. A worker that gets a 429 with `Retry-After` records the time until
//! which the environment is closed in the shared store; every worker checks
//! it before sending and waits until then — within the call's deadline — or
//! fails at once with a retryable `throttled` error that says how long.
//!
//! ## The local view
//!
//! Reading the store before every D365FO request would cost a round trip
//! per request, so each gate keeps a local view: the latest known end of the
//! window (Unix ms) and when it was last read from the store. While no
//! window is open a read sends no Redis command at all; the view is kept
//! current in two ways:
//!
//! - **Pub/sub, the source of truth.** [`ThrottleGate::close_for`] sets the
//!   key (with a TTL, for gates that start later) and publishes
//!   `"{until_ms} {key}"` on the one channel [`CHANNEL`] shared by every
//!   window: the end in Unix ms, one space, then the gate's whole store key
//!   (which may itself hold spaces). Each gate listens on it and takes the
//!   later of what it knew and what it hears for its own key; other keys
//!   and malformed messages are ignored.
//! - **Resync, on a timer.** A gate's first request reads the store (so a
//!   window set before the worker started is always seen), subscribes, and
//!   starts a task that reads the store again every [`RESYNC_INTERVAL`]
//!   while the subscription is up and every [`REFRESH_INTERVAL`] while it
//!   is not (subscribing failed, or Redis restarted and ended it: the next
//!   tick subscribes again). Requests never wait for it nor start it, so a
//!   store that is slow or down — a global store in another region
//!   (`--global-redis-url`) — adds nothing to a request's latency, and the
//!   reads do not grow with the traffic: one per interval per gate.
//!
//! A message can be lost with the subscription up (the publisher's PUBLISH
//! failed, a Redis Cluster node failed over between PUBLISH and delivery):
//! the window then reaches this worker at the next resync, at most
//! [`RESYNC_INTERVAL`] late. Meanwhile this worker's requests reach
//! D365FO, whose own 429 answers them and opens (or extends) the window in
//! this worker's view at once — D365FO is protected either way; a lost
//! message costs a few refused requests, never a request sent into a
//! window this worker knows of.
//!
//! A polling gate ([`ThrottleGate::polling`], one per signed-in user) keeps
//! no subscription and no timer (there may be thousands, mostly idle): a
//! request on a view older than [`REFRESH_INTERVAL`] goes by the view and
//! starts a read in the background (one at a time), so such a gate reads
//! the store at most once per interval while it is used, and never when it
//! is not.
//!
//! A refresh subscribes first when no subscription is up, then reads: a
//! window is in the read or in a later message. So the listener starts on
//! the first [`ThrottleGate::wait`], in async code (a gate may be built
//! outside a runtime). Delivery is asynchronous: another worker's window
//! reaches a view when the listener has run, typically within a round trip
//! of the publish.
//!
//! ## Metrics
//!
//! A window counts (`d365mcp_upstream_throttle_windows_total`) when this
//! gate's view goes from open to closed — its own 429, another worker's
//! message, or a window read from the store — not when a known window is
//! extended. `d365mcp_upstream_throttle_window_open` is set to 1 then, and
//! back to 0 by a timer task at the window's end (later if it was
//! extended meanwhile), so it falls back even when no request comes.
//!
//! The gate is advisory: when the store cannot be read, requests go out and
//! D365FO's own 429 still protects it. A failed subscribe or read counts as
//! a refresh (the read is skipped when subscribing failed: the store is
//! unreachable), so a store that is down costs one timeout per interval in
//! the background, and the first request of a gate one timeout.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use bytes::Bytes;
use common::store::SharedStore;
use futures::{StreamExt, stream::BoxStream};
use tokio::time::Instant;

use super::retry::{Deadline, unix_now_ms};
use crate::error::WorkerError;

/// Key prefix of throttle windows; `v1` is the value's format (Unix ms).
pub const PREFIX: &str = "d365mcp:throttle:v1:";

/// The pub/sub channel on which every closed window is announced, as
/// `"{until_ms} {key}"` (see the module docs).
pub const CHANNEL: &str = "d365mcp:throttle:v1:closed";

/// How often a gate reads the store while it has no subscription: a
/// polling gate in use, or a subscribing gate whose subscription is down.
///
/// This is the staleness bound when pub/sub fails: a window published while
/// this gate's subscription was down (Redis restarting, subscribe failing)
/// is seen at most this late.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// How often a subscribed gate reads the store anyway, on its own timer:
/// the bound on how late a window whose message was lost is seen (see the
/// module docs for why that is safe). With the message, a window is seen
/// as soon as it arrives.
pub const RESYNC_INTERVAL: Duration = Duration::from_secs(5);

/// The shared back-off window of one environment and identity.
pub struct ThrottleGate {
    store: SharedStore,
    shared: Arc<Shared>,
}

/// What a gate and its listener share; the listener holds it weakly, so a
/// dropped gate ends its listener.
struct Shared {
    key: String,
    /// The environment's name, the metrics' label.
    environment: String,
    view: parking_lot::Mutex<View>,
    /// Held while reading the store, so concurrent requests on a stale view
    /// share one read instead of each sending one.
    refreshing: tokio::sync::Mutex<()>,
    /// Whether a background read is under way (or about to be).
    background: std::sync::atomic::AtomicBool,
    /// The subscription to the channel and its task.
    listener: super::listener::Listener,
    /// Whether the gate subscribes at all ([`ThrottleGate::polling`]).
    subscribes: bool,
    /// How often a subscribed gate reads the store ([`RESYNC_INTERVAL`]).
    resync: Duration,
    /// Whether the resync task was started (a subscribing gate's first
    /// read starts it).
    resyncing: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct View {
    /// The latest known end of the window, Unix ms.
    until_ms: Option<u64>,
    /// When the store was last read (or tried); `None` forces a read.
    refreshed: Option<Instant>,
}

impl View {
    /// The known end, if the view is fresh enough to use without a read.
    fn fresh(&self) -> Option<Option<u64>> {
        self.refreshed
            .is_some_and(|at| at.elapsed() < REFRESH_INTERVAL)
            .then_some(self.until_ms)
    }

    /// Takes `until_ms` when later than the known end; `true` when it
    /// closes a view that was open at `now_ms` (a new window, not a longer
    /// one).
    fn learn(&mut self, until_ms: u64, now_ms: u64) -> bool {
        let was_open = self.until_ms.is_none_or(|known| known <= now_ms);
        self.until_ms = Some(self.until_ms.map_or(until_ms, |known| known.max(until_ms)));
        was_open && until_ms > now_ms
    }
}

impl Shared {
    /// Learns of a window ending at `until_ms` (see the module docs'
    /// Metrics).
    fn learn(self: &Arc<Self>, until_ms: u64) {
        let mut view = self.view.lock();
        if !view.learn(until_ms, unix_now_ms()) {
            return;
        }
        // Under the lock, as the timer clears it: a window that ends while
        // a new one opens leaves the gauge at 1.
        crate::metrics::throttle_window_opened(&self.environment);
        drop(view);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let shared = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let left = {
                    let view = shared.view.lock();
                    let left = view.until_ms.and_then(|u| u.checked_sub(unix_now_ms()));
                    match left.filter(|&ms| ms > 0) {
                        Some(ms) => ms,
                        None => {
                            crate::metrics::throttle_window_ended(&shared.environment);
                            return;
                        }
                    }
                };
                drop(shared);
                tokio::time::sleep(Duration::from_millis(left)).await;
            }
        });
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // No timer can clear the gauge of a gate that is gone.
        let view = self.view.get_mut();
        if view.until_ms.is_some_and(|until| until > unix_now_ms()) {
            crate::metrics::throttle_window_ended(&self.environment);
        }
    }
}

impl ThrottleGate {
    /// The gate of the environment named `environment` at `base_url` as
    /// `identity` (the client id, or `anonymous` when no token is sent).
    pub fn new(store: SharedStore, environment: &str, base_url: &str, identity: &str) -> Self {
        Self::build(store, environment, base_url, identity, true)
    }

    /// A gate that reads the store (every [`REFRESH_INTERVAL`] at most) but
    /// keeps no subscription: a Redis subscription is a connection of its
    /// own, too many for one gate per signed-in user (on-behalf-of), so
    /// another worker's window reaches a user's gate up to one interval
    /// late. Its own 429s it learns at once, and still announces.
    pub fn polling(store: SharedStore, environment: &str, base_url: &str, identity: &str) -> Self {
        Self::build(store, environment, base_url, identity, false)
    }

    fn build(
        store: SharedStore,
        environment: &str,
        base_url: &str,
        identity: &str,
        subscribes: bool,
    ) -> Self {
        Self {
            store,
            shared: Arc::new(Shared {
                key: format!("{PREFIX}{}|{identity}", base_url.trim_end_matches('/')),
                environment: environment.to_owned(),
                view: parking_lot::Mutex::new(View::default()),
                refreshing: tokio::sync::Mutex::new(()),
                background: std::sync::atomic::AtomicBool::new(false),
                listener: super::listener::Listener::default(),
                subscribes,
                resync: RESYNC_INTERVAL,
                resyncing: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// The same gate, reading the store every `resync` while subscribed.
    #[cfg(test)]
    fn with_resync(mut self, resync: Duration) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.resync = resync;
        }
        self
    }

    /// Waits while the environment is closed, if the deadline allows;
    /// otherwise fails with `throttled` and the time left to wait.
    pub async fn wait(&self, deadline: Deadline) -> Result<(), WorkerError> {
        let until_ms = self.until_ms().await;
        let Some(left) = until_ms.and_then(|until| until.checked_sub(unix_now_ms())) else {
            return Ok(());
        };
        let left = Duration::from_millis(left);
        if deadline.remaining().is_some_and(|time| time < left) {
            return Err(WorkerError::Throttled {
                retry_after: Some(left),
            });
        }
        let wait_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            wait_ms,
            "D365FO throttled this environment; waiting as every worker does"
        );
        crate::call_log::emit(
            "warning",
            serde_json::json!({
                "message": format!("D365FO is throttling this environment; waiting {wait_ms} ms before sending"),
                "waitMs": wait_ms,
            }),
        );
        tokio::time::sleep(left).await;
        Ok(())
    }

    /// Closes the environment for `retry_after`, for every worker: this
    /// gate's view at once, the others' through [`CHANNEL`] or, failing
    /// that, their next refresh.
    pub async fn close_for(&self, retry_after: Duration) {
        let until =
            unix_now_ms().saturating_add(u64::try_from(retry_after.as_millis()).unwrap_or(0));
        self.shared.learn(until);
        let value = Bytes::from(until.to_string());
        if let Err(error) = self
            .store
            .set(&self.shared.key, value, Some(retry_after))
            .await
        {
            tracing::warn!(%error, "could not share D365FO's Retry-After with other workers");
        }
        let message = Bytes::from(format!("{until} {}", self.shared.key));
        if let Err(error) = self.store.publish(CHANNEL, message).await {
            tracing::debug!(%error, "could not announce the throttle window; others read it at their refresh");
        }
    }

    /// The known end of the window: a subscribing gate's view once it has
    /// been read (its timer keeps it current); a polling gate's view while
    /// fresh, and once read, with a read started in the background when it
    /// is stale; on a view never read, read from the store (once for all
    /// concurrent callers).
    async fn until_ms(&self) -> Option<u64> {
        let known = {
            let view = self.shared.view.lock();
            if self.shared.subscribes && view.refreshed.is_some() {
                return view.until_ms;
            }
            if let Some(until) = view.fresh() {
                return until;
            }
            view.refreshed.map(|_| view.until_ms)
        };
        if let Some(until) = known {
            self.refresh_in_background();
            return until;
        }
        let _refreshing = self.shared.refreshing.lock().await;
        if let Some(until) = self.shared.view.lock().fresh() {
            return until;
        }
        let until = refresh(&self.store, &self.shared).await;
        use std::sync::atomic::Ordering;
        if self.shared.subscribes && !self.shared.resyncing.swap(true, Ordering::AcqRel) {
            let weak = Arc::downgrade(&self.shared);
            tokio::spawn(resync(self.store.clone(), weak));
        }
        until
    }

    /// Starts a read of the stored window on a task of its own, unless one
    /// is under way.
    fn refresh_in_background(&self) {
        use std::sync::atomic::Ordering;
        if self.shared.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let (store, shared) = (self.store.clone(), Arc::clone(&self.shared));
        tokio::spawn(async move {
            {
                let _refreshing = shared.refreshing.lock().await;
                if shared.view.lock().fresh().is_none() {
                    refresh(&store, &shared).await;
                }
            }
            shared.background.store(false, Ordering::Release);
        });
    }
}

/// Reads the window from `store` into `shared`'s view, subscribing first:
/// a window is then either in the read or in a message, never in neither.
/// The caller holds `shared.refreshing`, so two callers never subscribe at
/// once; called from async code only (it spawns on the current runtime).
async fn refresh(store: &SharedStore, shared: &Arc<Shared>) -> Option<u64> {
    let weak = Arc::downgrade(shared);
    let listening = !shared.subscribes
        || shared
            .listener
            .ensure(store, CHANNEL, "throttle", |messages| apply(messages, weak))
            .await;
    let read = if listening {
        read(store, &shared.key).await
    } else {
        // The store is unreachable: one timeout per refresh is enough.
        None
    };
    if let Some(until) = read {
        shared.learn(until);
    }
    let mut view = shared.view.lock();
    view.refreshed = Some(Instant::now());
    view.until_ms
}

/// Reads the store into a subscribing gate's view on a timer (see the
/// module docs), until the gate is dropped.
async fn resync(store: SharedStore, shared: Weak<Shared>) {
    let interval = |shared: &Shared| match shared.listener.is_listening() {
        true => shared.resync,
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

/// The window's end as stored under `key`, if any and readable.
async fn read(store: &SharedStore, key: &str) -> Option<u64> {
    match store.get(key).await {
        Ok(Some(bytes)) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.parse::<u64>().ok()),
        Ok(None) => None,
        Err(error) => {
            tracing::debug!(%error, "throttle window unreadable; sending anyway");
            None
        }
    }
}

/// Applies the messages for `shared`'s key until the subscription ends (it
/// is then renewed at the next refresh) or the gate is dropped.
async fn apply(mut messages: BoxStream<'static, Bytes>, shared: Weak<Shared>) {
    while let Some(message) = messages.next().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match parse(&message) {
            Some((until, key)) if key == shared.key => shared.learn(until),
            Some(_) => {}
            None => tracing::debug!(len = message.len(), "malformed throttle message ignored"),
        }
    }
    tracing::debug!("throttle subscription ended; subscribing again at the next refresh");
    if let Some(shared) = shared.upgrade() {
        shared.listener.ended();
    }
}

/// `"{until_ms} {key}"` → `(until_ms, key)`.
fn parse(message: &[u8]) -> Option<(u64, &str)> {
    let (until, key) = std::str::from_utf8(message).ok()?.split_once(' ')?;
    let until = until.parse().ok()?;
    (!key.is_empty()).then_some((until, key))
}

#[cfg(test)]
mod tests;
