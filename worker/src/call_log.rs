//! What a user wants to see while a call runs — a retry, a throttle wait, a
//! page read — sent to the edge as `LogEvent`s on the call's stream, which
//! the edge turns into MCP `notifications/message` at the level the client
//! asked for.
//!
//! The code that notices these sits deep in the D365FO client, far from the
//! call's event channel, so the channel rides in a task-local set by the
//! executor around each call ([`scope`]); [`emit`] outside a call (warm-up,
//! background refresh) does nothing. Sending never waits: a full channel
//! drops the log line, never the call's progress or its result.

use common::proto::{CallToolEvent, LogEvent, call_tool_event::Event};
use serde_json::Value;
use tokio::sync::mpsc;

tokio::task_local! {
    static EVENTS: mpsc::Sender<CallToolEvent>;
}

/// The logger name every line carries.
pub const LOGGER: &str = "d365mcp.worker";

/// Runs `work` with its log lines sent to `events`.
pub async fn scope<F: std::future::Future>(
    events: mpsc::Sender<CallToolEvent>,
    work: F,
) -> F::Output {
    EVENTS.scope(events, work).await
}

/// Sends `data` at `level` (an MCP logging level: `debug`, `info`,
/// `notice`, `warning`, …) to the current call's client, if there is one.
pub fn emit(level: &str, data: Value) {
    let _ = EVENTS.try_with(|events| {
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
    async fn lines_reach_the_calls_channel_and_nowhere_else() {
        emit("info", serde_json::json!("outside any call"));
        let (tx, mut rx) = mpsc::channel(4);
        scope(tx, async {
            emit("warning", serde_json::json!({"message": "retrying"}));
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
        assert!(
            rx.try_recv().is_err(),
            "the line outside the call went nowhere"
        );
    }
}
