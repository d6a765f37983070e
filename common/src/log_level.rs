//! MCP logging levels, by name, as they cross the edge↔worker hop
//! (`CallToolRequest.log_level`, `LogEvent.level`) and MCP's
//! `notifications/message`.

/// The levels, least severe first (RFC 5424's order, which MCP follows).
pub const LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// The severity of `level` (0 for `debug`), or `None` for a name that is
/// not an MCP level.
pub fn severity(level: &str) -> Option<u8> {
    LEVELS
        .iter()
        .position(|l| *l == level)
        .and_then(|i| u8::try_from(i).ok())
}

/// Whether a line at `level` reaches a client that asked for `least` and
/// above; an unknown name on either side reaches no one.
pub fn reaches(level: &str, least: &str) -> bool {
    matches!((severity(level), severity(least)), (Some(l), Some(w)) if l >= w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_order_by_severity() {
        assert_eq!(severity("debug"), Some(0));
        assert_eq!(severity("emergency"), Some(7));
        assert_eq!(severity("loud"), None);
        assert!(reaches("warning", "info"));
        assert!(reaches("info", "info"));
        assert!(!reaches("info", "warning"));
        assert!(!reaches("loud", "debug") && !reaches("error", ""));
    }
}
