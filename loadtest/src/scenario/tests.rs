use rand::{SeedableRng, rngs::StdRng};

use super::*;

fn shipped(name: &str) -> Scenario {
    let path = format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    Scenario::parse(&text, name).unwrap()
}

#[test]
fn the_shipped_scenarios_parse() {
    let mixed = shipped("mixed.toml");
    assert_eq!(mixed.era, Era::Stateless2026);
    assert_eq!(mixed.session, SessionPattern::Stateless);
    let weights: Vec<u32> = mixed.entries.iter().map(|e| e.weight).collect();
    assert_eq!(weights, [60, 20, 10, 10]);
    let pair: Vec<&str> = mixed.entries[3]
        .steps
        .iter()
        .map(|s| s.label.as_str())
        .collect();
    assert_eq!(
        pair,
        ["d365fo_create_entity_record", "d365fo_delete_entity_record"]
    );

    let list = shipped("tools-list.toml");
    assert_eq!(list.entries[0].steps[0].method, "tools/list");
    assert_eq!(list.entries[0].steps[0].label, "tools/list");
    assert_eq!(list.entries[0].steps[0].tool, None);

    assert_eq!(
        shipped("sessions-churn.toml").session,
        SessionPattern::Churn(20)
    );
    let legacy = shipped("legacy-sse.toml");
    assert_eq!(
        (legacy.era, legacy.session),
        (Era::Legacy2024, SessionPattern::LongLived)
    );
}

#[test]
fn picks_follow_the_weights() {
    let mixed = shipped("mixed.toml");
    let mut rng = StdRng::seed_from_u64(11);
    let mut counts = [0u32; 4];
    for _ in 0..10_000 {
        let picked = mixed.pick(&mut rng);
        let i = mixed
            .entries
            .iter()
            .position(|e| std::ptr::eq(e, picked))
            .unwrap();
        counts[i] += 1;
    }
    // 60/20/10/10 of 10,000 draws, each within a generous band.
    for (count, expected) in counts.iter().zip([6000, 2000, 1000, 1000]) {
        assert!(count.abs_diff(expected) < 300, "{counts:?}");
    }
}

#[test]
fn session_era_defaults_to_long_lived_and_era_override_fits_the_pattern() {
    let s = Scenario::parse("era = \"2025-11-25\"\n[[call]]\ntool = \"t\"\n", "x").unwrap();
    assert_eq!(s.session, SessionPattern::LongLived);
    assert_eq!(s.name, "x");
    let s = s.with_era(Era::Stateless2026);
    assert_eq!(s.session, SessionPattern::Stateless);
    let s = s.with_era(Era::Legacy2024);
    assert_eq!(s.session, SessionPattern::LongLived);
}

#[test]
fn errors_name_the_key_at_fault() {
    for (text, needle) in [
        ("era = \"1999\"\n[[call]]\ntool = \"t\"", "era:"),
        (
            "session = \"sometimes\"\nera = \"2025\"\n[[call]]\ntool = \"t\"",
            "session:",
        ),
        (
            "session = \"long-lived\"\n[[call]]\ntool = \"t\"",
            "session: the 2026-07-28 era",
        ),
        (
            "era = \"legacy\"\nsession = \"stateless\"\n[[call]]\ntool = \"t\"",
            "session:",
        ),
        (
            "era = \"2025\"\nsession = \"churn\"\n[[call]]\ntool = \"t\"",
            "churn_every:",
        ),
        (
            "era = \"2025\"\nchurn_every = 0\n[[call]]\ntool = \"t\"",
            "churn_every:",
        ),
        ("name = \"empty\"", "call:"),
        ("[[call]]\nweight = 0\ntool = \"t\"", "call[0].weight"),
        ("[[call]]\nmethod = \"tools/call\"", "call[0].tool"),
        (
            "[[call]]\nmethod = \"tools/list\"\ntool = \"t\"",
            "call[0].tool",
        ),
        ("[[call]]\nweight = 2", "call[0]: needs"),
        (
            "[[call]]\ntool = \"t\"\nsteps = [{ tool = \"u\" }]",
            "not both",
        ),
        (
            "[[call]]\nsteps = [{ tool = \"u\", arguments = { a = \"{{nope}}\" } }]",
            "call[0].steps[0].arguments",
        ),
        ("[[call]]\ntool = \"t\"\ncolour = 1", "colour"),
    ] {
        let err = Scenario::parse(text, "x").unwrap_err();
        assert!(err.contains(needle), "{text:?}: {err}");
    }
}
