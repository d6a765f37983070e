//! A request stuck on a set's lock (a long read, a waiting writer) waits on
//! the blocking pool, never on an async worker: other requests still flow.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use super::{AppState, router};
use crate::SimConfig;
use crate::data::Dataset;

fn get(uri: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .header("host", "sim.test")
        .body(Body::empty())
        .unwrap()
}

/// A thread holding a set's write lock until told to let go.
struct Holder {
    release: mpsc::Sender<()>,
    /// Set just before the lock is let go.
    released: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

/// The longest a [`Holder`] holds on when never told to let go, so a
/// handler that blocks the runtime fails the test instead of hanging it.
const HOLD_AT_MOST: Duration = Duration::from_secs(10);

impl Holder {
    /// Takes `set`'s write lock on another thread; returns once it is held.
    fn lock(state: &Arc<AppState>, set: &'static str) -> Self {
        let (held, is_held) = mpsc::channel();
        let (release, let_go) = mpsc::channel::<()>();
        let released = Arc::new(AtomicBool::new(false));
        let (state, flag) = (Arc::clone(state), Arc::clone(&released));
        let thread = std::thread::spawn(move || {
            let guard = state.data.get(set).map(|s| s.rows_mut());
            let _ = held.send(());
            let _ = let_go.recv_timeout(HOLD_AT_MOST);
            flag.store(true, Ordering::SeqCst);
            drop(guard);
        });
        let _ = is_held.recv();
        Self {
            release,
            released,
            thread,
        }
    }

    fn still_held(&self) -> bool {
        !self.released.load(Ordering::SeqCst)
    }

    fn let_go(self) {
        let _ = self.release.send(());
        self.thread.join().unwrap();
    }
}

// One worker thread: a handler that blocked it would stall everything.
#[tokio::test(flavor = "current_thread")]
async fn a_request_waiting_on_a_lock_does_not_stall_the_others() {
    let state = Arc::new(AppState::new(
        SimConfig::default(),
        Dataset::seeded(1),
        Default::default(),
    ));
    let app = router(Arc::clone(&state));
    for blocked in [
        get("/data/CustomersV3?$orderby=CreditLimit"),
        get("/data/CustomersV3/$count"),
        Request::builder()
            .method("PATCH")
            .uri("/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')")
            .header("host", "sim.test")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"CreditLimit":5}"#))
            .unwrap(),
    ] {
        let holder = Holder::lock(&state, "CustomersV3");
        let waiting = tokio::spawn(app.clone().oneshot(blocked));
        tokio::task::yield_now().await;
        let other = app
            .clone()
            .oneshot(get("/data/Currencies?$top=1"))
            .await
            .unwrap();
        assert_eq!(other.status(), StatusCode::OK);
        assert!(!waiting.is_finished(), "the locked set's request waits");
        // Checked after the two above: both held while the lock was held.
        assert!(
            holder.still_held(),
            "an unrelated request was answered only once the lock was let go"
        );
        holder.let_go();
        let answered = waiting.await.unwrap().unwrap();
        assert!(answered.status().is_success(), "{}", answered.status());
    }
}
