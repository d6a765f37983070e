//! A request stuck on a set's lock (a long read, a waiting writer) waits on
//! the blocking pool, never on an async worker: other requests still flow.

use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Holds `set`'s write lock on another thread for `hold`; returns once held.
fn lock_for(
    state: &Arc<AppState>,
    set: &'static str,
    hold: Duration,
) -> std::thread::JoinHandle<()> {
    let (held, is_held) = std::sync::mpsc::channel();
    let state = Arc::clone(state);
    let thread = std::thread::spawn(move || {
        let _guard = state.data.get(set).map(|s| s.rows_mut());
        let _ = held.send(());
        std::thread::sleep(hold);
    });
    let _ = is_held.recv();
    thread
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
        let holder = lock_for(&state, "CustomersV3", Duration::from_secs(3));
        let started = Instant::now();
        let waiting = tokio::spawn(app.clone().oneshot(blocked));
        tokio::task::yield_now().await;
        let other = app
            .clone()
            .oneshot(get("/data/Currencies?$top=1"))
            .await
            .unwrap();
        assert_eq!(other.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "an unrelated request waited {:?}",
            started.elapsed()
        );
        assert!(!waiting.is_finished(), "the locked set's request waits");
        let answered = waiting.await.unwrap().unwrap();
        assert!(answered.status().is_success(), "{}", answered.status());
        holder.join().unwrap();
    }
}
