//! `d365fo_call_action`: an OData action, unbound, bound to an entity set,
//! or bound to one record.
//!
//! An action may change data, so the call is claimed once in the shared
//! store and sent once (see `crate::d365::WriteOnce`); it is resent only
//! after D365FO throttled it (429), which refuses a request before it runs.

use common::catalogue::{
    args::execution::ACTION_NAMESPACE,
    execution::{ActionArgs, ActionBinding as Binding, ActionResult},
    names,
};
use serde_json::Value;

use super::outcome::{self, Bounded};
use crate::{
    d365::{
        Idempotency, Settled, WriteOnce,
        odata::{QueryOptions, data_url},
    },
    error::WorkerError,
    tools::{Context, data::keys::KeyTyper},
};

/// What D365FO's 404 leaves the model to check.
const NOT_FOUND_HINT: &str = "Find the action, its binding and its entity set with \
    d365fo_search_actions; for an action bound to a record, check the key with \
    d365fo_get_entity_record";

/// The action's path under `/data`, and its binding; `key` is the record's
/// key predicate, typed by the metadata (`crate::tools::data::keys`).
fn path(args: &ActionArgs, key: Option<&str>) -> Result<(String, Binding), WorkerError> {
    let invalid = |reason: &str| WorkerError::invalid_args(names::CALL_ACTION, reason);
    let action = format!("{ACTION_NAMESPACE}{}", args.action);
    match (&args.entity_set, key) {
        (None, Some(_)) => Err(invalid(
            "`key` needs `entity_set`: give the entity set the record belongs to, e.g. \
             \"CustomersV3\"",
        )),
        (_, None) if args.cross_company => Err(invalid(
            "`cross_company` applies only to an action bound to a record (with `key`)",
        )),
        (None, None) => Ok((action, Binding::Unbound)),
        (Some(set), None) => Ok((format!("{set}/{action}"), Binding::EntitySet)),
        (Some(set), Some(key)) => Ok((format!("{set}{key}/{action}"), Binding::Record)),
    }
}

/// Claims the call, posts the parameters once and returns the action's value.
pub async fn run(ctx: &Context<'_>, args: ActionArgs) -> Result<ActionResult, WorkerError> {
    let key = match (&args.entity_set, &args.key) {
        (Some(set), Some(key)) => Some(
            KeyTyper::new(ctx)
                .predicate(set, key)
                .await
                .map_err(|why| WorkerError::invalid_args(names::CALL_ACTION, why))?,
        ),
        (_, key) => key.as_ref().map(|k| k.predicate.clone()),
    };
    let (path, binding) = path(&args, key.as_deref())?;
    let query = QueryOptions {
        cross_company: args.cross_company,
        ..QueryOptions::default()
    };
    let url = data_url(ctx.client.base_url(), &path, &query);
    let claim = WriteOnce::claim(ctx.global, ctx.request_id, names::CALL_ACTION).await?;
    let body = Value::Object(args.parameters);
    let answer = ctx
        .client
        .post_json(&url, &body, Idempotency::NonIdempotent, ctx.deadline)
        .await;
    claim.settle(Settled::of(&answer)).await;
    let answer = answer.map_err(|e| outcome::not_found_with_hint(e, NOT_FOUND_HINT))?;
    let limit = ctx.max_result_bytes;
    let bounded = Bounded::new(outcome::action_value(answer), limit);
    Ok(ActionResult {
        action: args.action,
        binding,
        entity_set: args.entity_set,
        note: bounded.note("The action", limit),
        result: bounded.result,
        result_bytes: bounded.bytes,
        result_omitted: bounded.omitted,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(v: Value) -> ActionArgs {
        serde_json::from_value(v).unwrap()
    }

    /// The path with the key as read, untyped.
    fn untyped(args: &ActionArgs) -> Result<(String, Binding), WorkerError> {
        path(args, args.key.as_ref().map(|k| k.predicate.as_str()))
    }

    #[test]
    fn paths_of_the_three_bindings() {
        let (p, b) = untyped(&args(json!({"action": "GetCompanyName"}))).unwrap();
        assert_eq!(
            (p.as_str(), b),
            (
                "Microsoft.Dynamics.DataEntities.GetCompanyName",
                Binding::Unbound
            )
        );
        let (p, b) = untyped(&args(
            json!({"action": "GetApplicationVersion", "entity_set": "DataManagementEntities"}),
        ))
        .unwrap();
        assert_eq!(
            (p.as_str(), b),
            (
                "DataManagementEntities/Microsoft.Dynamics.DataEntities.GetApplicationVersion",
                Binding::EntitySet
            )
        );
        let (p, b) = untyped(&args(json!({
            "action": "PrintAccountStatement",
            "entity_set": "CustomersV3",
            "key": {"dataAreaId": "usmf", "CustomerAccount": "O'Neil"},
            "cross_company": true
        })))
        .unwrap();
        assert_eq!(
            (p.as_str(), b),
            (
                "CustomersV3(CustomerAccount='O''Neil',dataAreaId='usmf')/Microsoft.Dynamics.DataEntities.PrintAccountStatement",
                Binding::Record
            )
        );
    }

    #[test]
    fn inconsistent_bindings_are_refused() {
        let e = untyped(&args(json!({"action": "A", "key": {"Id": 1}}))).unwrap_err();
        assert!(e.to_string().contains("`key` needs `entity_set`"), "{e}");
        let e = untyped(&args(
            json!({"action": "A", "entity_set": "S", "cross_company": true}),
        ))
        .unwrap_err();
        assert!(
            e.to_string().contains("`cross_company` applies only"),
            "{e}"
        );
    }
}
