//! What a user wants to see while a call runs — a retry, a throttle wait, a
//! page read — sent to the edge as `LogEvent`s on the call's stream, which
//! the edge turns into MCP `notifications/message` at the level the client
//! asked for.
//!
//! The code that notices these sits deep in the D365FO client, far from the
//! call's event channel, so the channel rides in a task-local set by the
//! executor around each call ([`scope`]) that asked for log lines (the
//! request's `log_level`); [`emit`] outside such a call (a caller that asked
//! for none, warm-up, background refresh) does nothing, and a line below the
//! asked level is not sent. Sending never waits: a full channel drops the
//! log line, never the call's progress or its result.

use common::{
    log_level::severity,
    proto::{CallToolEvent, LogEvent, call_tool_event::Event},
};
use serde_json::Value;
use tokio::sync::mpsc;

tokio::task_local! {
    static EVENTS: (mpsc::Sender<CallToolEvent>, u8);
}

/// The logger name every line carries.
pub const LOGGER: &str = "d365mcp.worker";

/// Runs `work` with its log lines at `level` or above sent to `events`;
/// with no (or an unknown) level, none are.
pub async fn scope<F: std::future::Future>(
    events: mpsc::Sender<CallToolEvent>,
    level: &str,
    work: F,
) -> F::Output {
    match severity(level) {
        Some(least) => EVENTS.scope((events, least), work).await,
        None => work.await,
    }
}

/// Whether the current call's client wants lines at `level`: a caller
/// checks before it builds a line, so a call nobody logs for pays nothing.
pub fn wanted(level: &str) -> bool {
    EVENTS
        .try_with(|(_, least)| severity(level).is_some_and(|r| r >= *least))
        .unwrap_or(false)
}

/// Sends `data` at `level` (an MCP logging level: `debug`, `info`,
/// `notice`, `warning`, …) to the current call's client, if it asked for
/// lines of that level.
pub fn emit(level: &str, data: Value) {
    let _ = EVENTS.try_with(|(events, least)| {
        if severity(level).is_none_or(|r| r < *least) {
            return;
        }
        let event = CallToolEvent {
            event: Some(Event::Log(LogEvent {
                level: level.to_owned(),
                logger: LOGGER.to_owned(),
                data_json: data.to_string(),
            })),
        };
        let _ = events.try_send(event);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_reach_the_calls_channel_at_its_level_and_nowhere_else() {
        emit("info", serde_json::json!("outside any call"));
        let (tx, mut rx) = mpsc::channel(4);
        scope(tx.clone(), "warning", async {
            emit("info", serde_json::json!({"message": "a page read"}));
            emit("warning", serde_json::json!({"message": "retrying"}));
        })
        .await;
        scope(tx, "", async {
            emit("error", serde_json::json!("no level asked, no line"));
        })
        .await;
        let Some(CallToolEvent {
            event: Some(Event::Log(log)),
        }) = rx.recv().await
        else {
            panic!("no log event");
        };
        assert_eq!(log.level, "warning");
        assert_eq!(log.logger, LOGGER);
        assert_eq!(log.data_json, r#"{"message":"retrying"}"#);
        assert!(rx.try_recv().is_err(), "only the warning was sent");
        assert!(!wanted("error"), "outside a call nothing is wanted");
        let (tx, _rx) = mpsc::channel(1);
        scope(tx, "warning", async {
            assert!(wanted("warning") && wanted("error") && !wanted("info"));
        })
        .await;
    }
}
