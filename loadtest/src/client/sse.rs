//! SSE events read from a stream as its chunks arrive.
//!
//! A chunk boundary falls anywhere: inside a line, between `\r` and `\n`, or
//! inside a multi-byte UTF-8 character. So bytes are kept until their line
//! is complete and only whole lines are decoded; a character split across
//! two chunks arrives whole. Each finished event block is parsed by
//! [`reply::sse_event`], the parser of whole bodies, so both readers agree.

use super::reply;

/// Reads SSE events from a byte stream, chunk by chunk.
#[derive(Debug, Default)]
pub struct EventReader {
    /// Bytes received after the last complete line.
    partial: Vec<u8>,
    /// The complete lines of the event being read, each ending in `\n`.
    block: String,
}

impl EventReader {
    /// Reads `chunk`; returns (event name, data) of each event it completes,
    /// in order. Events without data (keep-alives, priming events) are
    /// skipped; bytes that are not UTF-8 are replaced, never a panic.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<(String, String)> {
        self.partial.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(at) = self.partial[start..].iter().position(|&b| b == b'\n') {
            let end = start + at;
            let line = &self.partial[start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                if let Some(event) = reply::sse_event(&self.block) {
                    events.push(event);
                }
                self.block.clear();
            } else {
                self.block.push_str(&String::from_utf8_lossy(line));
                self.block.push('\n');
            }
            start = end + 1;
        }
        self.partial.drain(..start);
        events
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A stream as a server sends it: an endpoint, a comment, CRLF lines,
    /// data over two lines, and characters of two, three and four bytes.
    const STREAM: &str = "event: endpoint\r\ndata: /message?sessionId=ä1\r\n\r\n\
        : keep-alive\n\n\
        event: message\nid: 7\ndata: {\"text\":\"Zürich — 東京 🚀\"}\n\n\
        data: first\ndata: second 🚀\n\n\
        id: 8\n\n";

    fn expected() -> Vec<(String, String)> {
        [
            ("endpoint", "/message?sessionId=ä1"),
            ("message", "{\"text\":\"Zürich — 東京 🚀\"}"),
            ("message", "first\nsecond 🚀"),
        ]
        .into_iter()
        .map(|(name, data)| (name.to_owned(), data.to_owned()))
        .collect()
    }

    /// Feeds `bytes` in pieces ending at each of `cuts` (in order, clamped).
    fn read_in_pieces(bytes: &[u8], cuts: &[usize]) -> Vec<(String, String)> {
        let mut reader = EventReader::default();
        let mut events = Vec::new();
        let mut from = 0;
        let mut ends: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        ends.sort_unstable();
        ends.push(bytes.len());
        for to in ends {
            events.extend(reader.push(&bytes[from..to]));
            from = to;
        }
        events
    }

    #[test]
    fn the_whole_stream_reads_as_its_events_and_as_the_body_parser_reads_it() {
        assert_eq!(EventReader::default().push(STREAM.as_bytes()), expected());
        assert_eq!(reply::sse_events(STREAM), expected());
    }

    #[test]
    fn a_stream_split_at_any_byte_reads_the_same() {
        let bytes = STREAM.as_bytes();
        for at in 0..=bytes.len() {
            let mut reader = EventReader::default();
            let mut events = reader.push(&bytes[..at]);
            events.extend(reader.push(&bytes[at..]));
            assert_eq!(events, expected(), "split at byte {at}");
        }
    }

    #[test]
    fn a_stream_read_byte_by_byte_reads_the_same() {
        let mut reader = EventReader::default();
        let events: Vec<_> = STREAM.bytes().flat_map(|b| reader.push(&[b])).collect();
        assert_eq!(events, expected());
    }

    #[test]
    fn an_unfinished_event_waits_for_its_blank_line() {
        let mut reader = EventReader::default();
        assert!(reader.push(b"data: {\"a\":").is_empty());
        assert!(reader.push(b"1}\n").is_empty());
        assert_eq!(
            reader.push(b"\n"),
            [("message".to_owned(), "{\"a\":1}".to_owned())]
        );
    }

    proptest! {
        #[test]
        fn the_valid_stream_in_any_pieces_reads_the_same(
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            prop_assert_eq!(read_in_pieces(STREAM.as_bytes(), &cuts), expected());
        }

        #[test]
        fn any_bytes_in_any_pieces_read_as_the_whole_and_never_panic(
            bytes in proptest::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    Just(b'\n'),
                    Just(b'\r'),
                    Just(b':'),
                    Just(0xE6u8),
                    Just(0x9Cu8),
                ],
                0..400,
            ),
            prefix in prop_oneof![Just(&b""[..]), Just(&b"data: "[..]), Just(&b"event: x\n"[..])],
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let bytes = [prefix, &bytes[..]].concat();
            let whole = EventReader::default().push(&bytes);
            prop_assert_eq!(read_in_pieces(&bytes, &cuts), whole);
        }

        #[test]
        fn any_text_split_anywhere_reads_as_the_whole(
            text in "(data: |event: |id: |: |[^\r\n]{0,8}|\r\n|\n|\r|é|東|🚀){0,40}",
            cut in any::<usize>(),
        ) {
            let bytes = text.as_bytes();
            let whole = EventReader::default().push(bytes);
            prop_assert_eq!(read_in_pieces(bytes, &[cut]), whole);
        }

        #[test]
        fn the_body_parsers_never_panic(text in any::<String>(), id in any::<u64>()) {
            let _ = reply::sse_events(&text);
            let _ = reply::sse_event(&text);
            let _ = reply::messages(&text);
            let _ = reply::answer_in(&text, id);
        }
    }
}
