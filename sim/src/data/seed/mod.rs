//! Deterministic generation of the seeded rows.
//!
//! Draws come from the crate's SplitMix64 (`crate::splitmix`), not `rand`,
//! so that a seed gives the same data on every platform and every
//! dependency version: tests and benchmark reports may quote row values.
//!
//! Reference data (legal entities, currencies, customer groups, main
//! accounts, exchange rates) has a fixed size; customers, vendors, products,
//! orders and order lines grow with the [`Scale`](super::Scale) unit.
//! `orders` generates products, orders and lines; `ledger` the finance sets.

mod ledger;
mod orders;

use super::schema::SetDef;
use super::{Scale, Value, datetime, sets};
use crate::splitmix::SplitMix64;

/// First RecId D365FO hands out in a fresh partition.
const FIRST_REC_ID: u64 = 5_637_144_576;

/// The seeded rows' source of randomness, with the draws they need.
pub(super) struct Rng(SplitMix64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n` > 0; 0 gives 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    pub(super) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items
            .get(self.below(items.len()))
            .copied()
            .unwrap_or_default()
    }
}

/// One legal entity of the seeded environment.
pub(super) struct Company {
    pub id: &'static str,
    name: &'static str,
    pub country: &'static str,
    pub cities: &'static [&'static str],
    pub currency: &'static str,
    pub language: &'static str,
    prefix: &'static str,
    phone: &'static str,
}

pub(super) const COMPANIES: [Company; 5] = [
    Company {
        id: "usmf",
        name: "Contoso Entertainment System USA",
        country: "USA",
        cities: &[
            "Seattle",
            "Redmond",
            "Chicago",
            "Atlanta",
            "San Diego",
            "Dallas",
        ],
        currency: "USD",
        language: "en-us",
        prefix: "US",
        phone: "+1 425-555-0",
    },
    Company {
        id: "demf",
        name: "Contoso Entertainment System Germany",
        country: "DEU",
        cities: &["Berlin", "München", "Hamburg", "Köln", "Frankfurt"],
        currency: "EUR",
        language: "de",
        prefix: "DE",
        phone: "+49 30 5550",
    },
    Company {
        id: "gbsi",
        name: "Contoso Entertainment System UK",
        country: "GBR",
        cities: &["London", "Manchester", "Leeds", "Bristol"],
        currency: "GBP",
        language: "en-gb",
        prefix: "GB",
        phone: "+44 20 7946 0",
    },
    Company {
        id: "usrt",
        name: "Contoso Retail USA",
        country: "USA",
        cities: &["Seattle", "Bellevue", "Portland", "Boston"],
        currency: "USD",
        language: "en-us",
        prefix: "RT",
        phone: "+1 206-555-0",
    },
    Company {
        id: "jpmf",
        name: "Contoso Entertainment Japan",
        country: "JPN",
        cities: &["Tokyo", "Osaka", "Nagoya", "Yokohama"],
        currency: "JPY",
        language: "ja",
        prefix: "JP",
        phone: "+81 3-5555-",
    },
];

const ORG_WORDS: &[&str] = &[
    "Contoso",
    "Fabrikam",
    "Adventure Works",
    "Litware",
    "Northwind",
    "Tailspin",
    "Wingtip",
    "Proseware",
    "Alpine Ski House",
    "Coho Winery",
    "Lucerne Publishing",
    "Trey Research",
];
const ORG_KINDS: &[&str] = &[
    "Retail",
    "Electronics",
    "Wholesale",
    "Supplies",
    "Outlet",
    "Group",
    "Trading",
    "Stores",
];
const FIRST_NAMES: &[&str] = &[
    "Jodi", "Karen", "Alex", "Sam", "Maria", "Omar", "Lena", "Yuki",
];
const LAST_NAMES: &[&str] = &[
    "Christiansen",
    "Berg",
    "Nguyen",
    "Fischer",
    "Okafor",
    "Lopez",
];
const GROUPS: [(&str, &str); 5] = [
    ("10", "Wholesale customers"),
    ("20", "Major customers"),
    ("30", "Retail customers"),
    ("40", "Internet customers"),
    ("90", "Intercompany customers"),
];
pub(super) const PAYMENT_TERMS: &[&str] = &["Net10", "Net30", "Net45", "Net60", "COD"];
pub(super) const CURRENCIES: [(&str, &str, &str); 10] = [
    ("AUD", "Australian dollar", "$"),
    ("CAD", "Canadian dollar", "$"),
    ("CHF", "Swiss franc", "CHF"),
    ("CNY", "Chinese yuan", "¥"),
    ("DKK", "Danish krone", "kr"),
    ("EUR", "Euro", "€"),
    ("GBP", "British pound", "£"),
    ("JPY", "Japanese yen", "¥"),
    ("SEK", "Swedish krona", "kr"),
    ("USD", "US dollar", "$"),
];

pub(super) fn s(v: impl Into<String>) -> Value {
    Value::Str(v.into())
}

pub(super) fn slug(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .flat_map(|c| c.to_lowercase())
        .collect()
}

/// Rows of one set: values in schema order, each with its RecId.
pub(crate) type Records = Vec<(Vec<Value>, u64)>;

/// Rows of every set, and the last RecId handed out.
pub(crate) fn generate(seed: u64, scale: Scale) -> (Vec<(&'static SetDef, Records)>, u64) {
    let unit = scale.unit(COMPANIES.len());
    let mut rng = Rng(SplitMix64::new(seed));
    let mut ids = RecIds(FIRST_REC_ID);
    let mut out = Vec::new();

    let currencies = CURRENCIES
        .iter()
        .map(|(code, name, sym)| {
            let precision = if *code == "JPY" { 1.0 } else { 0.01 };
            let triangulation = if *code == "EUR" { "Yes" } else { "No" };
            let row = vec![
                s(*code),
                s(*name),
                s(*sym),
                Value::Decimal(precision),
                s(triangulation),
            ];
            (row, ids.next())
        })
        .collect();
    out.push((&sets::CURRENCIES, currencies));

    let mut groups = Vec::new();
    for c in &COMPANIES {
        for (id, description) in GROUPS {
            let row = vec![
                s(c.id),
                s(id),
                s(description),
                s(rng.pick(PAYMENT_TERMS)),
                s(if id == "30" { "Yes" } else { "No" }),
                s(""),
            ];
            groups.push((row, ids.next()));
        }
    }
    out.push((&sets::CUSTOMER_GROUPS, groups));

    let mut customers = Vec::with_capacity(COMPANIES.len() * 10 * unit);
    for (ci, c) in COMPANIES.iter().enumerate() {
        for n in 1..=10 * unit {
            let party = ci * 1_000_000 + n;
            customers.push((customer(&mut rng, c, n, party), ids.next()));
        }
    }
    out.push((&sets::CUSTOMERS_V3, customers));

    let legal = COMPANIES
        .iter()
        .map(|c| {
            let row = vec![
                s(c.id.to_uppercase()),
                s(c.name),
                s(c.country),
                s(c.cities.first().copied().unwrap_or_default()),
                s(c.language),
                s(c.currency),
                Value::Bool(true),
            ];
            (row, ids.next())
        })
        .collect();
    out.push((&sets::LEGAL_ENTITIES, legal));

    let mut vendors = Vec::with_capacity(COMPANIES.len() * 6 * unit);
    for (ci, c) in COMPANIES.iter().enumerate() {
        for n in 1..=6 * unit {
            vendors.push((vendor(&mut rng, c, ci, n), ids.next()));
        }
    }
    out.push((&sets::VENDORS_V2, vendors));

    out.extend(orders::generate(&mut rng, &mut ids, unit));
    out.extend(ledger::generate(&mut rng, &mut ids));
    (out, ids.0)
}

/// Hands out consecutive RecIds.
pub(super) struct RecIds(u64);

impl RecIds {
    pub(super) fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

fn vendor(rng: &mut Rng, c: &Company, ci: usize, n: usize) -> Vec<Value> {
    let name = format!(
        "{} {}",
        rng.pick(ORG_WORDS),
        rng.pick(&["Supply", "Parts", "Logistics", "Components"])
    );
    let blocked = if rng.below(12) == 0 { "All" } else { "No" };
    vec![
        s(c.id),
        s(format!("{}-{}", c.prefix, 100 + n)),
        s(name.clone()),
        s(rng.pick(&["10", "20", "30", "40"])),
        s(c.currency),
        s(blocked),
        s(c.country),
        s(rng.pick(c.cities)),
        s(format!("ap@{}.example.com", slug(&name))),
        s(rng.pick(PAYMENT_TERMS)),
        s(format!("{:09}", 500_000_000 + ci * 1_000_000 + n)),
        Value::Int(10 + rng.below(5000) as i64),
    ]
}

/// A seeded date-time in `2017..2024`, as D365FO stores it (UTC, seconds).
pub(super) fn date_time(rng: &mut Rng, midnight: bool) -> Value {
    let (h, m) = if midnight {
        (0, 0)
    } else {
        (rng.below(24), rng.below(60))
    };
    let text = format!(
        "20{:02}-{:02}-{:02}T{h:02}:{m:02}:00Z",
        17 + rng.below(8),
        1 + rng.below(12),
        1 + rng.below(28),
    );
    at(&text)
}

/// The date-time value of a literal the seeds spell out; they are all
/// well-formed, so the fallback (D365FO's "no date") never shows.
pub(super) fn at(text: &str) -> Value {
    Value::DateTime(datetime::parse(text).unwrap_or(datetime::NO_DATE_MS))
}

fn customer(rng: &mut Rng, c: &Company, n: usize, party: usize) -> Vec<Value> {
    let person = rng.below(5) == 0;
    let name = if person {
        format!("{} {}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES))
    } else {
        format!("{} {}", rng.pick(ORG_WORDS), rng.pick(ORG_KINDS))
    };
    let group = if person { "30" } else { GROUPS[rng.below(4)].0 };
    let on_hold = match rng.below(20) {
        0 => "Invoice",
        1 => "All",
        _ => "No",
    };
    let email = if person {
        format!("{}@example.com", slug(&name))
    } else {
        format!("sales@{}.example.com", slug(&name))
    };
    let created = date_time(rng, false);
    vec![
        s(c.id),
        s(format!("{}-{:03}", c.prefix, n)),
        s(name),
        s(if person { "Person" } else { "Organization" }),
        s(group),
        s(c.currency),
        Value::Decimal((rng.below(201) * 500) as f64),
        s(if rng.below(3) == 0 { "Yes" } else { "No" }),
        s(on_hold),
        s(rng.pick(PAYMENT_TERMS)),
        s(c.country),
        s(rng.pick(c.cities)),
        s(format!(
            "{} {} Street",
            1 + rng.below(9999),
            rng.pick(&["Main", "Oak", "Pine", "Lake", "Hill"])
        )),
        s(format!("{:05}", rng.below(99_999))),
        s(email),
        s(format!("{}{:03}", c.phone, rng.below(1000))),
        s(c.language),
        s(format!("{party:09}")),
        s(rng.pick(&["CHCK", "ELEC", "CASH", ""])),
        s(rng.pick(&["FOB", "CIF", "EXW", ""])),
        s(if rng.below(10) == 0 { "Yes" } else { "No" }),
        s(""),
        s(format!("{:06}", 1 + rng.below(200))),
        created,
    ]
}
