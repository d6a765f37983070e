//! The Lua scripts behind the operations that take more than one command,
//! and the parsing of what they and XRANGE return. Each script touches one
//! key only, so it runs unchanged on Redis Cluster without hash tags.

use std::sync::LazyLock;

use redis::Script;

use crate::store::{StoreError, StoreResult};

/// The field an event's payload is stored under in its stream entry.
const DATA_FIELD: &[u8] = b"d";

/// `INCRBY` and, when the counter has no TTL yet (it was just created), the
/// window's `PEXPIRE`. Atomic, so a counter never lives without a TTL.
/// KEYS[1] counter; ARGV[1] increment; ARGV[2] window in ms.
static INCR_IN_WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
",
    )
});

/// `XADD` with the explicit id `0-*` (Redis picks the next sequence number
/// after the stream's last id, which survives trimming, so ids increase and
/// are never reused while the stream lives), exact `MAXLEN`, then the TTL.
/// KEYS[1] stream; ARGV[1] data; ARGV[2] max length; ARGV[3] TTL in ms.
static APPEND_EVENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '0-*', 'd', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return id
",
    )
});

pub(super) fn incr_in_window() -> &'static Script {
    &INCR_IN_WINDOW
}

pub(super) fn append_event() -> &'static Script {
    &APPEND_EVENT
}

/// The event id of a stream entry id `0-<n>`.
pub(super) fn event_id(entry_id: &str) -> StoreResult<u64> {
    entry_id
        .strip_prefix("0-")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| StoreError::Protocol(format!("redis stream entry id {entry_id:?}")))
}

/// The payload of a stream entry given as its flat field/value list.
pub(super) fn event_data(fields: Vec<Vec<u8>>) -> StoreResult<bytes::Bytes> {
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        if name == DATA_FIELD {
            return Ok(value.into());
        }
    }
    Err(StoreError::Protocol(
        "redis stream entry without its data field".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_parse_only_in_the_form_this_backend_writes() {
        assert_eq!(event_id("0-42"), Ok(42));
        for bad in ["42", "1-42", "0-", "0-x", ""] {
            assert!(
                matches!(event_id(bad), Err(StoreError::Protocol(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn event_data_is_found_by_field_name() {
        let fields = vec![b"x".to_vec(), b"1".to_vec(), b"d".to_vec(), b"2".to_vec()];
        assert_eq!(event_data(fields).as_deref(), Ok(&b"2"[..]));
        assert!(event_data(vec![b"d".to_vec()]).is_err());
    }
}
