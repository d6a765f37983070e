//! The sessions this edge holds in memory, and their eviction when idle.
//!
//! rmcp runs a session held here as two tasks with about ten channels, the
//! handler and the client's `initialize` (measured in `docs/BENCHMARKS.md`:
//! about 108 KB a session). An idle session needs none of it: its record,
//! event logs and caps slots are in the store, and its next request restores
//! it on whichever edge gets it — here too. So a copy with no stream open
//! (no request being answered, no `GET` stream, no resumption) and no
//! request for [`Held::evict_after`] is closed, and costs this edge nothing
//! until it is used again.
//!
//! rmcp tells the session manager when a copy's service has stopped
//! (`close_session`), also for a copy closed here, and possibly after a newer
//! copy of the same session was restored. `closing` counts the copies closed
//! here whose notice is still to come, so that a late notice does not end
//! the newer copy.
//!
//! Dropping copies frees their memory to the allocator, which keeps it in
//! the pages of the threads that allocated it (measured in
//! `docs/BENCHMARKS.md`: an edge's resident memory did not fall after 2,000
//! sessions were evicted, though less than 2 MB of heap was still in use).
//! [`released`] counts the sweeps after which copies had been dropped
//! (evicted, deleted, stopped), one tick later, when the closed copies have
//! stopped: the binary's allocator (`src/allocator.rs`) has each runtime
//! thread give its free pages back to the system when it next goes idle
//! after one.

use std::{
    collections::HashMap,
    sync::{
        Arc, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use parking_lot::Mutex;
use rmcp::{RoleServer, service::Peer, transport::streamable_http_server::session::SessionId};

use crate::metrics;

/// Sweeps in this process after which copies had been dropped.
static RELEASED: AtomicU64 = AtomicU64::new(0);

/// How many times the eviction sweeps of this process's edges have found
/// copies of sessions dropped (evicted, deleted, stopped) since their last
/// tick, counted a tick later, when the copies have stopped and their
/// memory is free.
pub fn released() -> u64 {
    RELEASED.load(Ordering::Relaxed)
}

/// One copy of a session in this edge's memory.
struct Copy {
    /// Counts the session active here while the copy lives.
    open: metrics::SessionOpen,
    /// Tells this copy from a later one of the same session.
    generation: u64,
    last_used: Instant,
    /// Streams open (request answers, resumptions, the `GET` stream).
    streams: u32,
    /// The session's MCP peer here, for notifications to its `GET` stream.
    peer: Option<Peer<RoleServer>>,
}

#[derive(Default)]
struct State {
    copies: HashMap<SessionId, Copy>,
    /// Copies closed here whose `close_session` from rmcp is still to come.
    closing: HashMap<SessionId, u32>,
    next_generation: u64,
    /// Whether a copy was dropped since the sweep last looked.
    dropped: bool,
}

/// The copies held here.
pub struct Held {
    state: Mutex<State>,
    /// How long a copy with no stream open stays after its last use.
    pub evict_after: Duration,
}

impl Held {
    pub fn new(evict_after: Duration) -> Self {
        Self {
            state: Mutex::default(),
            evict_after,
        }
    }

    /// Counts session `id` held here from now (replacing a copy, never expected).
    pub fn hold(&self, id: &SessionId, version: metrics::SharedVersion) {
        let mut state = self.state.lock();
        state.next_generation += 1;
        let copy = Copy {
            open: metrics::SessionOpen::new(metrics::SessionKind::Session, version),
            generation: state.next_generation,
            last_used: Instant::now(),
            streams: 0,
            peer: None,
        };
        state.copies.insert(id.clone(), copy);
    }

    pub fn contains(&self, id: &SessionId) -> bool {
        self.state.lock().copies.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.state.lock().copies.len()
    }

    /// Notes the version session `id` opened with.
    pub fn set_version(&self, id: &SessionId, version: &'static str) {
        if let Some(copy) = self.state.lock().copies.get(id) {
            copy.open.set_version(version);
        }
    }

    /// Notes a request for session `id`: its copy here stays a while longer.
    pub fn used(&self, id: &SessionId) {
        if let Some(copy) = self.state.lock().copies.get_mut(id) {
            copy.last_used = Instant::now();
        }
    }

    /// Keeps session `id`'s copy here while the returned guard lives.
    pub fn stream(self: &Arc<Self>, id: &SessionId) -> Streaming {
        let generation = self.state.lock().copies.get_mut(id).map(|copy| {
            copy.streams += 1;
            copy.last_used = Instant::now();
            copy.generation
        });
        Streaming {
            held: Arc::downgrade(self),
            id: id.clone(),
            generation,
        }
    }

    pub fn set_peer(&self, id: &SessionId, peer: Peer<RoleServer>) {
        if let Some(copy) = self.state.lock().copies.get_mut(id) {
            copy.peer = Some(peer);
        }
    }

    pub fn peer(&self, id: &SessionId) -> Option<Peer<RoleServer>> {
        self.state.lock().copies.get(id)?.peer.clone()
    }

    /// The peers of the sessions for which `pick` says yes.
    pub fn peers(&self, pick: impl Fn(&SessionId) -> bool) -> Vec<(SessionId, Peer<RoleServer>)> {
        let state = self.state.lock();
        state
            .copies
            .iter()
            .filter(|(id, _)| pick(id))
            .filter_map(|(id, copy)| Some((id.clone(), copy.peer.clone()?)))
            .collect()
    }

    /// Forgets session `id`'s copy, which the caller closes, ending as
    /// `reason`; `false` when none was held.
    pub fn release(&self, id: &SessionId, reason: metrics::EndReason) -> bool {
        let mut state = self.state.lock();
        let Some(mut copy) = state.copies.remove(id) else {
            return false;
        };
        copy.open.ends_as(reason);
        *state.closing.entry(id.clone()).or_default() += 1;
        state.dropped = true;
        true
    }

    /// rmcp's notice that a copy of session `id` stopped: `true` when it is
    /// the current copy (which stopped by itself and is forgotten now),
    /// `false` when it is one closed here before.
    pub fn stopped(&self, id: &SessionId) -> bool {
        let mut state = self.state.lock();
        if let Some(n) = state.closing.get_mut(id) {
            *n -= 1;
            if *n == 0 {
                state.closing.remove(id);
            }
            return false;
        }
        state.dropped |= state.copies.remove(id).is_some();
        true
    }

    /// Forgets and returns the copies idle for [`Self::evict_after`] with no
    /// stream open; the caller closes them.
    fn take_idle(&self) -> Vec<SessionId> {
        let mut state = self.state.lock();
        let idle: Vec<SessionId> = state
            .copies
            .iter()
            .filter(|(_, c)| c.streams == 0 && c.last_used.elapsed() >= self.evict_after)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &idle {
            state.copies.remove(id);
            *state.closing.entry(id.clone()).or_default() += 1;
        }
        state.dropped |= !idle.is_empty();
        idle
    }

    /// Closes idle copies with `close` until this `Held` is dropped, looking
    /// a few times per [`Self::evict_after`].
    pub async fn evict<F, Fut>(held: Weak<Self>, close: F)
    where
        F: Fn(SessionId) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let every = match held.upgrade() {
            Some(held) => {
                (held.evict_after / 4).clamp(Duration::from_millis(50), Duration::from_secs(30))
            }
            None => return,
        };
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut dropped = false;
        loop {
            tick.tick().await;
            // The copies dropped before the last tick have stopped by now.
            if std::mem::take(&mut dropped) {
                RELEASED.fetch_add(1, Ordering::Relaxed);
            }
            let Some(idle) = held.upgrade().map(|held| held.take_idle()) else {
                return;
            };
            if !idle.is_empty() {
                tracing::debug!(sessions = idle.len(), "idle sessions evicted from memory");
            }
            for id in idle {
                close(id).await;
            }
            match held.upgrade() {
                Some(held) => dropped = std::mem::take(&mut held.state.lock().dropped),
                None => return,
            }
        }
    }
}

/// An open stream of a session, which keeps its copy here.
pub struct Streaming {
    held: Weak<Held>,
    id: SessionId,
    /// `None` when no copy was held.
    generation: Option<u64>,
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let (Some(held), Some(generation)) = (self.held.upgrade(), self.generation) else {
            return;
        };
        let mut state = held.state.lock();
        if let Some(copy) = state.copies.get_mut(&self.id)
            && copy.generation == generation
        {
            copy.streams = copy.streams.saturating_sub(1);
            copy.last_used = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SessionId {
        SessionId::from(s)
    }

    #[test]
    fn only_idle_copies_without_streams_are_evicted() {
        let held = Arc::new(Held::new(Duration::ZERO));
        held.hold(&id("a"), Default::default());
        held.hold(&id("b"), Default::default());
        let stream = held.stream(&id("b"));
        assert_eq!(held.take_idle(), vec![id("a")]);
        assert!(held.take_idle().is_empty());
        drop(stream);
        assert_eq!(held.take_idle(), vec![id("b")]);
    }

    #[tokio::test(start_paused = true)]
    async fn copies_dropped_are_counted_a_tick_later() {
        // Idle at once; looked at every 50 ms.
        let held = Arc::new(Held::new(Duration::ZERO));
        held.hold(&id("a"), Default::default());
        let closed = Arc::new(Mutex::new(Vec::new()));
        let sweep = tokio::spawn(Held::evict(Arc::downgrade(&held), {
            let closed = Arc::clone(&closed);
            move |id| {
                closed.lock().push(id);
                async {}
            }
        }));
        let before = released();
        tokio::time::sleep(Duration::from_millis(75)).await;
        assert_eq!(*closed.lock(), vec![id("a")], "evicted at the first tick");
        assert!(released() > before, "counted at the second");
        sweep.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_copy_released_otherwise_counts_too() {
        // Never idle here; looked at every 30 s.
        let held = Arc::new(Held::new(Duration::from_secs(3600)));
        held.hold(&id("a"), Default::default());
        let sweep = tokio::spawn(Held::evict(Arc::downgrade(&held), |_| async {}));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = released();
        assert!(held.release(&id("a"), metrics::EndReason::Closed));
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert!(released() > before);
        sweep.abort();
    }

    #[test]
    fn a_late_stop_notice_spares_the_newer_copy() {
        let held = Arc::new(Held::new(Duration::ZERO));
        held.hold(&id("a"), Default::default());
        assert!(held.release(&id("a"), metrics::EndReason::Closed));
        // Restored before rmcp's notice for the closed copy came.
        held.hold(&id("a"), Default::default());
        assert!(!held.stopped(&id("a")));
        assert!(held.contains(&id("a")));
        // The newer copy's own stop is its end.
        assert!(held.stopped(&id("a")));
        assert!(!held.contains(&id("a")));
    }

    #[test]
    fn a_stream_of_an_older_copy_does_not_count_for_the_newer() {
        let held = Arc::new(Held::new(Duration::ZERO));
        held.hold(&id("a"), Default::default());
        let old = held.stream(&id("a"));
        held.release(&id("a"), metrics::EndReason::Closed);
        held.hold(&id("a"), Default::default());
        let new = held.stream(&id("a"));
        drop(old);
        assert!(
            held.take_idle().is_empty(),
            "the newer copy's stream is open"
        );
        drop(new);
        assert_eq!(held.take_idle(), vec![id("a")]);
    }
}
