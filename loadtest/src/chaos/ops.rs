//! What the chaos run's client asks: a seeded mix of creates, updates,
//! gets and queries on customers, each write carrying a marker the audit
//! finds in the simulator's journal.

use rand::{Rng, rngs::StdRng};
use serde::Serialize;
use serde_json::{Value, json};

/// Customers each run creates before its phases, for updates and gets.
pub const BASE_RECORDS: u64 = 8;

/// What a call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Create,
    Update,
    Get,
    Query,
}

impl Kind {
    pub fn writes(self) -> bool {
        matches!(self, Kind::Create | Kind::Update)
    }
}

/// One call of the run.
#[derive(Debug, Clone)]
pub struct Op {
    pub n: u64,
    pub kind: Kind,
    pub tool: &'static str,
    pub args: Value,
    /// For a write: the value that identifies it in the journal (the new
    /// customer's account, or the name an update sets).
    pub marker: Option<String>,
    /// For a write: its idempotency key.
    pub key: Option<String>,
}

/// How the accounts of base records start.
pub const BASE_PREFIX: &str = "CB";

/// The account of base record `i` of run `seed`.
pub fn base_account(seed: u64, i: u64) -> String {
    format!("{BASE_PREFIX}{seed}-{i}")
}

/// The create of base record `i`.
pub fn base_create(seed: u64, run: &str, i: u64) -> Op {
    create(seed, run, 1_000_000_000 + i, base_account(seed, i))
}

/// Call `n` of run `seed` (`run` makes its keys unique across processes).
pub fn next(seed: u64, run: &str, n: u64, rng: &mut StdRng) -> Op {
    let base = base_account(seed, rng.random_range(0..BASE_RECORDS));
    let key = |kind: &str| json!({"dataAreaId": "usmf", "CustomerAccount": kind});
    match rng.random_range(0..4) {
        0 => create(seed, run, n, format!("C{seed}-{n}")),
        1 => {
            let marker = format!("U{seed}-{n}");
            Op {
                n,
                kind: Kind::Update,
                tool: "d365fo_update_entity_record",
                args: json!({
                    "entity_set": "CustomersV3",
                    "key": key(&base),
                    "fields": {"OrganizationName": marker},
                }),
                key: Some(format!("chaos-{run}-{seed}-{n}")),
                marker: Some(marker),
            }
        }
        2 => Op {
            n,
            kind: Kind::Get,
            tool: "d365fo_get_entity_record",
            args: json!({"entity_set": "CustomersV3", "key": key(&base)}),
            marker: None,
            key: None,
        },
        _ => Op {
            n,
            kind: Kind::Query,
            tool: "d365fo_query_entities",
            args: json!({"entity_set": "CustomersV3", "top": 5}),
            marker: None,
            key: None,
        },
    }
}

fn create(seed: u64, run: &str, n: u64, account: String) -> Op {
    Op {
        n,
        kind: Kind::Create,
        tool: "d365fo_create_entity_record",
        args: json!({
            "entity_set": "CustomersV3",
            "fields": {
                "dataAreaId": "usmf",
                "CustomerAccount": account,
                "OrganizationName": "Chaos run",
                "CustomerGroupId": "10",
            },
        }),
        key: Some(format!("chaos-{run}-{seed}-{n}")),
        marker: Some(account),
    }
}

/// The marker of a journaled write: the account a create of customers
/// names, the name an update of a customer sets.
pub fn marker_of(method: &str, path: &str, body: &Value) -> Option<String> {
    if !path.starts_with("/data/CustomersV3") {
        return None;
    }
    let field = match method {
        "POST" => "CustomerAccount",
        "PATCH" | "PUT" | "MERGE" => "OrganizationName",
        _ => return None,
    };
    body.get(field).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn writes_carry_markers_the_journal_gives_back() {
        let mut rng = StdRng::seed_from_u64(1);
        let ops: Vec<Op> = (0..64).map(|n| next(1, "r", n, &mut rng)).collect();
        for kind in [Kind::Create, Kind::Update, Kind::Get, Kind::Query] {
            assert!(ops.iter().any(|op| op.kind == kind), "{kind:?} never drawn");
        }
        for op in ops.iter().filter(|op| op.kind.writes()) {
            let (method, body) = match op.kind {
                Kind::Create => ("POST", op.args["fields"].clone()),
                _ => ("PATCH", op.args["fields"].clone()),
            };
            let path = "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='CB1-0')";
            assert_eq!(marker_of(method, path, &body), op.marker);
            assert!(op.key.is_some());
        }
        assert_eq!(marker_of("DELETE", "/data/CustomersV3", &json!({})), None);
    }
}
