//! `deploy/compose.yaml`, checked offline: `docker-compose config` (from
//! PyPI, into `target/compose-check` by `scripts/test.sh`) validates it
//! against the compose schema and resolves it; the resolved file then has the
//! topology of issue 17 (Redis, the simulator, two workers and two edges
//! following them through Redis, a balancer in front of the edges,
//! Prometheus and Grafana), and the files it mounts pass their own checks
//! (`haproxy -c`, `promtool check config`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{path::Path, time::Duration};

use serde_json::Value;

const VENV: &str = "target/compose-check/bin";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn ok(what: &str, output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The compose file as `docker-compose config` resolves it (anchors merged,
/// paths absolute), as JSON.
async fn resolved() -> Value {
    let compose = root().join("deploy/compose.yaml");
    let program = root().join(VENV).join("docker-compose");
    let output = support::run_bounded(
        "docker-compose config",
        program.to_str().unwrap(),
        &["-f", compose.to_str().unwrap(), "config"],
        Duration::from_secs(60),
    )
    .await;
    let yaml = ok("docker-compose config", &output);
    let yaml_file =
        std::env::temp_dir().join(format!("d365mcp-compose-{}.yaml", std::process::id()));
    std::fs::write(&yaml_file, yaml).unwrap();
    // The venv's PyYAML reads it back: no YAML parser among our crates.
    let python = root().join(VENV).join("python");
    let output = support::run_bounded(
        "yaml to json",
        python.to_str().unwrap(),
        &[
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            yaml_file.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    )
    .await;
    let _ = std::fs::remove_file(&yaml_file);
    serde_json::from_str(&ok("yaml to json", &output)).unwrap()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn compose_file_is_valid_and_has_the_topology() {
    let config = resolved().await;
    let services = config["services"].as_object().expect("services");
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    for name in [
        "redis",
        "sim",
        "worker-1",
        "worker-2",
        "edge-1",
        "edge-2",
        "lb",
        "prometheus",
        "grafana",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }

    for (name, service) in services {
        let env = &service["environment"];
        let command = strings(&service["command"]);
        let image = service["image"].as_str().unwrap_or_default();
        // Nothing but the balancer and the two UIs reaches the host, and
        // those only on its loopback.
        for port in strings(&service["ports"]) {
            assert!(
                ["lb", "prometheus", "grafana"].contains(&name.as_str()),
                "{name} publishes {port}"
            );
            assert!(port.starts_with("127.0.0.1:"), "{name} publishes {port}");
        }
        assert_ne!(service["healthcheck"]["disable"], true, "{name}");
        if ["sim", "worker-1", "worker-2", "edge-1", "edge-2"].contains(&name.as_str()) {
            assert_eq!(image, "d365mcp:local", "{name}");
            assert_eq!(service["build"]["dockerfile"], "deploy/Containerfile");
            assert_eq!(
                Path::new(service["build"]["context"].as_str().unwrap()),
                root(),
                "{name}"
            );
        }
        if name.starts_with("worker-") || name.starts_with("edge-") {
            assert_eq!(env["D365MCP_REDIS_URL"], "redis://redis:6379", "{name}");
            assert_eq!(env["D365MCP_METRICS_LISTEN"], "0.0.0.0:9464", "{name}");
            assert_eq!(
                env["D365MCP_INTERNAL_SECRET_FILE"], "/run/secrets/internal_secret",
                "{name}"
            );
            assert!(env.get("D365MCP_INTERNAL_SECRET").is_none(), "{name}");
            let secrets = service["secrets"].to_string();
            assert!(secrets.contains("internal_secret"), "{name}: {secrets}");
        }
        if name.starts_with("worker-") {
            assert_eq!(command[0], "worker");
            let advertised = format!("http://{name}:50051");
            assert!(command.contains(&advertised), "{name}: {command:?}");
            assert_eq!(env["D365MCP_LISTEN"], "0.0.0.0:50051");
            assert_eq!(env["D365FO_BASE_URL"], "http://sim:8090");
        }
        if name.starts_with("edge-") {
            assert_eq!(command[0], "edge");
            // Workers found through Redis; callers authenticated by keys.
            assert!(env.get("D365MCP_WORKERS").is_none(), "{name}");
            assert!(!command.iter().any(|a| a.starts_with("--workers")));
            assert!(!command.iter().any(|a| a.contains("anonymous")));
            assert!(env.get("D365MCP_ALLOW_ANONYMOUS").is_none(), "{name}");
            assert!(
                command.contains(&"--api-keys-file".to_owned()),
                "{command:?}"
            );
            let hosts = env["D365MCP_ALLOWED_HOSTS"].as_str().unwrap();
            assert!(hosts.split(',').any(|h| h == "lb"), "{hosts}");
            assert!(hosts.split(',').any(|h| h == "localhost"), "{hosts}");
        }
    }
    for name in ["redis", "lb", "prometheus", "grafana"] {
        assert!(
            services[name]["healthcheck"]["test"].is_array(),
            "{name} has no healthcheck"
        );
    }
    let secret = config["secrets"]["internal_secret"]["file"]
        .as_str()
        .unwrap();
    let secret = std::fs::read_to_string(secret).unwrap();
    assert!(
        secret.trim_end().len() >= 32,
        "the internal secret is too short"
    );

    // Edges behind the balancer: its config names both, round robin, and
    // takes an edge out while /ready fails.
    let mounted = strings(&services["lb"]["volumes"]).join(" ");
    assert!(mounted.contains("deploy/compose/haproxy.cfg:"), "{mounted}");
    let haproxy = std::fs::read_to_string(root().join("deploy/compose/haproxy.cfg")).unwrap();
    for line in [
        "balance roundrobin",
        "option httpchk GET /ready",
        "server edge-1 edge-1:8080",
        "server edge-2 edge-2:8080",
    ] {
        assert!(haproxy.contains(line), "haproxy.cfg lacks `{line}`");
    }
    let prometheus = std::fs::read_to_string(root().join("deploy/compose/prometheus.yml")).unwrap();
    for target in [
        "edge-1:9464",
        "edge-2:9464",
        "worker-1:9464",
        "worker-2:9464",
    ] {
        assert!(prometheus.contains(target), "prometheus.yml lacks {target}");
    }
    let mounted = strings(&services["prometheus"]["volumes"]).join(" ");
    assert!(mounted.contains("deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml"));
    let mounted = strings(&services["grafana"]["volumes"]).join(" ");
    assert!(
        mounted.contains("deploy/grafana/d365mcp.json:"),
        "{mounted}"
    );
}

#[tokio::test]
async fn mounted_configs_pass_their_own_checks() {
    let haproxy_cfg = root().join("deploy/compose/haproxy.cfg");
    let output = support::run_bounded(
        "haproxy -c",
        "haproxy",
        &["-c", "-f", haproxy_cfg.to_str().unwrap()],
        Duration::from_secs(30),
    )
    .await;
    ok("haproxy -c deploy/compose/haproxy.cfg", &output);

    // Laid out as the container sees it: alerts.yml beside prometheus.yml.
    let dir = std::env::temp_dir().join(format!("d365mcp-compose-prom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        root().join("deploy/compose/prometheus.yml"),
        dir.join("prometheus.yml"),
    )
    .unwrap();
    std::fs::copy(
        root().join("deploy/prometheus/alerts.yml"),
        dir.join("alerts.yml"),
    )
    .unwrap();
    let config = dir.join("prometheus.yml");
    let output = support::run_bounded(
        "promtool check config",
        "promtool",
        &["check", "config", config.to_str().unwrap()],
        Duration::from_secs(30),
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    ok(
        "promtool check config deploy/compose/prometheus.yml",
        &output,
    );
}
