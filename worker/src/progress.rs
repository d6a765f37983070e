//! [`Progress`]: where a call's progress events go, when its caller asked
//! for them. The executor makes one per call; a tool reports through its
//! `Context`, and the metadata reads a tool makes report through the same
//! sink (many labels resolved at once say how far they got).

use common::proto::{CallToolEvent, Progress as ProgressEvent, call_tool_event::Event};
use tokio::sync::mpsc;

/// Sends progress events, when the caller asked for them.
pub struct Progress(Option<mpsc::Sender<CallToolEvent>>);

impl Progress {
    /// A sink that sends to `tx`, or drops everything when `None`.
    pub fn new(tx: Option<mpsc::Sender<CallToolEvent>>) -> Self {
        Self(tx)
    }

    /// Whether anyone listens.
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Reports `progress` of `total`.
    pub async fn report(&self, progress: f64, total: Option<f64>, message: String) {
        if let Some(tx) = &self.0 {
            let event = CallToolEvent {
                event: Some(Event::Progress(ProgressEvent {
                    progress,
                    total,
                    message,
                })),
            };
            // A closed channel means the caller is gone; the call is about
            // to be dropped, so there is nothing to do.
            let _ = tx.send(event).await;
        }
    }
}
