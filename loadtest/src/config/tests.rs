use super::*;

fn scenario() -> Scenario {
    Scenario::parse("[[call]]\nmethod = \"tools/list\"\n", "list").unwrap()
}

fn settings() -> Settings {
    Settings {
        targets: vec!["http://127.0.0.1:8080/mcp".into()],
        ..Settings::default()
    }
}

fn error(settings: Settings) -> String {
    Config::with_scenario(settings, scenario())
        .unwrap_err()
        .to_string()
}

#[test]
fn defaults_are_a_closed_loop_of_eight_for_twenty_seconds() {
    let config = Config::with_scenario(settings(), scenario()).unwrap();
    assert_eq!(config.mode, Mode::Closed { concurrency: 8 });
    assert_eq!(config.duration, Duration::from_secs(20));
    assert_eq!(config.warmup, Duration::from_secs(3));
    assert_eq!(config.requests, None);
    assert!(config.progress);
}

#[test]
fn open_loop_takes_a_rate_and_bounds_what_is_in_flight() {
    let open = Settings {
        mode: Some("open".into()),
        rate: Some(50.0),
        concurrency: Some(4),
        ..settings()
    };
    let config = Config::with_scenario(open, scenario()).unwrap();
    assert_eq!(
        config.mode,
        Mode::Open {
            rate: 50.0,
            max_in_flight: 4
        }
    );
}

#[test]
fn era_override_changes_the_scenario() {
    let legacy = Settings {
        era: Some("legacy".into()),
        ..settings()
    };
    let config = Config::with_scenario(legacy, scenario()).unwrap();
    assert_eq!(config.scenario.era, Era::Legacy2024);
}

#[test]
fn bad_settings_name_their_flag_and_variable() {
    for (bad, needle) in [
        (
            Settings {
                targets: vec![],
                ..settings()
            },
            "--target (D365MCP_LOADTEST_TARGET)",
        ),
        (
            Settings {
                targets: vec!["ftp://x/".into()],
                ..settings()
            },
            "--target",
        ),
        (
            Settings {
                targets: vec!["not a url".into()],
                ..settings()
            },
            "--target",
        ),
        (
            Settings {
                mode: Some("open".into()),
                ..settings()
            },
            "--rate (D365MCP_LOADTEST_RATE)",
        ),
        (
            Settings {
                mode: Some("open".into()),
                rate: Some(0.0),
                ..settings()
            },
            "--rate",
        ),
        (
            Settings {
                rate: Some(5.0),
                ..settings()
            },
            "--rate",
        ),
        (
            Settings {
                mode: Some("ajar".into()),
                ..settings()
            },
            "--mode (D365MCP_LOADTEST_MODE)",
        ),
        (
            Settings {
                concurrency: Some(0),
                ..settings()
            },
            "--concurrency",
        ),
        (
            Settings {
                duration: Some("soon".into()),
                ..settings()
            },
            "--duration (D365MCP_LOADTEST_DURATION)",
        ),
        (
            Settings {
                duration: Some("0s".into()),
                ..settings()
            },
            "--duration",
        ),
        (
            Settings {
                warmup: Some("25h".into()),
                ..settings()
            },
            "--warmup",
        ),
        (
            Settings {
                timeout: Some("0ms".into()),
                ..settings()
            },
            "--timeout",
        ),
        (
            Settings {
                requests: Some(0),
                ..settings()
            },
            "--requests",
        ),
        (
            Settings {
                era: Some("1999".into()),
                ..settings()
            },
            "--era",
        ),
    ] {
        let err = error(bad);
        assert!(err.contains(needle), "{err}");
    }
    let missing = Config::from_settings(settings()).unwrap_err().to_string();
    assert!(
        missing.contains("--scenario (D365MCP_LOADTEST_SCENARIO)"),
        "{missing}"
    );
    let unreadable = Settings {
        scenario: Some("/nonexistent/x.toml".into()),
        ..settings()
    };
    let err = Config::from_settings(unreadable).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/x.toml"), "{err}");
}

#[test]
fn durations_read_as_people_write_them() {
    let read = |text: &str| parse_duration(text).ok();
    assert_eq!(read("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(read("20s"), Some(Duration::from_secs(20)));
    assert_eq!(read("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(read("2m"), Some(Duration::from_secs(120)));
    assert_eq!(read("3"), Some(Duration::from_secs(3)));
    assert_eq!(read("2.5"), Some(Duration::from_millis(2500)));
    assert_eq!(read(" 1h "), Some(Duration::from_secs(3600)));
    assert_eq!(read("0s"), Some(Duration::ZERO));
    assert_eq!(read("1m 30s"), Some(Duration::from_secs(90)));
    for bad in ["", "s", "-1s", "1x", "1.2.3s", "1.2.3"] {
        assert_eq!(read(bad), None, "{bad}");
    }
}

proptest::proptest! {
    #[test]
    fn the_duration_parser_never_panics(text in "\\PC{0,16}") {
        let _ = parse_duration(&text);
        let _ = duration_setting("duration", Some(&text), "1s");
    }
}
