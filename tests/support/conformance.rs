//! The official MCP conformance suite, run with `npx` at a pinned version.
//!
//! `scripts/test.sh` installs Node and warms npm's cache; a test that runs
//! the suite fails (never skips) when `npx` is missing.

use std::{collections::BTreeMap, path::Path, time::Duration};

/// The pinned suite.
pub const SUITE: &str = "@modelcontextprotocol/conformance@0.2.0-alpha.12";

/// What one run of the suite reported.
#[derive(Debug)]
pub struct Report {
    /// Whether `conformance` exited 0 (every required scenario passed, or
    /// failed as the baseline expects).
    pub success: bool,
    /// Each required (scored) scenario: passed or not.
    pub scored: BTreeMap<String, bool>,
    /// The failing checks of each failing scenario, from its `checks.json`.
    pub failures: BTreeMap<String, Vec<String>>,
    /// The suite's own output, for a failing test's message.
    pub output: String,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.scored.values().filter(|p| **p).count()
    }

    /// The failing scenarios and their failing checks, one per line.
    pub fn explain(&self) -> String {
        self.scored
            .iter()
            .filter(|(_, passed)| !**passed)
            .map(|(name, _)| {
                format!(
                    "{name}: {}",
                    self.failures
                        .get(name)
                        .map(|f| f.join("; "))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Runs `conformance server` against `url` with `args` (e.g.
/// `["--requirements", "2026-07-28"]`), within `timeout`.
pub async fn run(url: &str, args: &[&str], timeout: Duration) -> Report {
    let out = std::env::temp_dir().join(format!(
        "d365mcp-conformance-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    let command = format!(
        "conformance server --url {url} {} -o {}",
        args.join(" "),
        out.display()
    );
    let args = ["-y", "-p", "node@22", "-p", SUITE, "-c", &command];
    let output = super::run_bounded("the conformance suite", "npx", &args, timeout).await;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = parse(&text, &out, output.status.success());
    let _ = std::fs::remove_dir_all(&out);
    report
}

/// The summary's scenario lines, less the ones the suite runs unscored.
fn parse(text: &str, out: &Path, success: bool) -> Report {
    let mut scored = BTreeMap::new();
    let mut unscored = Vec::new();
    // The summary lists every scenario run ("✓ name: …"); a "Not scored"
    // section after it names those the revision runs without scoring
    // ("  ✗ name (reason)"). Other indented lists (unexpected failures of a
    // baseline run) repeat names already counted.
    let mut section = "";
    for line in text.lines() {
        if line.contains("=== SUMMARY ===") {
            section = "summary";
            continue;
        }
        if line.starts_with("Not scored") {
            section = "unscored";
            continue;
        }
        let trimmed = line.trim_start();
        let (mark, rest) = match trimmed.chars().next() {
            Some(c @ ('✓' | '✗')) => (c, trimmed[c.len_utf8()..].trim()),
            _ => continue,
        };
        let indented = line.starts_with(' ');
        match (section, indented) {
            ("summary", false) => {
                if let Some((name, _)) = rest.split_once(':') {
                    scored.insert(name.trim().to_owned(), mark == '✓');
                }
            }
            ("unscored", true) => {
                if let Some(name) = rest.split_whitespace().next() {
                    unscored.push(name.to_owned());
                }
            }
            _ => {}
        }
    }
    for name in &unscored {
        scored.remove(name);
    }
    let mut failures = BTreeMap::new();
    for (name, _) in scored.iter().filter(|(_, p)| !**p) {
        failures.insert(name.clone(), failing_checks(out, name));
    }
    Report {
        success,
        scored,
        failures,
        output: text.to_owned(),
    }
}

/// The failing checks of `scenario`, from its results folder.
fn failing_checks(out: &Path, scenario: &str) -> Vec<String> {
    let prefix = format!("server-{}-", scenario.replace('/', "-"));
    let Ok(dirs) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for dir in dirs.flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        let rest = name.strip_prefix(&prefix).unwrap_or_default();
        // The folder is named scenario-timestamp; the timestamp starts with a digit.
        if !rest.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(dir.path().join("checks.json")) else {
            continue;
        };
        let checks: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
        for check in checks {
            if check["status"] == "FAILURE" {
                let message: String = check["errorMessage"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect();
                found.push(format!(
                    "{} ({message})",
                    check["id"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    found
}
