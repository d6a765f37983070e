//! The tenant policy, checked again on the worker (defence in depth) from
//! the principal and tenant each call carries — which the worker can trust
//! because the edge signed them (`grpc`, `common::assertion`).
//!
//! The edge checks first and names what is allowed; this check catches an
//! edge with an older policy, or none. It runs before anything is recorded
//! or sent, so a refused call changes nothing.

use common::{catalogue, proto::CallToolRequest};
use serde_json::Value;

use crate::{error::WorkerError, node::Node, tools};

/// Refuses `request` when the policy does not allow it.
pub fn authorize(node: &Node, request: &CallToolRequest) -> Result<(), WorkerError> {
    let policy = &node.config.policy;
    if !policy.is_configured() {
        return Ok(());
    }
    // An unknown tool or unreadable arguments are refused by the call itself.
    let Some(spec) = catalogue::find(&request.tool) else {
        return Ok(());
    };
    let args = tools::args::object(spec.name, &request.arguments_json)?;
    let asked = match args.get("environment") {
        None | Some(Value::Null) => request.environment.as_str(),
        Some(Value::String(name)) => name.as_str(),
        Some(_) => return Ok(()),
    };
    // A named environment is checked as named, before it is looked up, so
    // that a refusal never lists environments of other tenants; only the
    // default needs resolving.
    let environment = if asked.trim().is_empty() {
        match node.environment("") {
            Ok(env) => env.name.clone(),
            Err(_) => String::new(),
        }
    } else {
        asked.to_owned()
    };
    let subject = request
        .principal
        .as_ref()
        .map_or("", |p| p.subject.as_str());
    policy
        .check(subject, &request.tenant, spec, &environment, &args)
        .map_err(|denied| WorkerError::PermissionDenied(denied.0))
}
