//! Finance reference data: main accounts of two charts of accounts and
//! monthly exchange rates. Fixed size at every scale, as in a real
//! environment where these do not grow with transaction volume.

use super::{CURRENCIES, RecIds, Records, Rng, at, s};
use crate::data::schema::SetDef;
use crate::data::{Value, sets};

/// Account number ranges of the Contoso chart: first number, type, category, name stem.
const RANGES: [(u32, &str, &str, &str); 8] = [
    (110110, "Asset", "CASH", "Bank account"),
    (130100, "Asset", "AR", "Accounts receivable"),
    (140100, "Asset", "INVENTORY", "Inventory"),
    (200110, "Liability", "AP", "Accounts payable"),
    (300100, "Equity", "CAPITAL", "Share capital"),
    (401100, "Revenue", "SALES", "Sales revenue"),
    (501100, "Expense", "COGS", "Cost of goods sold"),
    (601100, "Expense", "OPEX", "Operating expense"),
];
const CHARTS: [(&str, u64); 2] = [("Shared", 5_637_144_576), ("Retail", 5_637_145_326)];
const RATE_TYPE: &str = "Default";

/// Main accounts and exchange rates.
pub(super) fn generate(rng: &mut Rng, ids: &mut RecIds) -> Vec<(&'static SetDef, Records)> {
    let mut accounts = Vec::new();
    for (chart, chart_rec_id) in CHARTS {
        for (first, ty, category, stem) in RANGES {
            for n in 0..12u32 {
                let rec_id = ids.next();
                let debit = matches!(ty, "Asset" | "Expense");
                let row = vec![
                    s(chart),
                    s((first + n * 10).to_string()),
                    s(if n == 0 {
                        stem.to_owned()
                    } else {
                        format!("{stem} {}", n + 1)
                    }),
                    s(ty),
                    s(category),
                    s(if debit { "Debit" } else { "Credit" }),
                    s(if rng.below(30) == 0 { "Yes" } else { "No" }),
                    s(if category == "AR" || category == "AP" {
                        "Yes"
                    } else {
                        "No"
                    }),
                    Value::Int(rec_id as i64),
                    Value::Int(chart_rec_id as i64),
                    at("1900-01-01T00:00:00Z"),
                    at("2154-12-31T00:00:00Z"),
                ];
                accounts.push((row, rec_id));
            }
        }
    }

    // Rates against USD for the first of each month of 2023 and 2024.
    let mut rates = Vec::new();
    for (code, name, _) in CURRENCIES.iter().filter(|c| c.0 != "USD") {
        let base = usd_rate(code);
        for month in 0..24u32 {
            let (year, m) = (2023 + month / 12, 1 + month % 12);
            let drift = 1.0 + (rng.below(200) as f64 - 100.0) / 2000.0;
            let (end_year, end_month) = if m == 12 {
                (year + 1, 1)
            } else {
                (year, m + 1)
            };
            let row = vec![
                s(RATE_TYPE),
                s(*code),
                s("USD"),
                at(&format!("{year}-{m:02}-01T00:00:00Z")),
                at(&format!("{end_year}-{end_month:02}-01T00:00:00Z")),
                Value::Decimal((base * drift * 10_000.0).round() / 10_000.0),
                s(format!("{name} to US dollar")),
            ];
            rates.push((row, ids.next()));
        }
    }
    vec![
        (&sets::MAIN_ACCOUNTS, accounts),
        (&sets::EXCHANGE_RATES, rates),
    ]
}

/// Roughly how many US dollars one unit buys, so seeded rates look real.
fn usd_rate(code: &str) -> f64 {
    match code {
        "AUD" => 0.66,
        "CAD" => 0.74,
        "CHF" => 1.12,
        "CNY" => 0.14,
        "DKK" => 0.145,
        "EUR" => 1.08,
        "GBP" => 1.26,
        "JPY" => 0.0068,
        "SEK" => 0.095,
        _ => 1.0,
    }
}
