//! Client-supplied text in logs and error messages: a short, safe prefix.
//!
//! A client controls tool names, argument values, `clientInfo` strings and
//! headers, and may make any of them megabytes long or fill them with line
//! breaks. Whatever of that text reaches a log line or an error message goes
//! through [`clip`]: at most [`SHORT`] characters, control characters
//! escaped (a client cannot forge a log line), and the length of what was
//! cut, so an operator still sees that something long was sent.

use std::fmt;

/// Characters of client text kept in a log line or an error message.
pub const SHORT: usize = 64;

/// `text` as at most [`SHORT`] characters, for a log or a message.
pub fn clip(text: &str) -> Clipped<'_> {
    clip_to(text, SHORT)
}

/// `text` as at most `max_chars` characters, for a log or a message.
pub fn clip_to(text: &str, max_chars: usize) -> Clipped<'_> {
    Clipped { text, max_chars }
}

/// A prefix of client text, displayed escaped; see [`clip`].
#[derive(Debug, Clone, Copy)]
pub struct Clipped<'a> {
    text: &'a str,
    max_chars: usize,
}

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self
            .text
            .char_indices()
            .nth(self.max_chars)
            .map_or(self.text.len(), |(at, _)| at);
        for c in self.text[..end].chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        if end < self.text.len() {
            write!(f, "…(+{} bytes)", self.text.len() - end)?;
        }
        Ok(())
    }
}

/// Cuts `text` to at most `max_chars` characters, in place (on a character
/// boundary): for client strings the cluster keeps, such as `clientInfo`.
pub fn truncate(text: &mut String, max_chars: usize) {
    if let Some((at, _)) = text.char_indices().nth(max_chars) {
        text.truncate(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(clip("d365fo_query").to_string(), "d365fo_query");
    }

    #[test]
    fn long_text_keeps_a_prefix_and_says_how_much_was_cut() {
        let long = "x".repeat(3 * 1024 * 1024);
        let shown = clip(&long).to_string();
        assert!(shown.len() < 100, "{}", shown.len());
        assert!(shown.ends_with(&format!("…(+{} bytes)", long.len() - SHORT)));
    }

    #[test]
    fn control_characters_cannot_forge_a_log_line() {
        let shown = clip("a\nERROR forged\r\u{1b}[31m").to_string();
        assert!(!shown.contains('\n') && !shown.contains('\r') && !shown.contains('\u{1b}'));
        assert!(shown.starts_with("a\\nERROR"));
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        let text = "é".repeat(100);
        assert_eq!(clip_to(&text, 3).to_string(), "ééé…(+194 bytes)");
        let mut owned = text.clone();
        truncate(&mut owned, 5);
        assert_eq!(owned, "ééééé");
        let mut short = "ab".to_owned();
        truncate(&mut short, 5);
        assert_eq!(short, "ab");
    }
}
