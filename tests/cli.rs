//! The command line: help for every role, and start-up refused with a
//! message naming the bad setting.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn d365mcp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_d365mcp"))
        .args(args)
        .env_remove("D365FO_BASE_URL")
        .env_remove("D365FO_CLIENT_ID")
        .env_remove("D365FO_CLIENT_SECRET")
        .env_remove("D365FO_TENANT_ID")
        .env_remove("D365MCP_WORKERS")
        .env_remove("D365MCP_REDIS_URL")
        .env_remove("D365MCP_REDIS_CLUSTER")
        .output()
        .expect("run d365mcp")
}

#[test]
fn every_role_has_help() {
    for role in ["dev", "edge", "worker", "sim"] {
        let out = d365mcp(&[role, "--help"]);
        assert!(out.status.success(), "{role} --help failed");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("--listen"), "{role}: {help}");
        assert!(
            help.contains("D365MCP_LISTEN"),
            "{role} shows env twins: {help}"
        );
    }
    let worker = String::from_utf8_lossy(&d365mcp(&["worker", "--help"]).stdout).into_owned();
    for key in [
        "D365FO_BASE_URL",
        "D365FO_CLIENT_ID",
        "D365FO_CLIENT_SECRET",
        "D365FO_TENANT_ID",
    ] {
        assert!(worker.contains(key), "worker --help lacks {key}");
    }
    let edge = String::from_utf8_lossy(&d365mcp(&["edge", "--help"]).stdout).into_owned();
    assert!(edge.contains("--workers") && edge.contains("D365MCP_WORKERS"));
    for role in ["edge", "worker"] {
        let help = String::from_utf8_lossy(&d365mcp(&[role, "--help"]).stdout).into_owned();
        assert!(help.contains("--redis-url") && help.contains("D365MCP_REDIS_URL"));
        assert!(help.contains("--redis-cluster") && help.contains("D365MCP_REDIS_CLUSTER"));
    }
    assert!(worker.contains("--global-redis-url") && worker.contains("D365MCP_GLOBAL_REDIS_URL"));
}

fn refused(args: &[&str], envs: &[(&str, &str)], names: &str) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_d365mcp"));
    command
        .args(args)
        .env_remove("D365FO_BASE_URL")
        .env_remove("D365FO_CLIENT_ID")
        .env_remove("D365FO_CLIENT_SECRET")
        .env_remove("D365FO_TENANT_ID")
        .env_remove("D365MCP_REDIS_URL")
        .env_remove("D365MCP_REDIS_CLUSTER");
    for (k, v) in envs {
        command.env(k, v);
    }
    let out = command.output().expect("run d365mcp");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should be refused");
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(names),
        "{args:?}: stderr should name {names}: {stderr}"
    );
}

#[test]
fn invalid_configuration_is_refused_naming_the_setting() {
    refused(
        &["worker", "--listen", "127.0.0.1:0"],
        &[],
        "D365FO_BASE_URL",
    );
    refused(
        &["worker"],
        &[("D365FO_BASE_URL", "ftp://nope")],
        "D365FO_BASE_URL",
    );
    refused(
        &["worker"],
        &[
            ("D365FO_BASE_URL", "https://x.operations.dynamics.com"),
            ("D365FO_CLIENT_ID", "abc"),
        ],
        "D365FO_CLIENT_SECRET",
    );
    refused(&["edge", "--workers", "not a url"], &[], "D365MCP_WORKERS");
    refused(&["edge", "--workers", ""], &[], "D365MCP_WORKERS");
    refused(
        &[
            "edge",
            "--workers",
            "http://127.0.0.1:1",
            "--listen",
            "nowhere",
        ],
        &[],
        "D365MCP_LISTEN",
    );
    refused(
        &[
            "edge",
            "--workers",
            "http://127.0.0.1:1",
            "--call-timeout",
            "soon",
        ],
        &[],
        "D365MCP_CALL_TIMEOUT",
    );
    for bad in ["localhost:6379", "http://127.0.0.1:6379", "redis://"] {
        refused(
            &[
                "edge",
                "--workers",
                "http://127.0.0.1:1",
                "--redis-url",
                bad,
            ],
            &[],
            "D365MCP_REDIS_URL",
        );
        refused(
            &["worker", "--redis-url", bad],
            &[("D365FO_BASE_URL", "http://127.0.0.1:1")],
            "D365MCP_REDIS_URL",
        );
    }
    // Several URLs are a cluster's seeds: without the cluster flag, refused
    // with a message naming it; the flag without a URL, refused too.
    refused(
        &[
            "worker",
            "--redis-url",
            "redis://127.0.0.1:1,redis://127.0.0.1:2",
        ],
        &[("D365FO_BASE_URL", "http://127.0.0.1:1")],
        "D365MCP_REDIS_CLUSTER",
    );
    refused(
        &["worker", "--redis-cluster"],
        &[("D365FO_BASE_URL", "http://127.0.0.1:1")],
        "D365MCP_REDIS_CLUSTER",
    );
    refused(
        &["edge", "--workers", "http://127.0.0.1:1"],
        &[
            (
                "D365MCP_REDIS_URL",
                "redis://127.0.0.1:1,rediss://127.0.0.1:2",
            ),
            ("D365MCP_REDIS_CLUSTER", "true"),
        ],
        "D365MCP_REDIS_URL",
    );
    // The global store's settings are checked as the regional store's, and
    // errors name them, not the regional ones.
    let sim = [("D365FO_BASE_URL", "http://127.0.0.1:1")];
    refused(
        &["worker", "--global-redis-url", "localhost:6379"],
        &sim,
        "D365MCP_GLOBAL_REDIS_URL",
    );
    refused(
        &[
            "worker",
            "--global-redis-url",
            "redis://127.0.0.1:1,redis://127.0.0.1:2",
        ],
        &sim,
        "D365MCP_GLOBAL_REDIS_CLUSTER=true",
    );
    refused(
        &["worker", "--global-redis-key-prefix", "prod:"],
        &sim,
        "D365MCP_GLOBAL_REDIS_KEY_PREFIX",
    );
    refused(
        &["worker", "--global-redis-cluster"],
        &sim,
        "D365MCP_GLOBAL_REDIS_CLUSTER",
    );
    refused(&["dev", "--log-format", "xml"], &[], "D365MCP_LOG_FORMAT");
    refused(&["sim", "--max-page-size", "0"], &[], "SIM_MAX_PAGE_SIZE");
    refused(&["sim", "--scale", "huge"], &[], "SIM_SCALE");
    refused(&["sim", "--auth", "maybe"], &[], "SIM_AUTH");
    refused(&["sim", "--client", "no-secret"], &[], "SIM_CLIENTS");
    refused(
        &["sim", "--latency-jitter", "gauss:5"],
        &[],
        "SIM_LATENCY_JITTER",
    );
    refused(&["sim", "--throttle-rate", "10"], &[], "SIM_THROTTLE_RATE");
    refused(&["sim", "--fail-500", "1.5"], &[], "fault settings");
}

#[test]
fn membership_settings_are_validated_before_start() {
    refused(
        &["edge"],
        &[],
        "D365MCP_WORKERS (--workers) or D365MCP_REDIS_URL (--redis-url)",
    );
    let redis = ("D365MCP_REDIS_URL", "redis://127.0.0.1:1");
    let sim = ("D365FO_BASE_URL", "http://127.0.0.1:1");
    refused(
        &["edge", "--members-refresh", "0s"],
        &[redis],
        "D365MCP_MEMBERS_REFRESH",
    );
    // (Opting out of the internal secret, which is checked first.)
    refused(
        &["worker", "--listen", "0.0.0.0:0", "--insecure-internal-hop"],
        &[redis, sim],
        "D365MCP_ADVERTISE_URL",
    );
    refused(
        &["worker", "--advertise-url", "http://w:1/grpc"],
        &[redis, sim],
        "D365MCP_ADVERTISE_URL",
    );
    refused(
        &[
            "worker",
            "--heartbeat-interval",
            "2s",
            "--heartbeat-ttl",
            "3s",
        ],
        &[redis, sim],
        "D365MCP_HEARTBEAT_TTL",
    );
}

#[test]
fn an_environments_file_is_validated_before_start() {
    let dir = std::env::temp_dir().join(format!("d365mcp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let two = write(
        "two.toml",
        "[environments.a]\nbase_url = \"http://127.0.0.1:1\"\n\
         [environments.b]\nbase_url = \"http://127.0.0.1:2\"\n",
    );
    refused(
        &["worker", "--environments-file", &two],
        &[],
        "no `default = \"NAME\"` line",
    );
    let secret = write(
        "secret.toml",
        "[environments.prod]\nbase_url = \"https://contoso.operations.dynamics.com\"\n\
         tenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"D365MCP_TEST_UNSET_SECRET\"\n",
    );
    refused(
        &["worker", "--environments-file", &secret],
        &[],
        "environments.prod.client_secret_env",
    );
    refused(
        &["worker", "--environments-file", "/nonexistent/envs.toml"],
        &[],
        "D365MCP_ENVIRONMENTS_FILE",
    );
    refused(
        &["worker", "--environments-file", &two],
        &[("D365FO_BASE_URL", "http://127.0.0.1:3")],
        "not both",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `dev` and `edge` share the API key settings, validated before start.
#[test]
fn api_key_settings_are_shared_by_dev_and_edge() {
    for role in ["dev", "edge"] {
        let help = String::from_utf8_lossy(&d365mcp(&[role, "--help"]).stdout).into_owned();
        for key in [
            "D365MCP_API_KEYS_FILE",
            "D365MCP_ALLOW_ANONYMOUS",
            "D365MCP_AUTH_FAILURE_LIMIT",
            "D365MCP_AUTH_FAILURE_WINDOW",
        ] {
            assert!(help.contains(key), "{role} --help lacks {key}");
        }
    }
    refused(
        &["dev", "--api-keys-file", "/nonexistent/keys.toml"],
        &[],
        "D365MCP_API_KEYS_FILE",
    );
    refused(
        &["dev", "--auth-failure-window", "0s"],
        &[],
        "D365MCP_AUTH_FAILURE_WINDOW",
    );
    refused(
        &[
            "edge",
            "--workers",
            "http://127.0.0.1:1",
            "--auth-failure-limit",
            "5000000",
        ],
        &[],
        "D365MCP_AUTH_FAILURE_LIMIT",
    );
}
