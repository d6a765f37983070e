//! MCP logging for tool calls: the worker's log lines (retries, throttle
//! waits, pages read) reach the client as `notifications/message` at or
//! above the level it asked for, and never when it asked for none.
//!
//! Where the level comes from, by era:
//! - 2026-07-28: each request's `_meta["io.modelcontextprotocol/logLevel"]`;
//! - 2025 sessions: `logging/setLevel`, kept in the session's record so that
//!   every edge honours it (the session gate hands it to the request as
//!   [`SessionLevel`]);
//! - the legacy transport: `logging/setLevel`, kept by the stream's handler
//!   (the stream lives on one edge).
//!
//! No level, no log notifications: a client that never asked is not sent any.

#![allow(deprecated)] // rmcp deprecates logging with SEP-2577; the 2025 protocols have it

use std::sync::Arc;

use common::proto;
use parking_lot::Mutex;
use rmcp::{
    RoleServer,
    model::{LoggingLevel, LoggingMessageNotificationParam},
    service::RequestContext,
};
use serde_json::Value;

/// A session's `logging/setLevel`, as its record holds it (a request
/// extension set by the session gate).
#[derive(Debug, Clone, Copy)]
pub struct SessionLevel(pub Option<LoggingLevel>);

/// The level a handler was set to, for the legacy transport.
pub type HandlerLevel = Arc<Mutex<Option<LoggingLevel>>>;

/// The level the client of `context`'s request asked for, if any.
pub fn wanted(
    context: &RequestContext<RoleServer>,
    handler: &HandlerLevel,
) -> Option<LoggingLevel> {
    context
        .meta
        .log_level()
        .or_else(|| {
            context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<SessionLevel>())
                .and_then(|level| level.0)
        })
        .or_else(|| *handler.lock())
}

/// The notification for `log`, when its level reaches `wanted`.
pub fn notification(
    log: &proto::LogEvent,
    wanted: LoggingLevel,
) -> Option<LoggingMessageNotificationParam> {
    if !common::log_level::reaches(&log.level, name(wanted)) {
        return None;
    }
    let level: LoggingLevel = serde_json::from_value(Value::String(log.level.clone())).ok()?;
    let data = serde_json::from_str(&log.data_json).unwrap_or(Value::String(log.data_json.clone()));
    Some(LoggingMessageNotificationParam::new(level, data).with_logger(log.logger.clone()))
}

/// The level's name on the wire (and in the worker request).
pub fn name(level: LoggingLevel) -> &'static str {
    match level {
        LoggingLevel::Debug => "debug",
        LoggingLevel::Info => "info",
        LoggingLevel::Notice => "notice",
        LoggingLevel::Warning => "warning",
        LoggingLevel::Error => "error",
        LoggingLevel::Critical => "critical",
        LoggingLevel::Alert => "alert",
        LoggingLevel::Emergency => "emergency",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(level: &str) -> proto::LogEvent {
        proto::LogEvent {
            level: level.into(),
            logger: "d365mcp.worker".into(),
            data_json: r#"{"message":"retrying"}"#.into(),
        }
    }

    #[test]
    fn lines_below_the_wanted_level_are_not_sent() {
        assert!(notification(&log("info"), LoggingLevel::Warning).is_none());
        assert!(notification(&log("debug"), LoggingLevel::Info).is_none());
        let sent = notification(&log("warning"), LoggingLevel::Info).unwrap();
        assert_eq!(sent.level, LoggingLevel::Warning);
        assert_eq!(sent.logger.as_deref(), Some("d365mcp.worker"));
        assert_eq!(sent.data["message"], "retrying");
        assert!(notification(&log("error"), LoggingLevel::Error).is_some());
        for level in [
            LoggingLevel::Debug,
            LoggingLevel::Notice,
            LoggingLevel::Emergency,
        ] {
            let wire = serde_json::to_value(level).unwrap();
            assert_eq!(wire, name(level), "the wire name of {level:?}");
        }
        assert!(
            notification(&log("loud"), LoggingLevel::Debug).is_none(),
            "unknown levels are dropped"
        );
    }
}
