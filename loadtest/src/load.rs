//! Generating load: open loop (arrivals on a fixed schedule, latency from
//! the intended send time) and closed loop (N clients back to back). Both
//! run "users": a client of the scenario's era with its own session state.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use rand::{SeedableRng, rngs::StdRng};
use tokio::{sync::Mutex, task::JoinSet};

use crate::{
    client::{Client, Http},
    config::{Config, Mode},
    scenario::{Scenario, SessionPattern},
    stats::Sink,
    template::Vars,
};

/// When arrival `i` of an open loop at `rate` a second is due, after the start.
pub fn offset(i: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(i as f64 / rate)
}

/// How many arrivals an open loop at `rate` makes in `window`.
pub fn arrivals(rate: f64, window: Duration) -> u64 {
    // The arrivals at offsets 0, 1/rate, … that fall before the window's end.
    let exact = window.as_secs_f64() * rate;
    exact.ceil() as u64
}

/// A bound on measured requests, shared by every user.
struct Budget {
    left: Option<AtomicU64>,
    /// Set once an instance did not fit: the bound, not the clock, ended the run.
    spent: AtomicBool,
}

impl Budget {
    fn new(requests: Option<u64>) -> Self {
        Self {
            left: requests.map(AtomicU64::new),
            spent: AtomicBool::new(false),
        }
    }

    /// Takes `n` requests; false (taking none) when fewer are left.
    fn take(&self, n: u64) -> bool {
        let Some(left) = &self.left else {
            return true;
        };
        let taken = left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            })
            .is_ok();
        if !taken {
            self.spent.store(true, Ordering::Relaxed);
        }
        taken
    }
}

/// How the load ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Open-loop arrivals not sent because the in-flight bound was reached.
    pub dropped: u64,
    /// `--requests` ended the run before `--duration` did.
    pub by_request_bound: bool,
}

/// What every user shares.
struct Shared {
    scenario: Scenario,
    http: Http,
    sink: Sink,
    seq: AtomicU64,
    budget: Budget,
    measure_from: Instant,
    end: Instant,
}

impl Shared {
    /// Whether an instance of `entry` due at `at` may start: before the end,
    /// and within the request budget once measured.
    fn admit(&self, entry: usize, at: Instant) -> bool {
        let steps = self.scenario.entries[entry].steps.len() as u64;
        at < self.end && (at < self.measure_from || self.budget.take(steps))
    }
}

/// One simulated client.
struct User {
    client: Client,
    rng: StdRng,
    calls_in_session: u64,
}

impl User {
    fn new(shared: &Shared) -> Self {
        Self {
            client: Client::new(shared.scenario.era, shared.http.clone()),
            rng: StdRng::from_os_rng(),
            calls_in_session: 0,
        }
    }

    /// Runs one instance of entry `entry` (its steps in order, stopping at
    /// the first failure) meant to start at `intended`.
    async fn run(&mut self, shared: &Shared, entry: usize, intended: Instant) {
        let entry = &shared.scenario.entries[entry];
        let vars = Vars::new(shared.seq.fetch_add(1, Ordering::Relaxed));
        let mut start = intended;
        for step in &entry.steps {
            if let SessionPattern::Churn(every) = shared.scenario.session
                && self.calls_in_session >= every
            {
                self.client.end_session(&shared.sink).await;
                self.calls_in_session = 0;
            }
            let args = step.arguments.render(&vars, &mut self.rng);
            let outcome = self
                .client
                .call(&step.method, step.tool.as_deref(), args, &shared.sink)
                .await;
            self.calls_in_session += 1;
            let failed = outcome.is_err();
            shared.sink.record(&step.label, start, outcome);
            if failed {
                break;
            }
            start = Instant::now();
        }
    }

    async fn finish(mut self, shared: &Shared) {
        self.client.end_session(&shared.sink).await;
    }
}

/// Runs the load of `config` from `started`.
pub async fn generate(config: &Config, http: Http, sink: Sink, started: Instant) -> Ended {
    let measure_from = started + config.warmup;
    let shared = Arc::new(Shared {
        scenario: config.scenario.clone(),
        http,
        sink,
        seq: AtomicU64::new(1),
        budget: Budget::new(config.requests),
        measure_from,
        end: measure_from + config.duration,
    });
    let dropped = match config.mode {
        Mode::Closed { concurrency } => {
            closed_loop(shared.clone(), concurrency).await;
            0
        }
        Mode::Open {
            rate,
            max_in_flight,
        } => open_loop(shared.clone(), started, rate, max_in_flight, config.timeout).await,
    };
    Ended {
        dropped,
        by_request_bound: shared.budget.spent.load(Ordering::Relaxed),
    }
}

async fn closed_loop(shared: Arc<Shared>, concurrency: usize) {
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut user = User::new(&shared);
                loop {
                    let now = Instant::now();
                    let entry = shared.scenario.pick_index(&mut user.rng);
                    if !shared.admit(entry, now) {
                        break;
                    }
                    user.run(&shared, entry, now).await;
                }
                user.finish(&shared).await;
            })
        })
        .collect();
    futures::future::join_all(tasks).await;
}

async fn open_loop(
    shared: Arc<Shared>,
    started: Instant,
    rate: f64,
    max_in_flight: usize,
    timeout: Duration,
) -> u64 {
    // Idle users wait on a stack, so the most recently used (whose session
    // is open) go first and a run opens only as many sessions as it needs
    // at once; an arrival that finds the stack empty is dropped.
    let idle: Arc<Mutex<Vec<User>>> = Arc::new(Mutex::new(
        (0..max_in_flight).map(|_| User::new(&shared)).collect(),
    ));
    let mut busy = JoinSet::new();
    let mut picker = StdRng::from_os_rng();
    let mut dropped = 0;
    for i in 0.. {
        let intended = started + offset(i, rate);
        let entry = shared.scenario.pick_index(&mut picker);
        if !shared.admit(entry, intended) {
            break;
        }
        tokio::time::sleep_until(intended.into()).await;
        while busy.try_join_next().is_some() {}
        let user = idle.lock().await.pop();
        match user {
            Some(mut user) => {
                let (shared, idle) = (shared.clone(), idle.clone());
                busy.spawn(async move {
                    user.run(&shared, entry, intended).await;
                    idle.lock().await.push(user);
                });
            }
            None if intended >= shared.measure_from => dropped += 1,
            None => {}
        }
    }
    // Wait for the users still busy (each request ends within the timeout),
    // then end every session.
    let deadline = tokio::time::Instant::now() + timeout * 2 + Duration::from_secs(1);
    let _ = tokio::time::timeout_at(deadline, busy.join_all()).await;
    let users = std::mem::take(&mut *idle.lock().await);
    futures::future::join_all(users.into_iter().map(|user| user.finish(&shared))).await;
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_are_evenly_spaced_at_the_rate() {
        assert_eq!(offset(0, 10.0), Duration::ZERO);
        assert_eq!(offset(1, 10.0), Duration::from_millis(100));
        assert_eq!(offset(25, 10.0), Duration::from_millis(2500));
        assert_eq!(offset(3, 0.5), Duration::from_secs(6));
        for i in 1..1000 {
            let gap = offset(i, 200.0) - offset(i - 1, 200.0);
            assert!(
                gap.abs_diff(Duration::from_millis(5)) < Duration::from_micros(1),
                "{gap:?}"
            );
        }
    }

    #[test]
    fn a_window_holds_rate_times_its_length_of_arrivals() {
        assert_eq!(arrivals(10.0, Duration::from_secs(2)), 20);
        assert_eq!(arrivals(3.0, Duration::from_millis(1000)), 3);
        assert_eq!(arrivals(3.0, Duration::from_millis(1001)), 4);
        let n = arrivals(7.0, Duration::from_secs(3));
        assert!(offset(n - 1, 7.0) < Duration::from_secs(3));
        assert!(offset(n, 7.0) >= Duration::from_secs(3));
    }

    #[test]
    fn the_budget_takes_whole_instances_only() {
        let budget = Budget::new(Some(3));
        assert!(budget.take(2));
        assert!(!budget.spent.load(Ordering::Relaxed));
        assert!(!budget.take(2), "a pair does not fit in what is left");
        assert!(budget.spent.load(Ordering::Relaxed));
        assert!(budget.take(1));
        assert!(!budget.take(1));
        let unbounded = Budget::new(None);
        assert!(unbounded.take(1_000_000));
        assert!(!unbounded.spent.load(Ordering::Relaxed));
    }
}
