//! The edge: terminates MCP over HTTP and dispatches tool calls to workers.
//!
//! # Layout
//!
//! - `accept`: the accept loop — header-read and idle timeouts, the
//!   connection limit with a 503 beyond it.
//! - [`app`] / [`serve`]: the HTTP surface — MCP at `/mcp` (rmcp's Streamable
//!   HTTP service, serving the 2026-07-28 stateless protocol and the 2025
//!   session protocols on one endpoint), the legacy HTTP+SSE routes `/sse`
//!   and `/message`, `/health` and `/ready`. `docs/ARCHITECTURE.md` follows
//!   one tool call through its layers.
//!   [`app_with`] / [`serve_with`] run the same stack around another
//!   [`Handler`] (the conformance tests' reference fixture).
//! - `mcp`: the MCP handler — `tools/list` from the catalogue, `tools/call`
//!   turned into a worker call, progress forwarded, cancellation propagated;
//!   resources and prompts handed to their modules.
//! - `resources`: `d365fo://` URIs, read through the worker tool that answers
//!   each (environment info, entity schema).
//! - `prompts`: instructions for common analyst tasks, built on the edge
//!   without a worker call.
//! - `skills`: SEP-2640 skills (`skill://d365fo/<name>/SKILL.md`), guides
//!   to the D365FO way of using the tools, compiled in and served as
//!   resources and by `skills/list` and `skills/get`.
//! - `confirm`: a change to existing data waits for its user's yes — an
//!   elicitation in a session, an `input_required` result in 2026-07-28 —
//!   per the caller's `writes` policy, without weakening at-most-once.
//! - `completions`: `completion/complete` — environment, entity set and
//!   enumeration names for template and prompt arguments, from the workers'
//!   metadata cache, within the caller's tenant policy.
//! - `auth`: API keys and OAuth access tokens → the [`Principal`] of each
//!   request; the edge as a protected resource (metadata, challenges, the
//!   write scope of a tool call).
//! - `legacy`: the 2024-11-05 HTTP+SSE transport (`GET /sse`,
//!   `POST /message`); a POST on any edge reaches the stream's edge.
//! - `listen`: `subscriptions/listen` — resource updates after a D365FO
//!   service update, announced by a worker and fanned out through the store;
//!   [`Notifier`] sends a session's log lines to its stream on any edge.
//! - `sessions`: MCP sessions in the shared store — any edge serves them,
//!   DELETE ends them everywhere, `Last-Event-ID` resumes on any edge.
//! - `follow`: a shared-store channel followed for the edge's lifetime.
//! - `guard`: malformed JSON-RPC and oversize bodies refused with a JSON-RPC error.
//! - [`serve_stdio`]: MCP over stdin and stdout (`d365mcp stdio`), one line
//!   a message, served by the same handler and guard as HTTP.
//! - `origin`: `Host` and `Origin` checked on every MCP route (DNS rebinding,
//!   cross-site requests); 403 with a JSON-RPC error.
//! - `refusals`: rmcp's plain-text refusals (406, 415, 400, 405) rewritten as
//!   JSON-RPC errors.
//! - `limits`: rate limits per API key, tenant and tool, shared by the edges
//!   through the store; `429` with `Retry-After` beyond them.
//! - `listing`: `tools/list` answered with the catalogue serialized once.
//! - `logging`: the worker's log lines as MCP `notifications/message`, at
//!   the level each era's client asked for.
//! - [`scrape`]: `/metrics` and `/metrics/cluster` in the Prometheus text
//!   format, on the MCP listener (operator key) or a listener of their own.
//! - `metrics`: the edge's series of `common::metrics` — handles resolved
//!   once, every known label set at zero from start-up, drop guards that
//!   bring session and stream gauges back down, one observation per MCP
//!   request and per worker call.
//! - `spans`: each MCP request's tracing span, named and attributed after
//!   the OpenTelemetry MCP semantic conventions, continuing the client's
//!   W3C trace (`_meta` or HTTP header) on a span id of its own.
//! - `drain`: SIGTERM lets the calls in flight finish (within
//!   `D365MCP_DRAIN_TIMEOUT`) and answers the rest as abandoned.
//! - `dispatch`: one tool call as plain functions — the worker request, the
//!   event relay, the call timeout.
//! - `retries`: the request id that makes a write's resends one call — the
//!   client's idempotency key, or in a session one derived from its request.
//! - `convert`: worker results and failures into MCP results and JSON-RPC errors.
//! - [`WorkerPool`]: the one worker client — in-process (for `dev`) or a set of
//!   gRPC workers chosen by a consistent-hash ring over the D365FO
//!   environment, with health checks and retry on a worker that never got the call.
//!   Its workers are a fixed list or follow the shared store's membership
//!   ([`MemberWatch`]).

mod accept;
mod auth;
mod completions;
mod confirm;
mod convert;
mod dispatch;
mod drain;
mod error;
mod follow;
mod guard;
mod http;
mod legacy;
mod limits;
mod listen;
mod listing;
mod logging;
mod mcp;
mod membership;
mod metrics;
pub mod origin;
mod prompts;
mod refusals;
mod resources;
mod retries;
pub mod scrape;
mod sessions;
mod skills;
mod spans;
mod stdio;
mod workers;

pub use auth::Principal;
pub use error::EdgeError;
pub use http::{EdgeState, Handler, app, app_with, serve, serve_with};
pub use listen::Notifier;
pub use membership::MemberWatch;
pub use sessions::released as sessions_released;
pub use stdio::{serve_lines, serve_stdio};
pub use workers::{WorkerPool, WorkerStatus};

#[cfg(test)]
mod tests;
