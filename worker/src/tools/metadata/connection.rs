//! `d365fo_test_connection` and `d365fo_get_environment_info`.

use common::catalogue::{
    args::NoArgs,
    metadata::{ConnectionResult, EnvironmentInfoResult},
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::tools::Context;
use crate::{
    d365::{
        Call, Idempotency,
        odata::{QueryOptions, data_url},
    },
    error::WorkerError,
};

/// One row of `LegalEntities`: the cheapest authenticated read there is, and
/// present in every environment.
pub async fn test_connection(
    ctx: &Context<'_>,
    _args: NoArgs,
) -> Result<ConnectionResult, WorkerError> {
    let query = QueryOptions {
        select: vec!["LegalEntityId".into()],
        top: Some(1),
        ..QueryOptions::default()
    };
    let url = data_url(ctx.client.base_url(), "LegalEntities", &query);
    let started = tokio::time::Instant::now();
    // No retries: whoever runs this wants to see the first failure as it is.
    let outcome = ctx
        .client
        .send(Call {
            method: &Method::GET,
            url: &url,
            body: None,
            idempotency: Idempotency::Idempotent,
            retry: false,
            deadline: ctx.deadline,
        })
        .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (ok, message) = match outcome {
        Ok(_) => (
            true,
            "connected and authenticated; D365FO answered an OData query".to_owned(),
        ),
        Err(e) => (false, format!("{}: {e}", e.code())),
    };
    Ok(ConnectionResult {
        ok,
        environment: ctx.client.config().name.clone(),
        base_url: base_url(ctx),
        latency_ms: (latency_ms * 10.0).round() / 10.0,
        message,
    })
}

/// The application and platform versions, asked concurrently.
pub async fn environment_info(
    ctx: &Context<'_>,
    _args: NoArgs,
) -> Result<EnvironmentInfoResult, WorkerError> {
    let (application, platform) = tokio::try_join!(
        version(ctx, "GetApplicationVersion"),
        version(ctx, "GetPlatformBuildVersion"),
    )?;
    Ok(EnvironmentInfoResult {
        environment: ctx.client.config().name.clone(),
        base_url: base_url(ctx),
        application_version: application,
        platform_version: platform,
    })
}

/// The environment's URL as the results show it, without a trailing `/`.
fn base_url(ctx: &Context<'_>) -> String {
    ctx.client
        .base_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned()
}

async fn version(ctx: &Context<'_>, action: &str) -> Result<String, WorkerError> {
    let url = data_url(
        ctx.client.base_url(),
        &format!("DataManagementEntities/Microsoft.Dynamics.DataEntities.{action}"),
        &QueryOptions::default(),
    );
    let body = json!({});
    // A POST, but these actions only read, so sending again is safe.
    let answer = ctx
        .client
        .post_json(&url, &body, Idempotency::Idempotent, ctx.deadline)
        .await?;
    answer
        .get("value")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| WorkerError::BadResponse(format!("{action} returned no `value` string")))
}
