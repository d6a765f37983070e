use serde_json::json;

use super::*;
use crate::config::auth::parse_file;

const A: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn digest(n: u8) -> String {
    A.replacen('9', &format!("{:x}", n % 16), 1)
        .chars()
        .rev()
        .collect()
}

/// Two tenants with disjoint environments; contoso has a reader and an
/// operator, fabrikam one key limited to customers.
fn policy() -> Policy {
    parse_file(&format!(
        r#"
        [tenants.contoso]
        environments = ["contoso-prod", "contoso-test"]
        [tenants.fabrikam]
        environments = ["fabrikam"]
        tools = ["data", "metadata", "d365fo_get_performance_stats"]
        entity_sets = ["CustomersV3"]

        [keys.contoso-app]
        sha256 = "{}"
        tenant = "contoso"
        [keys.contoso-reader]
        sha256 = "{}"
        tenant = "contoso"
        read_only = true
        environments = ["contoso-test", "fabrikam"]
        [keys.contoso-ops]
        sha256 = "{}"
        tenant = "contoso"
        operator = true
        [keys.fabrikam-app]
        sha256 = "{}"
        tenant = "fabrikam"
        "#,
        digest(1),
        digest(2),
        digest(3),
        digest(4)
    ))
    .unwrap()
    .policy
}

fn tool(name: &str) -> &'static ToolSpec {
    catalogue::find(name).unwrap()
}

fn check(who: &str, tenant: &str, name: &str, env: &str, args: Value) -> Result<(), Denied> {
    let args = args.as_object().cloned().unwrap_or_default();
    policy().check(who, tenant, tool(name), env, &args)
}

fn denied(result: Result<(), Denied>, says: &str) {
    let Denied(message) = result.unwrap_err();
    assert!(message.contains(says), "{message}");
}

#[test]
fn no_rules_allow_everything() {
    let file = parse_file(&format!("[keys.a]\nsha256 = \"{A}\"\n")).unwrap();
    assert!(!file.policy.is_configured());
    for spec in catalogue::tools() {
        assert!(file.policy.lists("anyone", "any", spec));
        assert_eq!(file.policy.check("x", "y", spec, "", &Map::new()), Ok(()));
    }
    assert!(Policy::default().lists_everything("x", "y"));
}

#[test]
fn a_tenant_uses_only_its_environments() {
    let read = names::QUERY_ENTITIES;
    assert_eq!(
        check("contoso-app", "contoso", read, "contoso-prod", json!({})),
        Ok(())
    );
    denied(
        check("contoso-app", "contoso", read, "fabrikam", json!({})),
        "may not use environment `fabrikam`; it may use: contoso-prod, contoso-test",
    );
    denied(
        check("contoso-app", "contoso", read, "", json!({})),
        "must name the environment: one of contoso-prod, contoso-test",
    );
    denied(
        check(
            "fabrikam-app",
            "fabrikam",
            read,
            "contoso-prod",
            json!({"entity_set": "CustomersV3"}),
        ),
        "may not use environment",
    );
    assert_eq!(
        policy().only_environment("fabrikam-app", "fabrikam"),
        Some("fabrikam")
    );
    assert_eq!(policy().only_environment("contoso-app", "contoso"), None);
}

#[test]
fn a_key_narrows_its_tenant_and_never_widens_it() {
    // contoso-reader names `fabrikam`, which its tenant does not allow.
    denied(
        check(
            "contoso-reader",
            "contoso",
            names::QUERY_ENTITIES,
            "fabrikam",
            json!({}),
        ),
        "it may use: contoso-test",
    );
    assert_eq!(
        policy().only_environment("contoso-reader", "contoso"),
        Some("contoso-test")
    );
    denied(
        check(
            "contoso-reader",
            "contoso",
            names::CREATE_ENTITY_RECORD,
            "contoso-test",
            json!({}),
        ),
        "read-only",
    );
    assert!(!policy().lists(
        "contoso-reader",
        "contoso",
        tool(names::DELETE_ENTITY_RECORD)
    ));
    assert!(policy().lists("contoso-reader", "contoso", tool(names::GET_ENTITY_RECORD)));
}

#[test]
fn operator_tools_need_an_operator_key() {
    for name in OPERATOR_TOOLS {
        denied(
            check("contoso-app", "contoso", name, "contoso-prod", json!({})),
            "operator tool",
        );
        assert_eq!(
            check("contoso-ops", "contoso", name, "contoso-prod", json!({})),
            Ok(())
        );
    }
    assert!(policy().lists_everything("contoso-ops", "contoso"));
    assert!(!policy().lists_everything("contoso-app", "contoso"));
    // Statistics may be read by anyone whose tools include them.
    assert_eq!(
        check(
            "contoso-app",
            "contoso",
            names::GET_PERFORMANCE_STATS,
            "contoso-prod",
            json!({})
        ),
        Ok(())
    );
}

#[test]
fn tools_are_named_or_grouped() {
    denied(
        check(
            "fabrikam-app",
            "fabrikam",
            names::CALL_ACTION,
            "fabrikam",
            json!({}),
        ),
        "not among the tools this key may call",
    );
    assert!(policy().lists(
        "fabrikam-app",
        "fabrikam",
        tool(names::GET_PERFORMANCE_STATS)
    ));
    assert!(!policy().lists("fabrikam-app", "fabrikam", tool(names::RUN_REPORT)));
}

#[test]
fn entity_sets_bound_the_data_tools() {
    let who = ("fabrikam-app", "fabrikam");
    let ok = |name: &str, args: Value| check(who.0, who.1, name, "fabrikam", args);
    assert_eq!(
        ok(names::QUERY_ENTITIES, json!({"entity_set": "customersv3"})),
        Ok(())
    );
    denied(
        ok(names::QUERY_ENTITIES, json!({"entity_set": "VendorsV2"})),
        "entity set `VendorsV2`",
    );
    denied(
        ok(
            names::QUERY_ENTITIES,
            json!({"entity_set": "CustomersV3", "expand": [{"navigation": "x"}]}),
        ),
        "with `expand`",
    );
    assert_eq!(
        ok(
            names::EXECUTE_BATCH,
            json!({"operations": [{"entity_set": "CustomersV3"}]})
        ),
        Ok(())
    );
    denied(
        ok(
            names::EXECUTE_BATCH,
            json!({"operations": [{"entity_set": "CustomersV3"}, {"entity_set": "VendorsV2"}]}),
        ),
        "VendorsV2",
    );
    // Metadata is not records.
    assert_eq!(
        ok(names::GET_ENTITY_SCHEMA, json!({"entity": "VendorsV2"})),
        Ok(())
    );
    // Reports and JSON services reach beyond named sets: refused and not listed.
    let sets_only = parse_file(&format!(
        "[tenants.t]\nentity_sets = [\"CustomersV3\"]\n[keys.k]\nsha256 = \"{A}\"\ntenant = \"t\"\n"
    ))
    .unwrap()
    .policy;
    for name in [names::RUN_REPORT, names::CALL_JSON_SERVICE] {
        let Denied(message) = sets_only
            .check("k", "t", tool(name), "e", &Map::new())
            .unwrap_err();
        assert!(message.contains("beyond named entity sets"), "{message}");
        assert!(!sets_only.lists("k", "t", tool(name)));
    }
    assert!(sets_only.lists("k", "t", tool(names::QUERY_ENTITIES)));
    assert!(!sets_only.lists_everything("k", "t"));
}

#[test]
fn unknown_callers_are_refused_once_a_policy_is_set() {
    denied(
        check(
            "anonymous",
            "default",
            names::QUERY_ENTITIES,
            "x",
            json!({}),
        ),
        "not a key",
    );
    // A key presented with another tenant than its own is not that key.
    denied(
        check(
            "contoso-app",
            "fabrikam",
            names::QUERY_ENTITIES,
            "fabrikam",
            json!({}),
        ),
        "not a key",
    );
    // Long client text is cut short.
    let long = "e".repeat(10_000);
    let Denied(message) = check(
        "contoso-app",
        "contoso",
        names::QUERY_ENTITIES,
        &long,
        json!({}),
    )
    .unwrap_err();
    assert!(message.len() < 300, "{message}");
}

#[test]
fn an_empty_list_allows_nothing_and_says_so() {
    let file = parse_file(&format!(
        "[tenants.t]\nenvironments = []\n[keys.k]\nsha256 = \"{A}\"\ntenant = \"t\"\n"
    ))
    .unwrap();
    let Denied(message) = file
        .policy
        .check("k", "t", tool(names::QUERY_ENTITIES), "x", &Map::new())
        .unwrap_err();
    assert!(message.ends_with("it may use: none"), "{message}");
}

#[test]
fn mistakes_are_refused_at_start_up() {
    for (text, says) in [
        (
            format!("[tenants.a]\n[keys.k]\nsha256 = \"{A}\"\ntenant = \"b\"\n"),
            "tenant `b`, which has no [tenants.b] table",
        ),
        (
            format!("[keys.k]\nsha256 = \"{A}\"\noperator = true\n"),
            "tenant `default`, which has no [tenants.default]",
        ),
        (
            format!("[tenants.default]\ntools = [\"d365fo_nope\"]\n[keys.k]\nsha256 = \"{A}\"\n"),
            "tenants.default.tools: `d365fo_nope` is neither",
        ),
        (
            format!("[tenants.default]\nenvironments = [\" \"]\n[keys.k]\nsha256 = \"{A}\"\n"),
            "tenants.default.environments has an empty name",
        ),
        (
            format!("[tenants.default]\nwrite = true\n[keys.k]\nsha256 = \"{A}\"\n"),
            "unknown field",
        ),
    ] {
        let e = parse_file(&text).unwrap_err();
        assert!(e.reason.contains(says), "{text}: {e}");
    }
}

#[test]
fn a_key_follows_only_the_environments_it_may_use() {
    let policy = policy();
    assert!(policy.may_follow("fabrikam-app", "fabrikam", Some("fabrikam")));
    assert!(!policy.may_follow("fabrikam-app", "fabrikam", Some("contoso-prod")));
    // The default environment may be another tenant's.
    assert!(!policy.may_follow("fabrikam-app", "fabrikam", None));
    // A key of another tenant than it claims follows nothing.
    assert!(!policy.may_follow("fabrikam-app", "contoso", Some("fabrikam")));
    assert!(Policy::default().may_follow("anyone", "any", None));
}

#[test]
fn a_caller_that_is_no_key_gets_its_tenants_table_and_no_more() {
    let policy = policy();
    // An OAuth user of contoso: contoso's environments, never an operator.
    let user = "6f0c3b4e-0000-4000-8000-000000000001";
    assert!(
        check(
            user,
            "contoso",
            names::QUERY_ENTITIES,
            "contoso-prod",
            json!({})
        )
        .is_ok()
    );
    denied(
        check(
            user,
            "contoso",
            names::QUERY_ENTITIES,
            "fabrikam",
            json!({}),
        ),
        "may not use environment",
    );
    assert!(!policy.is_operator(user, "contoso"));
    // fabrikam's table limits its users as it limits its keys.
    assert!(!policy.lists(user, "fabrikam", tool(names::RUN_REPORT)));
    // No table, no rules; no subject is no one. (A key presented with
    // another tenant stays refused: `unknown_callers_are_refused_…`.)
    denied(
        check(user, "nowhere", names::QUERY_ENTITIES, "x", json!({})),
        "not a key",
    );
    denied(
        check(
            "",
            "contoso",
            names::QUERY_ENTITIES,
            "contoso-prod",
            json!({}),
        ),
        "not a key",
    );
    assert!(policy.has_tenant("contoso") && !policy.has_tenant("nowhere"));
}

/// `toolsets` chooses what is listed (a key's replaces its tenant's) and
/// alone configures no policy; `writes` narrows (the stricter wins) and
/// `refuse` stops changes to existing data on every side that checks.
#[test]
fn toolsets_list_and_writes_narrow() {
    use crate::catalogue::{Toolsets, find, names};
    let file = |body: &str| parse_file(body).map(|f| f.policy);
    let only_toolsets = file(&format!(
        "[keys.a]\nsha256 = \"{}\"\ntoolsets = [\"execution\"]\n",
        digest(1)
    ))
    .unwrap();
    assert!(!only_toolsets.is_configured());
    assert_eq!(
        only_toolsets.listed_toolsets("a", "default"),
        Toolsets::parse(["execution"]).ok()
    );
    assert_eq!(only_toolsets.listed_toolsets("b", "default"), None);
    let err = file(&format!(
        "[keys.a]\nsha256 = \"{}\"\ntoolsets = [\"reports\"]\n",
        digest(1)
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("keys.a.toolsets") && err.to_string().contains("`reports`"),
        "{err}"
    );

    let policy = file(&format!(
        "[tenants.t]\nwrites = \"confirm\"\ntoolsets = [\"all\"]\n\
         [keys.a]\nsha256 = \"{}\"\ntenant = \"t\"\nwrites = \"allow\"\n\
         [keys.r]\nsha256 = \"{}\"\ntenant = \"t\"\nwrites = \"refuse\"\ntoolsets = [\"data\"]\n",
        digest(1),
        digest(2)
    ))
    .unwrap();
    assert_eq!(
        policy.writes("a", "t"),
        Some(Writes::Confirm),
        "a key cannot loosen"
    );
    assert_eq!(policy.writes("r", "t"), Some(Writes::Refuse));
    assert_eq!(policy.listed_toolsets("a", "t"), Some(Toolsets::ALL));
    assert_eq!(
        policy.listed_toolsets("r", "t"),
        Toolsets::parse(["data"]).ok()
    );
    let delete = find(names::DELETE_ENTITY_RECORD).unwrap();
    let create = find(names::CREATE_ENTITY_RECORD).unwrap();
    let arguments = json!({"entity_set": "CustomersV3"})
        .as_object()
        .cloned()
        .unwrap();
    let refused = policy.check("r", "t", delete, "", &arguments).unwrap_err();
    assert!(refused.0.contains("writes = \"refuse\""), "{refused}");
    assert!(policy.check("r", "t", create, "", &arguments).is_ok());
    assert!(policy.check("a", "t", delete, "", &arguments).is_ok());
    let bad = file(&format!(
        "[tenants.t]\nwrites = \"maybe\"\n[keys.a]\nsha256 = \"{}\"\ntenant = \"t\"\n",
        digest(1)
    ))
    .unwrap_err();
    assert!(bad.to_string().contains("tenants.t.writes"), "{bad}");
}
