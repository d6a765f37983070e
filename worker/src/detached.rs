//! [`Detached`]: the first attempts of keyed writes, which run to their end
//! on tasks of their own even when their callers go away
//! (`crate::executor`), so that their retries learn how they ended.
//!
//! Bounded twice: at most [`MAX_DETACHED`] run at once on a worker (a
//! client that starts keyed writes and drops each at once cannot pile up
//! work on D365FO; past the bound a keyed write is refused, retryable,
//! before anything is recorded or sent), and each ends by its call's
//! deadline. A worker that shuts down waits for them ([`Detached::drain`]),
//! within a bound, after its server stopped taking calls.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{sync::Semaphore, task::JoinHandle};
use tokio_util::task::TaskTracker;

/// Most keyed writes running at once on one worker.
pub const MAX_DETACHED: usize = 256;

/// The detached keyed writes of one worker.
#[derive(Debug)]
pub struct Detached {
    tracker: TaskTracker,
    slots: Arc<Semaphore>,
}

impl Default for Detached {
    fn default() -> Self {
        Self {
            tracker: TaskTracker::new(),
            slots: Arc::new(Semaphore::new(MAX_DETACHED)),
        }
    }
}

impl Detached {
    /// Runs `work` on a task of its own, or `None` when [`MAX_DETACHED`]
    /// already run.
    pub fn spawn<F>(&self, work: F) -> Option<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let slot = Arc::clone(&self.slots).try_acquire_owned().ok()?;
        Some(self.tracker.spawn(async move {
            let _slot = slot;
            work.await
        }))
    }

    /// How many run now.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Waits, at most `within`, for every running one to end; returns how
    /// many were still running when it gave up.
    pub async fn drain(&self, within: Duration) -> usize {
        self.tracker.close();
        let _ = tokio::time::timeout(within, self.tracker.wait()).await;
        self.tracker.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_past_its_bound_and_drains() {
        let detached = Detached::default();
        let (release, wait) = tokio::sync::watch::channel(false);
        let handles: Vec<_> = (0..MAX_DETACHED)
            .map(|_| {
                let mut wait = wait.clone();
                detached
                    .spawn(async move {
                        let _ = wait.wait_for(|go| *go).await;
                    })
                    .unwrap()
            })
            .collect();
        assert!(detached.spawn(async {}).is_none(), "past the bound");
        assert_eq!(detached.running(), MAX_DETACHED);
        assert_eq!(
            detached.drain(Duration::from_millis(20)).await,
            MAX_DETACHED
        );
        release.send(true).unwrap();
        for handle in handles {
            handle.await.unwrap();
        }
        assert_eq!(detached.drain(Duration::from_secs(1)).await, 0);
    }
}
