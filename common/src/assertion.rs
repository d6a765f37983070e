//! The edge→worker hop's authentication: a signed, short-lived assertion of
//! who is calling, sent with every `CallTool`.
//!
//! The edge authenticates the MCP client and then speaks for it: the worker
//! trusts the request's tenant and principal. Without a check anything that
//! reaches a worker's gRPC port could claim any of them. So an edge holding
//! the cluster's [`InternalSecret`] signs each call — HMAC-SHA256 over the
//! request id, tenant, principal, tool, environment, digests of the
//! arguments and of the user's token (`user_assertion`), the deadline, the
//! replay window and the time it signed — and
//! the worker recomputes it. An assertion is good for [`LIFETIME`] after it
//! was made, with [`SKEW`] for clocks that disagree; it names its call, so it
//! cannot be lifted onto another.
//!
//! The assertion travels as gRPC metadata [`METADATA_KEY`]:
//! `v1.<unix ms it was signed>.<hex HMAC>`.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::proto::CallToolRequest;

/// The gRPC metadata key of the assertion.
pub const METADATA_KEY: &str = "x-d365mcp-assertion";

/// How long after signing an assertion is accepted.
pub const LIFETIME: Duration = Duration::from_secs(30);

/// How far the edge's and the worker's clocks may disagree.
pub const SKEW: Duration = Duration::from_secs(10);

/// Fewest bytes a secret may have.
pub const MIN_SECRET_BYTES: usize = 32;

/// The secret edges and workers share, kept as a keyed HMAC. Never printed.
#[derive(Clone)]
pub struct InternalSecret(Arc<Hmac<Sha256>>);

impl fmt::Debug for InternalSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InternalSecret(***)")
    }
}

impl InternalSecret {
    /// A secret from its text (surrounding whitespace, such as a file's
    /// final newline, is not part of it); at least [`MIN_SECRET_BYTES`].
    pub fn new(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the secret has {} bytes; use at least {MIN_SECRET_BYTES} (e.g. `openssl rand \
                 -hex 32`)",
                text.len()
            ));
        }
        Hmac::<Sha256>::new_from_slice(text.as_bytes())
            .map(|mac| Self(Arc::new(mac)))
            .map_err(|e| format!("the secret cannot key an HMAC: {e}"))
    }

    /// A random secret, for one process that is its own edge and worker.
    pub fn generate() -> Result<Self, String> {
        Self::new(&format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ))
    }

    fn mac(&self, request: &CallToolRequest, signed_ms: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::clone(&self.0);
        let principal = request.principal.as_ref();
        let fields: [&[u8]; 7] = [
            b"d365mcp-call-v1",
            request.request_id.as_bytes(),
            request.tenant.as_bytes(),
            principal.map_or(&b""[..], |p| p.subject.as_bytes()),
            principal.map_or(&b""[..], |p| p.issuer.as_bytes()),
            request.tool.as_bytes(),
            request.environment.as_bytes(),
        ];
        // Length-prefixed, so no two field lists read as the same bytes.
        for field in fields {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        mac.update(&Sha256::digest(request.arguments_json.as_bytes()));
        // The user's token decides whose D365FO permissions apply.
        mac.update(&Sha256::digest(request.user_assertion.as_bytes()));
        mac.update(&request.deadline_unix_ms.to_be_bytes());
        mac.update(&request.replay_ttl_ms.to_be_bytes());
        mac.update(&signed_ms.to_be_bytes());
        mac
    }

    /// The assertion for `request`, signed now.
    pub fn sign(&self, request: &CallToolRequest) -> String {
        self.sign_at(request, now_ms())
    }

    /// The assertion for `request`, signed at `signed_ms` (Unix ms).
    pub fn sign_at(&self, request: &CallToolRequest, signed_ms: u64) -> String {
        let tag = self.mac(request, signed_ms).finalize().into_bytes();
        format!("v1.{signed_ms}.{}", hex(&tag))
    }

    /// Checks `assertion` (absent when the caller sent none) for `request` now.
    pub fn verify(
        &self,
        request: &CallToolRequest,
        assertion: Option<&str>,
    ) -> Result<(), Refused> {
        self.verify_at(request, assertion, now_ms())
    }

    /// As [`Self::verify`], at `now_ms`.
    pub fn verify_at(
        &self,
        request: &CallToolRequest,
        assertion: Option<&str>,
        now_ms: u64,
    ) -> Result<(), Refused> {
        let assertion = assertion.ok_or(Refused::Missing)?;
        let mut parts = assertion.splitn(3, '.');
        let (Some("v1"), Some(signed), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Refused::Malformed);
        };
        let signed_ms: u64 = signed.parse().map_err(|_| Refused::Malformed)?;
        let tag = unhex(tag).ok_or(Refused::Malformed)?;
        // The signature first: a forged one learns nothing from the clock.
        self.mac(request, signed_ms)
            .verify_slice(&tag)
            .map_err(|_| Refused::BadSignature)?;
        let oldest = now_ms.saturating_sub(millis(LIFETIME + SKEW));
        let newest = now_ms.saturating_add(millis(SKEW));
        if !(oldest..=newest).contains(&signed_ms) {
            return Err(Refused::Expired);
        }
        Ok(())
    }
}

/// Why a worker refused a call's assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No assertion came with the call.
    #[error(
        "this worker accepts calls only from edges that sign them: the call carried no \
         assertion; give the edge the workers' D365MCP_INTERNAL_SECRET(_FILE)"
    )]
    Missing,
    /// Not of the form `v1.<ms>.<hex>`.
    #[error("the call's assertion is malformed")]
    Malformed,
    /// Signed with another secret, or for another call.
    #[error(
        "the call's assertion does not match it: the edge and this worker hold different \
         D365MCP_INTERNAL_SECRET values, or the call was altered"
    )]
    BadSignature,
    /// Too old, or from too far in the future.
    #[error(
        "the call's assertion has expired (older than {} s, or from a clock more than {} s \
         apart from this worker's); check the clocks of edges and workers",
        LIFETIME.as_secs(),
        SKEW.as_secs()
    )]
    Expired,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(pair, 16).ok()
        })
        .collect()
}

#[cfg(test)]
#[path = "assertion_tests.rs"]
mod tests;
