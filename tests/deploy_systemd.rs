//! The systemd units of `deploy/systemd/` checked offline: `install.sh`
//! lands the binary, the units, the settings and the internal secret in a
//! temporary root (and a second run keeps the settings); `systemd-analyze
//! verify` accepts every installed unit; every unit carries the whole
//! sandbox and `systemd-analyze security --offline=yes` rates it; stopping
//! outlasts the drain; every setting the example files name is one README.md
//! documents. Never skipped: without `systemd-analyze` the test fails and
//! says how to install it.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

const ROLES: [&str; 3] = ["edge", "worker", "sim"];
const INSTALLED_BINARY: &str = "/usr/local/bin/d365mcp";

/// Every unit runs with these, whatever its role.
const SANDBOX: [(&str, &str); 31] = [
    ("DynamicUser", "yes"),
    ("CapabilityBoundingSet", ""),
    ("AmbientCapabilities", ""),
    ("NoNewPrivileges", "yes"),
    ("UMask", "0077"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("PrivateUsers", "yes"),
    ("PrivateIPC", "yes"),
    ("PrivateMounts", "yes"),
    ("ProtectProc", "invisible"),
    ("ProtectHostname", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("MemoryDenyWriteExecute", "yes"),
    ("RemoveIPC", "yes"),
    ("SystemCallArchitectures", "native"),
    ("SystemCallErrorNumber", "EPERM"),
    ("Restart", "on-failure"),
    ("RestartPreventExitStatus", "2"),
    ("KillSignal", "SIGTERM"),
];

// ------------------------------------------------------------------- tests

#[test]
fn install_sh_lands_every_file_and_a_second_run_keeps_the_settings() {
    let root = fresh_dir("install");
    let dry = install_sh(&root, &["--dry-run"]);
    assert!(
        dry.contains("+ install"),
        "dry run prints its actions:\n{dry}"
    );
    assert!(!root.exists(), "--dry-run changed nothing");

    install_sh(&root, &[]);
    let binary = root.join("usr/local/bin/d365mcp");
    assert_eq!(mode(&binary), 0o755);
    assert_eq!(fs::read(&binary).unwrap(), fs::read(test_binary()).unwrap());
    for role in ROLES {
        let unit = root.join(format!(
            "usr/local/lib/systemd/system/d365mcp-{role}.service"
        ));
        assert_eq!(mode(&unit), 0o644, "{}", unit.display());
        assert_eq!(
            fs::read(&unit).unwrap(),
            fs::read(repo_file(&unit_name(role))).unwrap()
        );
        let env = root.join(format!("etc/d365mcp/{role}.env"));
        assert_eq!(mode(&env), 0o600, "{} holds secrets", env.display());
    }
    let secret_path = root.join("etc/d365mcp/internal-secret");
    assert_eq!(mode(&secret_path), 0o600);
    let secret = fs::read_to_string(&secret_path).unwrap();
    assert!(secret.trim_end().len() >= 32, "the binary wants 32 bytes");

    // An edited setting and the secret survive a second run (an upgrade).
    let edge_env = root.join("etc/d365mcp/edge.env");
    fs::write(&edge_env, "D365MCP_LISTEN=10.1.2.3:8080\n").unwrap();
    let second = install_sh(&root, &[]);
    assert!(second.contains("kept"), "{second}");
    assert_eq!(
        fs::read_to_string(&edge_env).unwrap(),
        "D365MCP_LISTEN=10.1.2.3:8080\n"
    );
    assert_eq!(fs::read_to_string(&secret_path).unwrap(), secret);
}

#[test]
fn systemd_analyze_verify_accepts_every_installed_unit() {
    let root = fresh_dir("verify");
    install_sh(&root, &[]);
    for role in ROLES {
        let unit = verifiable_copy(&root, role);
        let out = systemd_analyze(&["verify", "--man=no", unit.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // An unknown key or a bad value is only a warning: fail on any line
        // about this unit, not only on the exit status.
        let about_unit: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains(&unit_name(role)))
            .collect();
        assert!(
            out.status.success() && about_unit.is_empty(),
            "systemd-analyze verify {}:\n{stderr}",
            unit.display()
        );
    }
}

#[test]
fn every_unit_is_sandboxed_and_rated_by_systemd_analyze_security() {
    let root = fresh_dir("security");
    install_sh(&root, &[]);
    for role in ROLES {
        let service = service_section(role);
        for (key, want) in SANDBOX {
            let got = service.get(key).map(|v| v.join(" | "));
            assert_eq!(got.as_deref(), Some(want), "{}: {key}", unit_name(role));
        }
        assert_eq!(
            service["SystemCallFilter"],
            ["@system-service", "~@privileged @resources"],
            "{}",
            unit_name(role)
        );
        assert_eq!(
            service["ExecStart"],
            [format!("{INSTALLED_BINARY} {role}")],
            "{}",
            unit_name(role)
        );
        assert!(service["Environment"].contains(&"D365MCP_LOG_FORMAT=json".to_owned()));

        let unit = verifiable_copy(&root, role);
        let out = systemd_analyze(&["security", "--offline=yes", unit.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let overall = stdout
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .unwrap_or_else(|| panic!("no overall exposure in:\n{stdout}"));
        // systemd's scale runs from 0 (fully sandboxed) to 10.
        let score: f64 = overall
            .split(':')
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{overall}"));
        println!("systemd-analyze security --offline=yes: {overall}");
        assert!(score < 2.0, "{overall}\n{stdout}");
    }
}

#[test]
fn stopping_outlasts_the_drain() {
    for role in ["edge", "worker"] {
        let drain = seconds(&env_example(role)["D365MCP_DRAIN_TIMEOUT"]);
        let service = service_section(role);
        // After the drain an edge gives the abandoned calls' answers 2 s more.
        let stop = seconds(&service["TimeoutStopSec"][0]);
        assert!(
            stop > drain + 2,
            "{role}: TimeoutStopSec {stop}s, drain {drain}s"
        );
        assert_eq!(
            service["LoadCredential"],
            ["internal-secret:/etc/d365mcp/internal-secret"]
        );
        assert!(
            service["Environment"]
                .contains(&"D365MCP_INTERNAL_SECRET_FILE=%d/internal-secret".to_owned())
        );
        assert_eq!(
            service["EnvironmentFile"],
            [format!("/etc/d365mcp/{role}.env")]
        );
    }
}

#[test]
fn every_setting_of_the_example_files_is_documented() {
    let readme = fs::read_to_string(repo_file("../../README.md")).unwrap();
    for role in ROLES {
        let text = fs::read_to_string(repo_file(&format!("{role}.env.example"))).unwrap();
        // Commented-out settings count too: they are offered to be set.
        for line in text.lines().map(|l| l.trim_start_matches('#')) {
            let Some((name, _)) = line.split_once('=') else {
                continue;
            };
            if name.is_empty() || name.contains(' ') {
                continue;
            }
            assert!(
                readme.contains(&format!("| `{name}` /")),
                "{role}.env.example: {name} is not in README.md's Configuration table"
            );
        }
    }
}

// ----------------------------------------------------------------- helpers

fn test_binary() -> &'static str {
    env!("CARGO_BIN_EXE_d365mcp")
}

fn unit_name(role: &str) -> String {
    format!("d365mcp-{role}.service")
}

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/systemd")
        .join(name)
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("deploy_systemd-{name}"));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Runs `install.sh --root root --binary <the test's binary> extra…`,
/// returns its stdout.
fn install_sh(root: &Path, extra: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(repo_file("install.sh"))
        .args(["--binary", test_binary(), "--root", root.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "install.sh: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The installed unit with `ExecStart` pointing at the installed binary under
/// `root` (verify checks that the command exists), under its own name.
fn verifiable_copy(root: &Path, role: &str) -> PathBuf {
    let name = unit_name(role);
    let installed = root.join("usr/local/lib/systemd/system").join(&name);
    let text = fs::read_to_string(installed).unwrap();
    let binary = root.join(INSTALLED_BINARY.trim_start_matches('/'));
    let dir = root.join("verify");
    fs::create_dir_all(&dir).unwrap();
    let copy = dir.join(&name);
    fs::write(
        &copy,
        text.replace(INSTALLED_BINARY, binary.to_str().unwrap()),
    )
    .unwrap();
    copy
}

fn systemd_analyze(args: &[&str]) -> Output {
    Command::new("systemd-analyze")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "systemd-analyze: {e}; scripts/test.sh installs it when missing \
                 (Debian: apt-get install systemd)"
            )
        })
}

/// The `[Service]` section of a role's unit: each key's values in order.
fn service_section(role: &str) -> BTreeMap<String, Vec<String>> {
    let text = fs::read_to_string(repo_file(&unit_name(role))).unwrap();
    let mut section = "";
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]"
            && !line.starts_with('#')
            && let Some((key, value)) = line.split_once('=')
        {
            keys.entry(key.to_owned())
                .or_default()
                .push(value.to_owned());
        }
    }
    keys
}

/// The uncommented settings of a role's example environment file.
fn env_example(role: &str) -> BTreeMap<String, String> {
    let text = fs::read_to_string(repo_file(&format!("{role}.env.example"))).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `45s` or `25` in seconds (the forms the units and examples use).
fn seconds(value: &str) -> u64 {
    value
        .trim_end_matches('s')
        .parse()
        .unwrap_or_else(|_| panic!("duration {value}"))
}
