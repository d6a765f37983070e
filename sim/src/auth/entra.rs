//! Entra ID's token-endpoint error responses.
//!
//! Entra answers a failed token request with
//! `{"error","error_description","error_codes","timestamp","trace_id",
//! "correlation_id","error_uri"}`; the description starts with the AADSTS
//! code and ends with the trace id, correlation id and timestamp on their own
//! `\r\n`-separated lines. `invalid_client` is sent with 401, the rest with
//! 400. Clients (MSAL, azure-identity, the worker) show `error_description`
//! to a person, so the wording is Entra's.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::json;

/// A token request Entra would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraError {
    /// The OAuth 2.0 error code (`invalid_client`, `invalid_scope`, …).
    pub error: &'static str,
    /// The AADSTS number.
    pub code: u32,
    /// The message after `AADSTS{code}: `.
    pub message: String,
}

impl EntraError {
    fn new(error: &'static str, code: u32, message: String) -> Self {
        Self {
            error,
            code,
            message,
        }
    }

    /// AADSTS90002: the tenant in the URL is not this simulator's.
    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID \
                 and are signing into the correct cloud. Check with your subscription \
                 administrator, this may happen if there are no active subscriptions for the \
                 tenant."
            ),
        )
    }

    /// AADSTS900144: a required form parameter is absent.
    pub fn missing(parameter: &str) -> Self {
        Self::new(
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    /// AADSTS70003: a grant type the simulator does not serve.
    pub fn unsupported_grant(grant: &str) -> Self {
        Self::new(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        )
    }

    /// AADSTS1002012: a client-credentials scope without `/.default`.
    pub fn bad_scope(scope: &str) -> Self {
        Self::new(
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows \
                 must have a scope value with /.default suffixed to the resource identifier \
                 (application ID URI)."
            ),
        )
    }

    /// AADSTS500011: the resource in the scope is not a URL this tenant knows.
    pub fn unknown_resource(resource: &str, tenant: &str) -> Self {
        Self::new(
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named \
                 {tenant}. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant. You \
                 might have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// AADSTS700016: no app registration with this client id.
    pub fn unknown_client(client_id: &str, tenant: &str) -> Self {
        Self::new(
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory \
                 '{tenant}'. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant. You may \
                 have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// AADSTS7000218: neither a secret nor an assertion.
    pub fn missing_secret() -> Self {
        Self::new(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'."
                .to_owned(),
        )
    }

    /// AADSTS7000215: the secret does not match the app's.
    pub fn bad_secret(client_id: &str) -> Self {
        Self::new(
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is \
                 the client secret value, not the client secret ID, for a secret added to app \
                 '{client_id}'."
            ),
        )
    }

    /// AADSTS70011: a scope the resource does not expose, or none at all.
    pub fn invalid_scope(scope: &str) -> Self {
        Self::new(
            "invalid_scope",
            70011,
            format!(
                "The provided request must include a 'scope' input parameter. The provided \
                 value for the input parameter 'scope' is not valid. The scope {scope} is not \
                 valid."
            ),
        )
    }

    /// AADSTS28000 (guessed code): scopes of more than one resource.
    pub fn many_resources(scope: &str) -> Self {
        Self::new(
            "invalid_scope",
            28000,
            format!(
                "Provided value for the input parameter scope is not valid because it contains \
                 more than one resource. Scope {scope} is not valid."
            ),
        )
    }

    /// AADSTS50034: no user with this UPN in the tenant.
    pub fn unknown_user(upn: &str, tenant: &str) -> Self {
        Self::new(
            "invalid_grant",
            50034,
            format!(
                "The user account {upn} does not exist in the {tenant} directory. To sign into \
                 this application, the account must be added to the directory."
            ),
        )
    }

    /// AADSTS50126: the password does not match.
    pub fn bad_credentials() -> Self {
        Self::new(
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.".to_owned(),
        )
    }

    /// AADSTS50027: the assertion is not a JWT (or is too long to be one).
    pub fn malformed_assertion() -> Self {
        Self::new(
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.".to_owned(),
        )
    }

    /// AADSTS50013: the assertion's signature (or issuer) is not this
    /// tenant's.
    pub fn assertion_signature(why: &str) -> Self {
        Self::new(
            "invalid_grant",
            50013,
            format!("Assertion failed signature validation. [Reason - {why}]"),
        )
    }

    /// AADSTS500133: the assertion has expired.
    pub fn assertion_expired(now: u64, exp: u64) -> Self {
        Self::new(
            "invalid_grant",
            500133,
            format!(
                "Assertion is not within its valid time range. Ensure that the access token is \
                 not expired before using it for user assertion, or request a new token. \
                 Current time: {}, expiry time of assertion {}.",
                entra_timestamp(now),
                entra_timestamp(exp)
            ),
        )
    }

    /// AADSTS500131: the assertion was issued for another app.
    pub fn assertion_audience(aud: &str, client_id: &str) -> Self {
        Self::new(
            "invalid_grant",
            500131,
            format!(
                "Assertion audience does not match the Client app presenting the assertion. The \
                 audience in the assertion was '{aud}' and the expected audience is \
                 '{client_id}' or one of the Application Id URIs of this application with App \
                 ID '{client_id}'."
            ),
        )
    }

    /// An app-only assertion (guessed code and wording: Entra refuses it,
    /// how exactly is not documented).
    pub fn assertion_not_user() -> Self {
        Self::new(
            "invalid_grant",
            50013,
            "Assertion failed signature validation. [Reason - The assertion is an app-only \
             token; on-behalf-of needs a user's token.]"
                .to_owned(),
        )
    }

    /// AADSTS700027 (guessed for this case): a client assertion, which needs
    /// a certificate the simulator does not know.
    pub fn client_assertion_unsupported() -> Self {
        Self::new(
            "invalid_client",
            700027,
            "Client assertion failed signature validation. (The simulator registers no \
             certificates: authenticate with client_secret.)"
                .to_owned(),
        )
    }

    /// AADSTS50000 (guessed): the simulator could not sign a token.
    pub fn server_error() -> Self {
        Self::new(
            "temporarily_unavailable",
            50000,
            "There was an error issuing a token.".to_owned(),
        )
    }

    /// The HTTP status Entra sends this error with.
    pub fn status(&self) -> StatusCode {
        if self.error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else if self.error == "temporarily_unavailable" {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        }
    }

    /// The JSON body, stamped with `now` (Unix seconds) and fresh ids; the
    /// correlation id is the client's `client-request-id` when it sent one.
    pub fn body(&self, now: u64, correlation_id: Option<&str>) -> String {
        let timestamp = entra_timestamp(now);
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = correlation_id
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
            self.code, self.message
        );
        let mut out = String::with_capacity(512 + description.len());
        out.push_str("{\"error\":");
        json::push_str(&mut out, self.error);
        out.push_str(",\"error_description\":");
        json::push_str(&mut out, &description);
        out.push_str(&format!(",\"error_codes\":[{}],\"timestamp\":", self.code));
        json::push_str(&mut out, &timestamp);
        out.push_str(",\"trace_id\":");
        json::push_str(&mut out, &trace_id);
        out.push_str(",\"correlation_id\":");
        json::push_str(&mut out, &correlation_id);
        out.push_str(",\"error_uri\":");
        json::push_str(
            &mut out,
            &format!("https://login.microsoftonline.com/error?code={}", self.code),
        );
        out.push('}');
        out
    }

    /// The full response.
    pub fn into_response_at(self, now: u64, correlation_id: Option<&str>) -> Response {
        json_response(self.status(), self.body(now, correlation_id))
    }
}

/// A token-endpoint answer: JSON, never cached, as Entra sends it.
pub fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    response
}

/// `YYYY-MM-DD hh:mm:ssZ` in UTC, Entra's timestamp format.
pub fn entra_timestamp(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let secs = unix % 86_400;
    // Howard Hinnant's days-to-civil, for dates without a calendar crate.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(entra_timestamp(0), "1970-01-01 00:00:00Z");
        assert_eq!(entra_timestamp(1_575_009_567), "2019-11-29 06:39:27Z");
        assert_eq!(entra_timestamp(951_782_400), "2000-02-29 00:00:00Z");
    }

    #[test]
    fn bodies_have_the_entra_shape() {
        let e = EntraError::bad_secret("app");
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        let body: serde_json::Value =
            serde_json::from_str(&e.body(1_575_009_567, Some("corr"))).unwrap();
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_codes"][0], 7000215);
        assert_eq!(body["timestamp"], "2019-11-29 06:39:27Z");
        assert_eq!(body["correlation_id"], "corr");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.starts_with("AADSTS7000215: Invalid client secret provided."));
        assert!(description.ends_with("\r\nTimestamp: 2019-11-29 06:39:27Z"));
        assert_eq!(
            EntraError::missing("scope").status(),
            StatusCode::BAD_REQUEST
        );
    }
}
