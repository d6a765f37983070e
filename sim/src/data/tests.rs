//! Unit tests of the data module: ETags, determinism, scale, lookups.

use super::*;

#[test]
fn etag_matches_d365_encoding() {
    assert_eq!(weak_etag(1, 5637144576), "W/\"JzEsNTYzNzE0NDU3Nic=\"");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"a"), "YQ==");
    assert_ne!(weak_etag(2, 5637144576), weak_etag(1, 5637144576));
}

#[test]
fn seeding_is_deterministic() {
    let a = Dataset::seeded(7);
    let b = Dataset::seeded(7);
    for name in a.names() {
        let (Some(x), Some(y)) = (a.get(name), b.get(name)) else {
            panic!("{name} missing");
        };
        let (rx, ry) = (x.rows(), y.rows());
        assert_eq!(rx.len(), ry.len(), "{name}");
        assert!(rx.iter().zip(ry.iter()).all(|(p, q)| p == q), "{name}");
    }
}

#[test]
fn every_required_set_is_seeded_for_five_companies() {
    let d = Dataset::seeded(1);
    for name in [
        "LegalEntities",
        "Currencies",
        "CustomerGroups",
        "CustomersV3",
        "VendorsV2",
        "ReleasedProductsV2",
        "SalesOrderHeadersV2",
        "SalesOrderLines",
        "MainAccounts",
        "ExchangeRates",
    ] {
        let set = d.get(name).unwrap_or_else(|| panic!("{name} missing"));
        assert!(!set.rows().is_empty(), "{name} is empty");
        assert!(!set.keys.is_empty(), "{name} has no key");
    }
    assert_eq!(d.get("LegalEntities").map(|s| s.rows().len()), Some(5));
    assert_eq!(d.get("CustomersV3").map(|s| s.rows().len()), Some(250));
}

#[test]
fn foreign_keys_of_seeded_rows_hold() {
    let d = Dataset::seeded(3);
    for name in d.names() {
        let Some(set) = d.get(name) else { continue };
        for fk in set.foreign_keys() {
            let target = d.get(fk.target).unwrap();
            let ours: Vec<usize> = fk
                .fields
                .iter()
                .map(|(o, _)| set.field_index(o).unwrap())
                .collect();
            let theirs: Vec<usize> = fk
                .fields
                .iter()
                .map(|(_, t)| target.field_index(t).unwrap())
                .collect();
            let rows = set.rows();
            let targets = target.rows();
            for row in rows.iter() {
                let values: Vec<&Value> = ours.iter().map(|&i| &row.values[i]).collect();
                assert!(
                    !targets.matching(&theirs, &values).is_empty(),
                    "{name} → {}: {values:?}",
                    fk.target
                );
            }
        }
    }
}

#[test]
fn lookup_ignores_case() {
    let d = Dataset::seeded(1);
    let c = d.get("CustomersV3").unwrap();
    let key = [Value::Str("USMF".into()), Value::Str("us-001".into())];
    let row = c
        .lookup(&key)
        .map(|r| c.row_json(&r, None))
        .unwrap_or_default();
    assert!(row.contains("\"CustomerAccount\":\"US-001\""), "{row}");
    assert_eq!(
        c.key_text(&c.lookup(&key).unwrap()),
        "dataAreaId='usmf',CustomerAccount='US-001'"
    );
}

#[test]
fn navigations_are_exposed_and_indexed() {
    let d = Dataset::seeded(1);
    let headers = d.get("SalesOrderHeadersV2").unwrap();
    let nav = headers.navigation("SalesOrderLines").unwrap();
    assert!(nav.collection);
    assert_eq!(nav.target, "SalesOrderLines");
    let lines = d.get("SalesOrderLines").unwrap();
    assert_eq!(lines.navigations()[0].name, "SalesOrderHeaderV2");
    let total: usize = headers
        .rows()
        .iter()
        .map(|h| {
            let values = [&h.values[0], &h.values[1]];
            lines.rows().matching(&[0, 2], &values).len()
        })
        .sum();
    assert_eq!(total, lines.rows().len());
    assert!(
        d.enum_types()
            .iter()
            .any(|e| e.name.ends_with("SalesStatus"))
    );
}

#[test]
fn a_mid_scale_seeds_proportionally() {
    let d = Dataset::generate(9, Scale::Rows(50_000));
    let n = d.total_rows();
    assert!((45_000..60_000).contains(&n), "{n}");
}

/// Resident memory of this process in KiB (Linux), for the scale report.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

#[test]
#[ignore = "seeds a million rows: cargo test --release -p sim --lib -- --ignored --nocapture million"]
fn seeds_a_million_rows() {
    let before = rss_kib();
    let started = std::time::Instant::now();
    let d = Dataset::generate(365, Scale::Large);
    let elapsed = started.elapsed();
    let rows = d.total_rows();
    let grown = rss_kib().saturating_sub(before);
    println!(
        "seeded {rows} rows in {elapsed:?}; resident memory grew by {} MiB ({} bytes a row)",
        grown / 1024,
        grown * 1024 / rows.max(1) as u64
    );
    assert!(rows >= 1_000_000, "{rows}");
    let lines = d.get("SalesOrderLines").unwrap();
    let key = [Value::Str("usmf".into()), Value::Str("000001".into())];
    let started = std::time::Instant::now();
    for _ in 0..100_000 {
        assert!(lines.rows().lookup(&key).is_some());
    }
    println!("100k keyed lookups in {:?}", started.elapsed());
}

#[test]
fn every_navigation_is_an_index_lookup() {
    let d = Dataset::generate(5, Scale::Rows(5_000));
    for name in d.names() {
        let set = d.get(name).unwrap();
        for nav in set.navigations() {
            let target = d.get(nav.target).unwrap();
            let theirs: Vec<usize> = nav
                .constraints
                .iter()
                .map(|(_, t)| target.field_index(t).unwrap())
                .collect();
            let access = target.rows().access(&theirs);
            assert_ne!(access, Access::Scan, "{name}/{}", nav.name);
        }
    }
    let lines = d.get("SalesOrderLines").unwrap();
    let headers = d.get("SalesOrderHeadersV2").unwrap();
    let line = lines.rows().iter().next().unwrap().clone();
    let found = headers
        .rows()
        .matching(&[1, 0], &[&line.values[2], &line.values[0]])
        .len();
    assert_eq!(found, 1, "a line's header, joined in either field order");
}

#[path = "rollback_tests.rs"]
mod rollback;
