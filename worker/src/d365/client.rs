//! The HTTP client of one D365FO environment: sends a request with a token,
//! maps the answer to JSON or a [`WorkerError`], and retries what the
//! [`RetryPolicy`] allows. Bodies are read up to [`MAX_BODY_BYTES`]: D365FO
//! pages are bounded, and anything larger is refused rather than buffered.

use std::time::Duration;

use common::config::D365Config;
use reqwest::{Method, header};
use serde_json::Value;
use url::Url;

use super::{
    auth::TokenProvider,
    errors,
    retry::{Attempts, Deadline, Idempotency, RetryPolicy},
};
use crate::error::WorkerError;

/// Largest response body read from D365FO.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Talks to one D365FO environment over a shared, pooled HTTP client.
pub struct D365Client {
    http: reqwest::Client,
    config: D365Config,
    auth: TokenProvider,
    request_timeout: Duration,
    retry: RetryPolicy,
    max_body_bytes: usize,
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
        }
    }

    /// The same client, reading bodies of at most `bytes` (tests use a small
    /// limit; the default is [`MAX_BODY_BYTES`]).
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
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

    /// Sends `call`, retrying as its idempotency and the policy allow.
    pub async fn send(&self, call: Call<'_>) -> Result<Value, WorkerError> {
        self.with_retries(&call, || self.send_once(&call)).await
    }

    /// GET `url` as text (`/data/$metadata`, which is XML), retried as a read.
    pub async fn get_text(&self, url: &str, deadline: Deadline) -> Result<String, WorkerError> {
        let call = Call {
            method: &Method::GET,
            url,
            body: None,
            idempotency: Idempotency::Idempotent,
            retry: true,
            deadline,
        };
        self.with_retries(&call, || async {
            let (_, body) = self.exchange(&call, "application/xml").await?;
            String::from_utf8(body)
                .map_err(|_| WorkerError::BadResponse("a document that is not UTF-8".into()))
        })
        .await
    }

    /// Runs `once` until it succeeds or the policy gives up.
    async fn with_retries<T, F, Fut>(&self, call: &Call<'_>, mut once: F) -> Result<T, WorkerError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, WorkerError>>,
    {
        let mut attempts = Attempts::default();
        loop {
            let error = match once().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if matches!(error, WorkerError::UpstreamAuth { status: 401, .. }) {
                // The token may have been revoked early; the next call fetches
                // a new one instead of failing until the cache expires.
                self.auth.invalidate().await;
            }
            let wait = call
                .retry
                .then(|| {
                    self.retry
                        .next_wait(call.idempotency, &mut attempts, &error, call.deadline)
                })
                .flatten();
            let Some(wait) = wait else {
                return Err(error);
            };
            tracing::info!(
                path = path_of(call.url),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "retrying D365FO request"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn send_once(&self, call: &Call<'_>) -> Result<Value, WorkerError> {
        let (status, body) = self.exchange(call, "application/json").await?;
        let text = String::from_utf8_lossy(&body);
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| {
            let kind = if text.trim_start().starts_with('<') {
                "an HTML page instead of JSON".to_owned()
            } else {
                format!("invalid JSON ({e})")
            };
            WorkerError::BadResponse(format!("HTTP {status} with {kind}"))
        })
    }

    /// One request: the status and body of a 2xx answer, else the error
    /// the answer means.
    async fn exchange(&self, call: &Call<'_>, accept: &str) -> Result<(u16, Vec<u8>), WorkerError> {
        if call.deadline.is_past() {
            return Err(WorkerError::DeadlineExceeded(
                "the call's deadline passed before D365FO answered".into(),
            ));
        }
        let timeout = call
            .deadline
            .remaining()
            .map_or(self.request_timeout, |left| left.min(self.request_timeout));
        let mut request = self
            .http
            .request(call.method.clone(), call.url)
            .timeout(timeout)
            .header(header::ACCEPT, accept)
            .header("OData-Version", "4.0")
            .header("OData-MaxVersion", "4.0");
        if let Some(token) = self.auth.token().await? {
            request = request.header(header::AUTHORIZATION, token.header_value());
        }
        if let Some(body) = call.body {
            request = request.json(body);
        }
        let started = tokio::time::Instant::now();
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(&e, timeout))?;
        let status = response.status().as_u16();
        let retry_after = errors::parse_retry_after(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        let body = read_body(response, self.max_body_bytes, timeout).await?;
        tracing::debug!(
            method = %call.method,
            path = path_of(call.url),
            status,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "D365FO answered"
        );
        if !(200..300).contains(&status) {
            return Err(errors::from_response(
                status,
                retry_after,
                &String::from_utf8_lossy(&body),
            ));
        }
        Ok((status, body))
    }
}

/// The body of `response`, refused once it passes `limit` bytes.
async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, WorkerError> {
    let too_large = || {
        let limit = if limit >= 1 << 20 {
            format!("{} MiB", limit >> 20)
        } else {
            format!("{limit} bytes")
        };
        WorkerError::BadResponse(format!(
            "a response body larger than {limit}, not read; ask for fewer rows (`top`) or \
             fields (`select`)"
        ))
    };
    let declared = response.content_length().unwrap_or(0);
    if !usize::try_from(declared).is_ok_and(|n| n <= limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(&e, timeout))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The URL without its query: logs may not hold filters and keys' values
/// in the query (personal data), nor anything a link carries after `?`.
fn path_of(url: &str) -> &str {
    url.split_once('?').map_or(url, |(path, _)| path)
}

/// Maps a transport-level failure; the message names the root cause only,
/// not the URL.
fn transport_error(error: &reqwest::Error, timeout: Duration) -> WorkerError {
    if error.is_timeout() {
        WorkerError::DeadlineExceeded(format!(
            "D365FO did not answer within {} ms",
            timeout.as_millis()
        ))
    } else if error.is_connect() {
        WorkerError::Unavailable(format!("cannot connect: {}", root_cause(error)))
    } else {
        WorkerError::Unavailable(format!("request failed: {}", root_cause(error)))
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
