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
    // Trimmed, as the edge and `Node::environment` read it.
    let asked = match args.get("environment") {
        None | Some(Value::Null) => request.environment.trim(),
        Some(Value::String(name)) => name.trim(),
        Some(_) => return Ok(()),
    };
    // A named environment is checked as named, before it is looked up, so
    // that a refusal never lists environments of other tenants; only the
    // default needs resolving.
    let environment = if asked.is_empty() {
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use common::{
        config::{D365Config, Environments, WorkerConfig, auth::parse_file},
        proto::Principal,
    };
    use serde_json::json;

    use super::*;
    use crate::Worker;

    const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    /// A worker serving `home` (its default) and `fabrikam`; `keys` the
    /// keys file whose policy it checks.
    fn worker(keys: Option<&str>) -> Worker {
        let env = |name: &str| D365Config {
            name: name.into(),
            base_url: url::Url::parse("http://127.0.0.1:9").unwrap(),
            credentials: None,
        };
        let mut config = WorkerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), env("home"))
            .with_environments(Environments {
                default: "home".into(),
                all: vec![env("home"), env("fabrikam")],
            });
        if let Some(keys) = keys {
            config.policy = parse_file(keys).unwrap().policy;
        }
        Worker::standalone(config).unwrap()
    }

    fn call(subject: &str, tenant: &str, tool: &str, arguments: Value) -> CallToolRequest {
        CallToolRequest {
            tenant: tenant.into(),
            principal: Some(Principal {
                subject: subject.into(),
                ..Default::default()
            }),
            tool: tool.into(),
            arguments_json: arguments.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn the_worker_checks_the_policy_from_the_call_s_principal() {
        let keys = format!(
            "[tenants.f]\nenvironments = [\"fabrikam\"]\n\
             [keys.app]\nsha256 = \"{DIGEST}\"\ntenant = \"f\"\n"
        );
        let worker = worker(Some(&keys));
        let node = worker.node();
        let query = catalogue::names::QUERY_ENTITIES;
        let allowed = call("app", "f", query, json!({"environment": "fabrikam"}));
        assert!(authorize(node, &allowed).is_ok());
        let padded = call("app", "f", query, json!({"environment": " fabrikam "}));
        assert!(
            authorize(node, &padded).is_ok(),
            "trimmed, as the edge reads it"
        );
        // Naming none means the worker's default, which this key may not use.
        let default = authorize(node, &call("app", "f", query, json!({}))).unwrap_err();
        assert_eq!(default.code(), common::ErrorCode::PermissionDenied);
        assert!(
            default.to_string().contains("environment `home`"),
            "{default}"
        );
        // An unknown name is refused without listing the worker's environments.
        let unknown = authorize(node, &call("app", "f", query, json!({"environment": "x"})));
        let unknown = unknown.unwrap_err().to_string();
        assert!(
            unknown.contains("it may use: fabrikam") && !unknown.contains("home"),
            "{unknown}"
        );
        // Another tenant's claim to the same key name is not that key.
        let claimed = call("app", "other", query, json!({"environment": "fabrikam"}));
        assert!(authorize(node, &claimed).is_err());
        let nobody = CallToolRequest {
            principal: None,
            ..allowed
        };
        assert!(authorize(node, &nobody).is_err());
    }

    #[test]
    fn without_a_policy_every_call_passes() {
        let worker = worker(None);
        let call = call(
            "anyone",
            "any",
            catalogue::names::RESET_PERFORMANCE_STATS,
            json!({}),
        );
        assert!(authorize(worker.node(), &call).is_ok());
    }
}
