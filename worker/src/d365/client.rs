//! The HTTP client of one D365FO environment: sends a request with a token,
//! maps the answer to JSON or a [`WorkerError`], and retries what the
//! [`RetryPolicy`] allows. Bodies are read up to [`MAX_BODY_BYTES`]: D365FO
//! pages are bounded, and anything larger is refused rather than buffered.
//!
//! Writes ([`Idempotency::NonIdempotent`]) are told apart on failure: a
//! request that provably never left (no connection) is
//! [`WorkerError::Unavailable`], while one that may have reached D365FO and
//! got no usable answer (timeout, reset, 5xx, unreadable body) is
//! [`WorkerError::OutcomeUnknown`], which nobody should retry blindly.
//!
//! A 401 to a request that carried a token drops that token from the
//! [`TokenProvider`]'s cache, and the request is sent once more with a new
//! one (`D365Client::renews_token`); a second 401 is the caller's error.
//!
//! With a [`Breaker`], every request asks it first and tells it afterwards
//! what the exchange said about the environment's health ([`Health`]).
//!
//! Whose token a request carries is decided per request from the call's
//! [`obo::Caller`] (a task-local the executor sets): with on-behalf-of on
//! for the environment, a signed-in user's own token and the user's own
//! throttle window (`super::identity`); otherwise the application's.

use std::{sync::Arc, time::Duration};

use common::config::{BreakerConfig, D365Config};
use reqwest::{Method, header};
use serde_json::Value;
use tracing::Instrument;
use url::Url;

pub use super::request::{Answer, Body, Request};
use super::{
    auth::{TokenProvider, obo},
    breaker::{Breaker, BreakerCounters, Health},
    errors,
    retry::{Attempts, Deadline, Idempotency, RetryPolicy},
    throttle::ThrottleGate,
    transport::{not_sent, read_body, transport_error},
};
use crate::{error::WorkerError, metrics::Sent};

/// Largest response body read from D365FO.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// How long before the call's deadline a write's HTTP request times out.
/// The executor ends a call at its deadline with a plain (retryable)
/// deadline error; the write must fail first, with its outcome-unknown
/// error, so the caller learns that it may have been applied.
pub const WRITE_DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// Talks to one D365FO environment over a shared, pooled HTTP client.
pub struct D365Client {
    http: reqwest::Client,
    config: D365Config,
    auth: TokenProvider,
    request_timeout: Duration,
    retry: RetryPolicy,
    max_body_bytes: usize,
    throttle: Option<Arc<ThrottleGate>>,
    /// The store of the throttle windows, for users' gates.
    throttle_store: Option<common::store::SharedStore>,
    /// Signed-in users' own identities, when the environment uses them.
    obo: Option<obo::OnBehalfOf>,
    /// Users' throttle gates, made on demand (`super::identity`).
    user_gates: super::identity::UserGates,
    breaker: Option<Breaker>,
}

/// One request to send.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// GET or POST.
    pub method: &'a Method,
    /// Absolute URL inside the environment.
    pub url: &'a str,
    /// JSON body, for POST.
    pub body: Option<&'a Value>,
    /// Whether it may be sent again.
    pub idempotency: Idempotency,
    /// Whether to retry at all (a connection test wants the first answer).
    pub retry: bool,
    /// The call's deadline.
    pub deadline: Deadline,
}

impl D365Client {
    /// A client for `config`, sending through `http`.
    pub fn new(
        http: reqwest::Client,
        config: D365Config,
        auth: TokenProvider,
        request_timeout: Duration,
    ) -> Self {
        Self {
            http,
            config,
            auth,
            request_timeout,
            retry: RetryPolicy::default(),
            max_body_bytes: MAX_BODY_BYTES,
            throttle: None,
            throttle_store: None,
            obo: None,
            user_gates: super::identity::UserGates::default(),
            breaker: None,
        }
    }

    /// The same client, calling D365FO as the signed-in user of each call
    /// that has one, as `obo`'s policy says (see [`obo`]).
    pub fn with_on_behalf_of(mut self, obo: Option<obo::OnBehalfOf>) -> Self {
        self.obo = obo;
        self
    }

    /// Refuses `caller` when this environment requires a signed-in user.
    pub fn admit(&self, caller: &obo::Caller) -> Result<(), WorkerError> {
        self.obo.as_ref().map_or(Ok(()), |obo| obo.admit(caller))
    }

    /// The same client, reading bodies of at most `bytes` (tests use a small
    /// limit; the default is [`MAX_BODY_BYTES`]).
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The same client, sharing D365FO's throttling of this environment and
    /// identity with every worker on `store` (see [`ThrottleGate`]).
    pub fn with_shared_throttling(mut self, store: common::store::SharedStore) -> Self {
        let identity = self
            .config
            .credentials
            .as_ref()
            .map_or("anonymous", |c| c.client_id.as_str());
        self.throttle = Some(Arc::new(ThrottleGate::new(
            store.clone(),
            &self.config.name,
            self.config.base_url.as_str(),
            identity,
        )));
        self.throttle_store = Some(store);
        self
    }

    /// The same client, refusing to send while this environment keeps
    /// failing, as every worker on `store` does (see [`Breaker`]); a
    /// threshold of 0 leaves it without one. Its opens and refusals are
    /// counted in `counters`.
    pub fn with_circuit_breaker(
        mut self,
        store: common::store::SharedStore,
        config: &BreakerConfig,
        counters: Arc<BreakerCounters>,
    ) -> Self {
        self.breaker = config.is_on().then(|| {
            // A probe holds its claim as long as its request may run.
            let probe_ttl = self.request_timeout.saturating_add(Duration::from_secs(1));
            Breaker::new(
                store,
                &self.config.name,
                self.config.base_url.as_str(),
                config.clone(),
                probe_ttl,
                counters,
            )
        });
        self
    }

    /// The environment's settings.
    pub fn config(&self) -> &D365Config {
        &self.config
    }

    /// The environment's base URL.
    pub fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    /// GET `url`, retried as a read.
    pub async fn get_json(&self, url: &str, deadline: Deadline) -> Result<Value, WorkerError> {
        self.send(Call {
            method: &Method::GET,
            url,
            body: None,
            idempotency: Idempotency::Idempotent,
            retry: true,
            deadline,
        })
        .await
    }

    /// POST `body` as JSON to `url`. `idempotency` says whether it may be
    /// sent again: a read-only action may; a write is resent only after a
    /// 429 (refused before it ran).
    pub async fn post_json(
        &self,
        url: &str,
        body: &Value,
        idempotency: Idempotency,
        deadline: Deadline,
    ) -> Result<Value, WorkerError> {
        self.send(Call {
            method: &Method::POST,
            url,
            body: Some(body),
            idempotency,
            retry: true,
            deadline,
        })
        .await
    }

    /// Sends `call`, retrying as its idempotency and the policy allow, and
    /// reads the answer as JSON (`null` when empty). A write's 2xx answer
    /// that cannot be read leaves its outcome unknown: D365FO said it
    /// accepted the call, so it must not be sent again.
    pub async fn send(&self, call: Call<'_>) -> Result<Value, WorkerError> {
        let writes = matches!(call.idempotency, Idempotency::NonIdempotent);
        let body = call.body.map_or(Body::Empty, Body::Json);
        let answer = self
            .request(Request {
                method: call.method,
                url: call.url,
                body,
                headers: &[],
                idempotency: call.idempotency,
                retry: call.retry,
                deadline: call.deadline,
            })
            .await?;
        answer.json().map_err(|e| {
            if !writes {
                return e;
            }
            WorkerError::OutcomeUnknown(format!(
                "D365FO accepted it (HTTP {}), but its answer could not be read ({e})",
                answer.status
            ))
        })
    }

    /// Sends `request`, retrying as its idempotency and the policy allow,
    /// and returns D365FO's 2xx answer whole.
    pub async fn request(&self, request: Request<'_>) -> Result<Answer, WorkerError> {
        // A URL no server takes (a filter of thousands of terms) is the
        // caller's to shorten: refused here, before anything is sent, and
        // never retried.
        super::odata::check_url_length(request.url)
            .map_err(|reason| WorkerError::invalid_args("the D365FO request", reason))?;
        let who = self.identity()?;
        let result = self.request_as(&request, &who).await;
        result.map_err(|error| who.explain(error))
    }

    /// Whose token and throttle window this task's requests use.
    fn identity(&self) -> Result<super::identity::Identity<'_>, WorkerError> {
        super::identity::Identity::of(
            &self.auth,
            self.throttle.as_ref(),
            self.obo.as_ref(),
            &self.user_gates,
            self.throttle_store
                .as_ref()
                .map(|store| (store, &self.config)),
        )
    }

    /// [`Self::request`] as `who`.
    async fn request_as(
        &self,
        request: &Request<'_>,
        who: &super::identity::Identity<'_>,
    ) -> Result<Answer, WorkerError> {
        let request = *request;
        let mut attempts = Attempts::default();
        // A 401 is answered once with a new token (see `renews_token`).
        let mut token_renewed = false;
        loop {
            if let Some(gate) = who.gate() {
                gate.wait(request.deadline).await?;
            }
            let mut sent = Sent::NotSent;
            let error = match self.send_traced(&request, who.tokens(), &mut sent).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            if let (
                Some(gate),
                WorkerError::Throttled {
                    retry_after: Some(wait),
                },
            ) = (who.gate(), &error)
            {
                gate.close_for(*wait).await;
            }
            let wait = if request.retry && !token_renewed && renews_token(who.tokens(), &error) {
                token_renewed = true;
                Some(Duration::ZERO)
            } else {
                request
                    .retry
                    .then(|| {
                        self.retry.next_wait(
                            request.idempotency,
                            &mut attempts,
                            &error,
                            request.deadline,
                        )
                    })
                    .flatten()
            };
            let Some(wait) = wait else {
                return Err(error);
            };
            let reason = crate::metrics::retry_reason(&error, sent);
            crate::metrics::retry(&self.config.name, reason);
            let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            tracing::info!(
                method = %request.method,
                path = path_of(request.url),
                wait_ms,
                error = %error,
                "retrying D365FO request"
            );
            crate::call_log::emit(
                "warning",
                serde_json::json!({
                    "message": format!("D365FO did not answer {} {}; retrying in {wait_ms} ms", request.method, path_of(request.url)),
                    "reason": error.to_string().chars().take(300).collect::<String>(),
                    "retryInMs": wait_ms,
                }),
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// [`Self::send_once`] in a span of its own, whose id the request
    /// carries to D365FO as its `traceparent` (`super::trace`).
    async fn send_traced(
        &self,
        call: &Request<'_>,
        auth: &TokenProvider,
        sent: &mut Sent,
    ) -> Result<Answer, WorkerError> {
        let planned = common::trace::plan(None);
        let span = super::trace::span(call.method, &self.config.base_url, &planned);
        let context = common::trace::start(&span, planned);
        // The context goes down as a parameter, not a task-local scope: one
        // scope less to enter and leave on every poll of every request.
        let result = self
            .send_once(call, auth, sent, &context)
            .instrument(span.clone())
            .await;
        super::trace::finish(&span, *sent, &result);
        result
    }

    /// Sends `call` once, when the breaker (if any) lets it, and tells the
    /// breaker how it went; `sent` learns whether and how D365FO answered.
    async fn send_once(
        &self,
        call: &Request<'_>,
        auth: &TokenProvider,
        sent: &mut Sent,
        trace: &common::trace::SpanContext,
    ) -> Result<Answer, WorkerError> {
        let mut health = Health::Unknown;
        let Some(breaker) = &self.breaker else {
            return self.exchange(call, auth, &mut health, sent, trace).await;
        };
        let permit = breaker.admit().await?;
        let result = self.exchange(call, auth, &mut health, sent, trace).await;
        breaker.record(permit, health).await;
        result
    }

    /// One HTTP exchange; `health` learns what it says about the
    /// environment as far as it got, `sent` what came back (and the
    /// request is counted in the metrics once it has left).
    async fn exchange(
        &self,
        call: &Request<'_>,
        auth: &TokenProvider,
        health: &mut Health,
        sent: &mut Sent,
        trace: &common::trace::SpanContext,
    ) -> Result<Answer, WorkerError> {
        let write = call.idempotency == Idempotency::NonIdempotent;
        let deadline = if write {
            call.deadline.earlier_by(WRITE_DEADLINE_MARGIN)
        } else {
            call.deadline
        };
        // The token first: fetching one can take seconds, and the HTTP
        // timeout below must count from the moment the request leaves, or a
        // write could still be in flight when the call's deadline passes.
        let token = match deadline.instant() {
            Some(at) => tokio::time::timeout_at(at, auth.token())
                .await
                .map_err(|_| not_sent(write, " while a token was fetched"))??,
            None => auth.token().await?,
        };
        if deadline.is_past() {
            return Err(not_sent(write, ""));
        }
        let timeout = deadline
            .remaining()
            .map_or(self.request_timeout, |left| left.min(self.request_timeout));
        // A timeout the caller's deadline shortened is no sign of ill health.
        let cut_short = timeout < self.request_timeout;
        let mut request = self
            .http
            .request(call.method.clone(), call.url)
            .timeout(timeout)
            .header("OData-Version", "4.0")
            .header("OData-MaxVersion", "4.0");
        if !call
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("accept"))
        {
            request = request.header(header::ACCEPT, "application/json");
        }
        for (name, value) in call.headers {
            request = request.header(*name, *value);
        }
        request = super::trace::propagate(request, trace);
        if let Some(token) = &token {
            request = request.header(header::AUTHORIZATION, token.header_value());
        }
        request = match call.body {
            Body::Empty => request,
            Body::Json(body) => request.json(body),
            Body::Raw {
                content_type,
                bytes,
            } => request
                .header(header::CONTENT_TYPE, content_type)
                .body(bytes.to_vec()),
        };
        let started = tokio::time::Instant::now();
        let environment = self.config.name.as_str();
        let response = request.send().await.map_err(|e| {
            *health = Health::of_transport(&e, cut_short);
            if !e.is_builder() {
                *sent = if e.is_timeout() {
                    Sent::Timeout
                } else {
                    Sent::Connection
                };
            }
            crate::metrics::upstream_request(environment, call.method, *sent, started.elapsed());
            transport_error(&e, timeout, write)
        })?;
        let status = response.status().as_u16();
        if let (401, Some(token)) = (status, &token) {
            // Revoked or rotated before it expired: whoever sends next
            // (this request's retry, or another call) fetches a new one.
            auth.invalidate(token);
        }
        *health = Health::of_status(status);
        *sent = Sent::Answered(status);
        let headers = response.headers().clone();
        let retry_after = errors::parse_retry_after(
            headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        let body = read_body(response, self.max_body_bytes, timeout)
            .await
            .map_err(|e| {
                crate::metrics::upstream_request(
                    environment,
                    call.method,
                    *sent,
                    started.elapsed(),
                );
                if !matches!(e, WorkerError::BadResponse(_)) {
                    // The answer broke off (a reset, a stall past the timeout).
                    *health = if cut_short {
                        Health::Unknown
                    } else {
                        Health::Failed
                    };
                }
                e
            })
            .map_err(|e| match e {
                // D365FO has answered; only the answer is lost.
                e if write => WorkerError::OutcomeUnknown(format!(
                    "D365FO answered HTTP {status}, but the answer could not be read ({e})"
                )),
                e => e,
            })?;
        // Counted once the body is read (or failed to be, above): the
        // duration is the whole exchange.
        crate::metrics::upstream_request(environment, call.method, *sent, started.elapsed());
        tracing::debug!(
            method = %call.method,
            path = path_of(call.url),
            status,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "D365FO answered"
        );
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&body);
            return Err(match errors::from_response(status, retry_after, &text) {
                // A 5xx to a write says nothing about whether it ran: a
                // gateway may time out while D365FO commits.
                WorkerError::Unavailable(message) if write => {
                    WorkerError::OutcomeUnknown(format!("D365FO answered {message}"))
                }
                // Nor does a status that is not one of D365FO's refusals of
                // a request it did not run (a gateway's 408 or 499, a
                // redirect): a refusal is what lets a keyed retry run afresh.
                WorkerError::Rejected { status, message } if write && !refused(status) => {
                    WorkerError::OutcomeUnknown(format!(
                        "D365FO answered HTTP {status}, which does not say whether the write \
                         was applied: {message}"
                    ))
                }
                error => error,
            });
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// Whether `error` is answered by sending again with a new token: a 401
/// to a request that carried one, which `exchange` has already dropped
/// from the cache. Writes too: a 401 means the request was not applied
/// (RFC 9110, section 15.5.2, which also lets the client repeat it with
/// new credentials). A token revoked or rotated before it expires is
/// the case this covers; a second 401, on a token fresh from Entra ID,
/// says the fault is elsewhere (the app's D365FO user mapping) and is
/// returned as `upstream_auth` (a user's: `D365Client::request` explains
/// it as the user's account).
fn renews_token(auth: &TokenProvider, error: &WorkerError) -> bool {
    matches!(error, WorkerError::UpstreamAuth { status: 401, .. }) && auth.sends_tokens()
}

/// Whether a write answered `status` was refused without being run: the
/// OData reader's and the entity's validation failures (400, D365FO's
/// answer to a bad body or a failed `validateWrite`), and the statuses
/// with which any HTTP server refuses a request it cannot take (405, 406,
/// 411, 413, 414, 415, 422, 431). 401/403/404/409/412/429 have errors of
/// their own before this.
fn refused(status: u16) -> bool {
    matches!(status, 400 | 405 | 406 | 411 | 413 | 414 | 415 | 422 | 431)
}

/// The URL without its query: logs may not hold filters and keys' values
/// in the query (personal data), nor anything a link carries after `?`.
fn path_of(url: &str) -> &str {
    url.split_once('?').map_or(url, |(path, _)| path)
}
