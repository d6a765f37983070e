//! The shared record of one session: who owns it and how it was opened.
//!
//! Key `d365mcp:session:v1:{session_id}`, a JSON [`Record`], with a sliding
//! TTL (the idle timeout): every request that presents the session renews
//! it, and a session unused for that long ends on every edge at once.

// rmcp deprecates logging (SEP-2577), which the 2025 protocols still have.
#![allow(deprecated)]

use std::time::Duration;

use bytes::Bytes;
use common::store::{SharedStore, StoreResult};
use rmcp::{
    model::InitializeRequestParams,
    transport::streamable_http_server::session::{SessionState, SessionStore, SessionStoreError},
};
use serde::{Deserialize, Serialize};

use crate::auth::Principal;

/// The store key of session `id`.
pub fn key(id: &str) -> String {
    format!("d365mcp:session:v1:{id}")
}

/// What the cluster remembers of a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The caller that opened the session; nobody else may use it.
    pub principal: Principal,
    /// The client's `initialize` parameters, replayed when another edge
    /// takes the session over.
    pub initialize: InitializeRequestParams,
    /// Resources the client subscribed to (`resources/subscribe`), on any edge.
    #[serde(default)]
    pub subscriptions: Vec<String>,
    /// The client's `logging/setLevel`, honoured on every edge.
    #[serde(default)]
    pub log_level: Option<rmcp::model::LoggingLevel>,
    /// The session's slots under its key's and tenant's caps
    /// (`super::caps`); `None` when the store could not count it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<super::Slots>,
}

/// Characters kept of each `clientInfo` string (name, title, version).
pub const CLIENT_INFO_CHARS: usize = 128;

/// Trims a client's `initialize` to what a session needs (the body guard
/// has bounded it to `guard::MAX_INITIALIZE_BYTES`): `clientInfo`'s
/// name, title and version cut to [`CLIENT_INFO_CHARS`]; its description,
/// icons and website, and the experimental capabilities, dropped — nothing
/// here reads them, and the record lives for the session's life.
pub fn trim(params: &mut InitializeRequestParams) {
    let info = &mut params.client_info;
    common::clip::truncate(&mut info.name, CLIENT_INFO_CHARS);
    common::clip::truncate(&mut info.version, CLIENT_INFO_CHARS);
    if let Some(title) = &mut info.title {
        common::clip::truncate(title, CLIENT_INFO_CHARS);
    }
    info.description = None;
    info.icons = None;
    info.website_url = None;
    params.capabilities.experimental = None;
}

/// [`trim`] applied to `message` when it is an `initialize`.
pub fn trim_message(message: &mut rmcp::model::ClientJsonRpcMessage) {
    if let rmcp::model::ClientJsonRpcMessage::Request(request) = message
        && let rmcp::model::ClientRequest::InitializeRequest(init) = &mut request.request
    {
        trim(&mut init.params);
    }
}

/// What the record keeps of an `initialize` already [`trim`]med: its
/// `_meta` belonged to that one request.
pub fn kept(params: &InitializeRequestParams) -> InitializeRequestParams {
    let mut kept = params.clone();
    kept.meta = None;
    trim(&mut kept);
    kept
}

/// The session records in the shared store.
#[derive(Clone)]
pub struct Records {
    store: SharedStore,
    idle_ttl: Duration,
}

impl Records {
    pub fn new(store: SharedStore, idle_ttl: Duration) -> Self {
        Self { store, idle_ttl }
    }

    /// Saves `record` for session `id`.
    pub async fn save(&self, id: &str, record: &Record) -> StoreResult<()> {
        self.store
            .set(&key(id), encode(record)?, Some(self.idle_ttl))
            .await
    }

    /// The record of session `id`, its idle timeout renewed; `None` when the
    /// session ended, expired or never existed. A record this version cannot
    /// read is treated as absent (the client opens a new session).
    /// Tried twice when the store is unavailable: the first command after a
    /// dropped connection fails while the connection is re-made, and this
    /// one is safe to repeat.
    pub async fn touch(&self, id: &str) -> StoreResult<Option<Record>> {
        match self.touch_once(id).await {
            Err(common::store::StoreError::Unavailable(_)) => self.touch_once(id).await,
            other => other,
        }
    }

    async fn touch_once(&self, id: &str) -> StoreResult<Option<Record>> {
        let key = key(id);
        // Both on the one multiplexed connection: about one round trip.
        let (value, _) = tokio::join!(self.store.get(&key), self.store.expire(&key, self.idle_ttl));
        Ok(value?.and_then(|bytes| match serde_json::from_slice(&bytes) {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::warn!(session = id, error = %e, "unreadable session record; treated as ended");
                None
            }
        }))
    }

    /// The record of session `id`, leaving its idle timeout alone.
    pub async fn peek(&self, id: &str) -> StoreResult<Option<Record>> {
        let value = self.store.get(&key(id)).await?;
        Ok(value.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Changes the subscriptions of session `id` with `change`; `false`
    /// when the session is gone. Read-modify-write: one client changes its
    /// own session's subscriptions one request at a time.
    pub async fn update_subscriptions(
        &self,
        id: &str,
        change: impl FnOnce(&mut Vec<String>),
    ) -> StoreResult<bool> {
        self.update(id, |record| change(&mut record.subscriptions))
            .await
    }

    /// Changes the record of session `id` with `change`; `false` when the
    /// session is gone, also when it ended between the read and the write (a
    /// DELETE on another edge is never undone). Read-modify-write: one client
    /// changes its own session one request at a time.
    pub async fn update(&self, id: &str, change: impl FnOnce(&mut Record)) -> StoreResult<bool> {
        let Some(mut record) = self.peek(id).await? else {
            return Ok(false);
        };
        change(&mut record);
        self.store
            .set_if_present(&key(id), encode(&record)?, self.idle_ttl)
            .await
    }

    /// Ends session `id` for every edge; `true` when it existed.
    pub async fn end(&self, id: &str) -> StoreResult<bool> {
        self.store.delete(&key(id)).await
    }
}

fn encode(record: &Record) -> StoreResult<Bytes> {
    serde_json::to_vec(record).map(Bytes::from).map_err(|e| {
        common::store::StoreError::Protocol(format!("session record not serializable: {e}"))
    })
}

/// rmcp's view of the records, for restoring a session on another edge.
///
/// `store` does nothing: the record is written by
/// [`super::Sessions`]' `initialize_session`, which knows the principal
/// (rmcp's `SessionState` does not carry it). `delete` is never reached
/// either, since the gate answers DELETE itself, but ends the session if it
/// is.
#[async_trait::async_trait]
impl SessionStore for Records {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        Ok(self
            .touch(session_id)
            .await?
            .map(|record| SessionState::new(record.initialize)))
    }

    async fn store(
        &self,
        _session_id: &str,
        _state: &SessionState,
    ) -> Result<(), SessionStoreError> {
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.end(session_id).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ClientCapabilities, Implementation};

    use super::*;

    #[test]
    fn a_record_keeps_short_client_strings_only() {
        let mut info = Implementation::new("n".repeat(10_000), "v".repeat(10_000));
        info.title = Some("é".repeat(10_000));
        info.description = Some("d".repeat(10_000));
        info.website_url = Some("https://example.com/".into());
        let params = InitializeRequestParams::new(ClientCapabilities::default(), info);
        let kept = kept(&params);
        let json = serde_json::to_vec(&kept).unwrap();
        assert!(json.len() < 1024, "{} bytes", json.len());
        assert_eq!(kept.client_info.name.chars().count(), CLIENT_INFO_CHARS);
        assert_eq!(
            kept.client_info.title.as_deref().map(|t| t.chars().count()),
            Some(CLIENT_INFO_CHARS)
        );
        assert!(kept.client_info.description.is_none());
    }
}
