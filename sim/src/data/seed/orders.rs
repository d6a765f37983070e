//! Released products, sales order headers and their lines.
//!
//! Orders reference seeded customers of their own company and lines
//! reference seeded products, so every foreign key holds and `$expand`
//! finds what a client expects. Per company and unit of scale: 10 products,
//! 15 orders and 1–7 lines an order (about 60).

use super::{COMPANIES, Company, PAYMENT_TERMS, RecIds, Records, Rng, date_time, s};
use crate::data::schema::SetDef;
use crate::data::{Value, sets};

/// Product families: item-number prefix, name stem, product group, unit.
const FAMILIES: [(&str, &str, &str, &str); 6] = [
    ("D", "Speaker", "Audio", "ea"),
    ("T", "Television", "TV&Video", "ea"),
    ("P", "Projector", "TV&Video", "ea"),
    ("M", "Cable", "Accessories", "m"),
    ("A", "Amplifier", "Audio", "ea"),
    ("S", "Installation service", "Services", "hour"),
];
const MODELS: &[&str] = &["Classic", "Studio", "Pro", "Mini", "Max", "Home", "Elite"];
const SITES: &[(&str, &str)] = &[("1", "11"), ("1", "12"), ("2", "21"), ("3", "31")];
const ORIGINS: &[&str] = &["PHONE", "WEB", "EMAIL", "EDI"];
const DELIVERY_MODES: &[&str] = &["10", "20", "30", "Air", "Truck"];

/// A seeded product, remembered so order lines can quote it.
struct Product {
    item: String,
    name: String,
    unit: &'static str,
    price: f64,
}

/// Products, order headers and lines of every company.
pub(super) fn generate(
    rng: &mut Rng,
    ids: &mut RecIds,
    unit: usize,
) -> Vec<(&'static SetDef, Records)> {
    let companies = COMPANIES.len();
    let mut products = Vec::with_capacity(companies * 10 * unit);
    let mut headers = Vec::with_capacity(companies * 15 * unit);
    let mut lines = Vec::with_capacity(companies * 60 * unit);
    for c in &COMPANIES {
        let catalog: Vec<Product> = (1..=10 * unit).map(|n| product(rng, n)).collect();
        for p in &catalog {
            products.push((product_row(rng, c, p), ids.next()));
        }
        let mut lot = 0usize;
        for n in 1..=15 * unit {
            let order = format!("{n:06}");
            let customer = format!("{}-{:03}", prefix(c), 1 + rng.below(10 * unit));
            let status = match rng.below(10) {
                0..=3 => "Backorder",
                4..=5 => "Delivered",
                6..=8 => "Invoiced",
                _ => "Canceled",
            };
            let ship = date_time(rng, true);
            let (site, warehouse) = SITES[rng.below(SITES.len())];
            let mut total = 0.0;
            for line_no in 1..=1 + rng.below(7) {
                lot += 1;
                let Some(p) = catalog.get(rng.below(catalog.len())) else {
                    continue;
                };
                let qty = (1 + rng.below(20)) as f64;
                let discount = if rng.below(5) == 0 {
                    (p.price * qty * 0.05).round()
                } else {
                    0.0
                };
                let amount = p.price * qty - discount;
                total += amount;
                let row = vec![
                    s(c.id),
                    s(format!("{lot:06}")),
                    s(order.clone()),
                    Value::Decimal(line_no as f64),
                    s(p.item.clone()),
                    s(p.name.clone()),
                    Value::Decimal(qty),
                    s(p.unit),
                    Value::Decimal(p.price),
                    Value::Decimal(discount),
                    Value::Decimal(amount),
                    s(c.currency),
                    s(status),
                    s(site),
                    s(warehouse),
                    ship.clone(),
                    Value::Int(line_no as i64),
                ];
                lines.push((row, ids.next()));
            }
            let row = vec![
                s(c.id),
                s(order),
                s(customer.clone()),
                s(customer),
                s(format!("Order {n}")),
                s(c.currency),
                s(status),
                s(rng.pick(ORIGINS)),
                s(format!("PO-{:05}", rng.below(100_000))),
                s(rng.pick(PAYMENT_TERMS)),
                s(rng.pick(DELIVERY_MODES)),
                s(site),
                s(warehouse),
                s(c.language),
                ship.clone(),
                ship,
                date_time(rng, false),
                Value::Decimal((total * 100.0).round() / 100.0),
                s(if rng.below(25) == 0 { "Yes" } else { "No" }),
            ];
            headers.push((row, ids.next()));
        }
    }
    vec![
        (&sets::RELEASED_PRODUCTS_V2, products),
        (&sets::SALES_ORDER_HEADERS_V2, headers),
        (&sets::SALES_ORDER_LINES, lines),
    ]
}

/// The customer-account prefix of a company, as `customer` writes it.
fn prefix(c: &Company) -> &'static str {
    c.prefix
}

fn product(rng: &mut Rng, n: usize) -> Product {
    let (letter, stem, _, unit) = FAMILIES[rng.below(FAMILIES.len())];
    let name = if letter == "S" {
        stem.to_owned()
    } else {
        format!("{} {stem} {}", rng.pick(MODELS), 100 + rng.below(900))
    };
    let price = match letter {
        "M" => (5 + rng.below(40)) as f64,
        "S" => 85.0,
        _ => (50 + rng.below(3000)) as f64 + 0.99,
    };
    Product {
        item: format!("{letter}{n:04}"),
        name,
        unit,
        price,
    }
}

fn product_row(rng: &mut Rng, c: &Company, p: &Product) -> Vec<Value> {
    let service = p.item.starts_with('S');
    let group = FAMILIES
        .iter()
        .find(|f| p.item.starts_with(f.0))
        .map_or("Audio", |f| f.2);
    vec![
        s(c.id),
        s(p.item.clone()),
        s(p.item.clone()),
        s(p.name.clone()),
        s(p.name.to_uppercase()),
        s(if service { "Service" } else { "Item" }),
        s("Product"),
        s(if service { "SERVICE" } else { "FIFO" }),
        s(group),
        s(if service { "" } else { "SiteWH" }),
        s(if service { "" } else { "None" }),
        s(p.unit),
        s(p.unit),
        s(p.unit),
        Value::Decimal(p.price),
        Value::Decimal(((p.price * 0.6) * 100.0).round() / 100.0),
        Value::Decimal(if service {
            0.0
        } else {
            (1 + rng.below(300)) as f64 / 10.0
        }),
        s(""),
    ]
}
