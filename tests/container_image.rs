//! The container image, deploy/Containerfile. On these machines base images
//! cannot be pulled and containers cannot run (crun cannot set the rlimits
//! it asks for), so this checks what can be checked here:
//!
//! - the file's structure: multi-stage, every base pinned, the build stage
//!   given the commit, a non-root user, nothing at run time that needs a
//!   shell, and an ENTRYPOINT, CMD and HEALTHCHECK the binary accepts;
//! - the `healthcheck` subcommand the HEALTHCHECK runs, against each role;
//! - the build context podman makes of the repository (.dockerignore);
//! - a real `podman build` of the final stage, with the binary under test
//!   in place of the build stage's and a stand-in for the distroless base
//!   (ldd's Debian 12 libraries, which distroless/cc-debian12 also ships,
//!   and CA certificates), then `podman image inspect`; then the image's
//!   own filesystem, run with chroot as the image's user: `dev` answers a
//!   tool call and the image's HEALTHCHECK command finds it healthy.
//!
//! deploy/README.md says what this leaves unverified.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::BTreeSet,
    path::Path,
    process::{Command, Output},
    time::Duration,
};

use support::{
    Cluster,
    cluster::Process,
    container::{Containerfile, Instruction, Podman, Stage, place, repo},
};

/// Where the image keeps the binary.
const BINARY: &str = "/usr/local/bin/d365mcp";

/// The shared libraries distroless/cc-debian12 ships (glibc, libgcc,
/// libstdc++, libgomp, OpenSSL): all the binary may link to.
const DISTROLESS_CC: [&str; 12] = [
    "linux-vdso.so.1",
    "ld-linux-x86-64.so.2",
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "libgomp.so.1",
    "libssl.so.3",
    "libcrypto.so.3",
];

fn d365mcp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_d365mcp"))
        .args(args)
        .env_remove("D365MCP_HEALTHCHECK_URL")
        .env_remove("D365MCP_HEALTHCHECK_TIMEOUT")
        .output()
        .expect("run d365mcp")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The stage the binary is copied from, and the final stage.
fn stages(file: &Containerfile) -> (&Stage, &Stage) {
    let run = file.stages.last().expect("a stage");
    let copy = run
        .all("COPY")
        .find(|c| c.operands().last().map(String::as_str) == Some(BINARY))
        .unwrap_or_else(|| panic!("the final stage copies nothing to {BINARY}"));
    let from = copy
        .options()
        .into_iter()
        .find_map(|(name, value)| (name == "from").then_some(value))
        .expect("the binary is copied --from the build stage");
    let build = file
        .stages
        .iter()
        .find(|s| s.name.as_deref() == Some(from.as_str()))
        .unwrap_or_else(|| panic!("no stage named {from}"));
    (build, run)
}

/// `image:tag` or `image@sha256:…`, the tag not `latest`, no variable.
fn pinned(image: &str) -> bool {
    if image.contains('$') {
        return false;
    }
    if image.contains("@sha256:") {
        return true;
    }
    let name = image.rsplit('/').next().unwrap_or(image);
    matches!(name.split_once(':'), Some((_, tag)) if !tag.is_empty() && tag != "latest")
}

#[test]
fn the_binary_is_built_in_one_stage_and_copied_into_a_pinned_runtime() {
    let file = Containerfile::deployed();
    assert!(file.stages.len() >= 2, "not multi-stage: {file:?}");
    for stage in &file.stages {
        assert!(
            pinned(&stage.image),
            "FROM {}: pin the base image to a tag (not latest) or a digest",
            stage.from.args
        );
    }
    let (build, run) = stages(&file);
    assert!(
        !std::ptr::eq(build, run),
        "the binary is built in the final stage"
    );
    let body = |i: &Instruction| format!("{} {}", i.keyword, i.args);
    let cargo = build
        .body
        .iter()
        .position(|i| {
            i.keyword == "RUN"
                && i.args
                    .contains("cargo build --release --locked --bin d365mcp")
        })
        .unwrap_or_else(|| panic!("no `cargo build --release --locked` in {build:?}"));
    // common/build.rs reads D365MCP_COMMIT when the context has no .git.
    let commit = build
        .body
        .iter()
        .position(|i| i.keyword == "ARG" && i.args.starts_with("D365MCP_COMMIT"))
        .expect("the build stage declares ARG D365MCP_COMMIT");
    assert!(
        commit < cargo,
        "ARG D365MCP_COMMIT comes after the build: {}",
        body(&build.body[cargo])
    );
    // The image names the commit it was built from.
    assert!(
        run.all("ARG").any(|a| a.args.starts_with("D365MCP_COMMIT"))
            && run.all("LABEL").any(|l| l
                .args
                .contains("org.opencontainers.image.revision=\"${D365MCP_COMMIT}\"")),
        "the final stage labels the image with its commit"
    );
}

#[test]
fn the_final_stage_needs_no_shell_and_runs_as_a_user() {
    let file = Containerfile::deployed();
    let (_, run) = stages(&file);
    let user = run.last("USER").expect("the final stage sets USER");
    let uid = user.args.split(':').next().unwrap_or_default();
    assert!(
        uid.parse::<u32>().is_ok_and(|uid| uid != 0),
        "USER {}: a non-root user by number (Kubernetes' runAsNonRoot checks numbers)",
        user.args
    );
    // Distroless has no /bin/sh: every command the image runs is exec form.
    for keyword in ["RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK"] {
        for instruction in run.all(keyword) {
            assert!(
                instruction.exec_form().is_some(),
                "{keyword} {}: the shell form needs a shell the runtime image lacks",
                instruction.args
            );
        }
    }
    assert!(
        run.last("RUN").is_none(),
        "the runtime stage runs nothing at build time"
    );
    let entrypoint = run.last("ENTRYPOINT").and_then(Instruction::exec_form);
    assert_eq!(entrypoint, Some(vec![BINARY.to_owned()]));
    // The default command and the HEALTHCHECK's are ones the binary takes
    // (clap refuses an unknown flag before it reads --help).
    let cmd = run
        .last("CMD")
        .and_then(Instruction::exec_form)
        .expect("CMD");
    let mut args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    args.push("--help");
    let out = d365mcp(&args);
    assert!(out.status.success(), "CMD {cmd:?}: {}", text(&out));
    let health = run.last("HEALTHCHECK").expect("a HEALTHCHECK");
    let probe = health.exec_form().expect("HEALTHCHECK CMD [...]");
    assert_eq!(probe.first().map(String::as_str), Some(BINARY), "{probe:?}");
    assert_eq!(
        probe.get(1).map(String::as_str),
        Some("healthcheck"),
        "{probe:?}"
    );
    let mut args: Vec<&str> = probe[1..].iter().map(String::as_str).collect();
    args.push("--help");
    let out = d365mcp(&args);
    assert!(
        out.status.success(),
        "HEALTHCHECK {probe:?}: {}",
        text(&out)
    );
}

/// The `[default: …]` of `--flag` in `d365mcp <role> --help`.
fn default_of(role: &str, flag: &str) -> String {
    let out = d365mcp(&[role, "--help"]);
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = help
        .find(&format!("--{flag} <"))
        .unwrap_or_else(|| panic!("{role} --help has no --{flag}"));
    let rest = &help[at..];
    let value = rest
        .split_once("[default: ")
        .and_then(|(_, after)| after.split_once(']'))
        .unwrap_or_else(|| panic!("{role} --{flag} shows no default"))
        .0;
    value.to_owned()
}

fn port(address: &str) -> u16 {
    let port = address.trim_end_matches(|c: char| !c.is_ascii_digit());
    let digits = port.rsplit(|c: char| !c.is_ascii_digit()).next().unwrap();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no port in {address}"))
}

#[test]
fn the_image_exposes_each_roles_port_and_probes_the_one_it_starts() {
    let file = Containerfile::deployed();
    let (_, run) = stages(&file);
    let exposed: BTreeSet<u16> = run
        .all("EXPOSE")
        .flat_map(Instruction::operands)
        .map(|p| p.trim_end_matches("/tcp").parse().expect("a port"))
        .collect();
    let mut defaults: BTreeSet<u16> = ["dev", "edge", "worker", "sim"]
        .into_iter()
        .map(|role| port(&default_of(role, "listen")))
        .collect();
    // A worker's metrics listener (no flag default: it follows --listen).
    let worker = String::from_utf8_lossy(&d365mcp(&["worker", "--help"]).stdout).into_owned();
    assert!(worker.contains("a worker on port 9464"), "{worker}");
    defaults.insert(9464);
    assert_eq!(exposed, defaults, "EXPOSE the port of every role");
    // The command's listener is the one the HEALTHCHECK probes by default.
    let cmd = run
        .last("CMD")
        .and_then(Instruction::exec_form)
        .expect("CMD");
    let listen = cmd
        .iter()
        .position(|a| a == "--listen")
        .map(|i| cmd[i + 1].as_str())
        .expect("CMD listens on a non-loopback address: --listen 0.0.0.0:PORT");
    assert!(listen.starts_with("0.0.0.0:"), "CMD --listen {listen}");
    let probed = default_of("healthcheck", "url");
    assert_eq!(port(&probed), port(listen), "HEALTHCHECK probes {probed}");
    assert!(probed.ends_with("/health"), "{probed}");
}

#[test]
fn the_build_context_leaves_out_build_output_and_history() {
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches('/').trim_end_matches('/'))
        .collect();
    for left_out in ["target", ".git"] {
        assert!(
            patterns.contains(&left_out),
            "{left_out} not in {patterns:?}"
        );
    }
    assert!(
        !repo().join(".containerignore").exists(),
        "podman prefers .containerignore: keep one ignore file, .dockerignore, which both read"
    );
}

// --- the healthcheck subcommand ------------------------------------------

fn healthcheck(url: &str) -> Output {
    d365mcp(&["healthcheck", "--url", url, "--timeout", "2s"])
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_finds_each_role_healthy_and_anything_else_not() {
    let cluster = Cluster::builder().workers(1).edges(1).start().await;
    let edge = cluster.edges[0].url();
    let worker_metrics = cluster.workers[0].metrics_url().await;
    let sim = cluster.sim.url();
    for url in [
        format!("{edge}/health"),
        worker_metrics,
        format!("{sim}/_sim/faults"),
    ] {
        let out = tokio::task::spawn_blocking(move || (healthcheck(&url), url))
            .await
            .unwrap();
        let (out, url) = out;
        assert!(out.status.success(), "{url}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("answered 200"),
            "{url}: {}",
            text(&out)
        );
    }
    // A listener that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/health", silent.local_addr().unwrap());
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let unhealthy = [
        (format!("{edge}/nowhere"), "answered 404"),
        (format!("http://{closed}/health"), "refused"),
        // A worker's gRPC port speaks no HTTP/1.
        (
            format!("{}/health", cluster.workers[0].url()),
            "healthcheck",
        ),
        (silent_url, "no answer within 2s"),
    ];
    for (url, says) in unhealthy {
        let out = tokio::task::spawn_blocking(move || (healthcheck(&url), url))
            .await
            .unwrap();
        let (out, url) = out;
        assert_eq!(out.status.code(), Some(1), "{url}: {}", text(&out));
        assert!(text(&out).contains(says), "{url}: {}", text(&out));
    }
    for bad in ["https://127.0.0.1:8080/health", "127.0.0.1:8080"] {
        let out = healthcheck(bad);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
        assert!(
            text(&out).contains("D365MCP_HEALTHCHECK_URL"),
            "{}",
            text(&out)
        );
    }
}

// --- podman --------------------------------------------------------------

/// The repository's build context as podman makes it: every file of the
/// sources, nothing of target/ or .git.
#[test]
fn podman_takes_the_sources_into_the_build_context_and_nothing_else() {
    let podman = Podman::new("context");
    let dir = podman.context("containerfile");
    let containerfile = dir.join("Containerfile");
    std::fs::write(&containerfile, "FROM scratch\nCOPY . /context\n").unwrap();
    let containerfile = containerfile.to_string_lossy().into_owned();
    let root = repo().to_string_lossy().into_owned();
    podman.run(&[
        "build",
        "--quiet",
        "--layers=false",
        "-f",
        &containerfile,
        "-t",
        "localhost/d365mcp-context",
        &root,
    ]);
    let context = podman.mount("localhost/d365mcp-context").join("context");
    for left_out in ["target", ".git", "tests/clients/ts/node_modules"] {
        assert!(
            !context.join(left_out).exists(),
            "{left_out} is in the build context"
        );
    }
    // Every file git knows (tracked, or new and not ignored) that exists.
    let files = Command::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "-z",
        ])
        .current_dir(repo())
        .output();
    let Some(files) = files.ok().filter(|out| out.status.success()) else {
        return; // not a git checkout: nothing to compare with
    };
    let mut missing = Vec::new();
    for file in String::from_utf8_lossy(&files.stdout).split('\0') {
        if !file.is_empty() && repo().join(file).is_file() && !context.join(file).is_file() {
            missing.push(file.to_owned());
        }
    }
    assert!(
        missing.is_empty(),
        "left out of the build context: {missing:?}"
    );
    for needed in ["Cargo.lock", "proto", "common/build.rs", "src/main.rs"] {
        assert!(context.join(needed).exists(), "{needed}");
    }
}

/// A stand-in for distroless/cc-debian12:nonroot: the libraries ldd names
/// (each one distroless ships), its passwd and group, the CA bundle.
fn stand_in_runtime(root: &Path, binary: &str) {
    let ldd = Command::new("ldd").arg(binary).output().expect("run ldd");
    assert!(ldd.status.success(), "ldd {binary}: {}", text(&ldd));
    let listing = String::from_utf8_lossy(&ldd.stdout).into_owned();
    for line in listing.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let name = name.rsplit('/').next().unwrap_or(name);
        assert!(
            DISTROLESS_CC.contains(&name),
            "the binary links {name}, which distroless/cc-debian12 lacks:\n{listing}"
        );
        // `name => /path (addr)`, or `/path (addr)` for the loader.
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(Path::new);
        if let Some(path) = path {
            place(path, &root.join(path.strip_prefix("/").unwrap()));
        }
    }
    let etc = root.join("etc");
    std::fs::create_dir_all(etc.join("ssl/certs")).unwrap();
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(
        etc.join("group"),
        "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n",
    )
    .unwrap();
    let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
    assert!(
        bundle.is_file(),
        "no CA bundle at {}: apt-get install ca-certificates",
        bundle.display()
    );
    place(bundle, &etc.join("ssl/certs/ca-certificates.crt"));
}

/// The final stage of deploy/Containerfile as given, but on the stand-in
/// base and with the binary under test in place of the build stage's.
fn final_stage_on_stand_in(file: &Containerfile) -> String {
    let (build, run) = stages(file);
    let build = build.name.as_deref().unwrap();
    let mut out = String::new();
    for arg in &file.global {
        out.push_str(&format!("{} {}\n", arg.keyword, arg.args));
    }
    out.push_str("FROM scratch\nCOPY rootfs/ /\n");
    for instruction in &run.body {
        let from = instruction
            .options()
            .into_iter()
            .find_map(|(n, v)| (n == "from").then_some(v));
        match (instruction.keyword.as_str(), from) {
            ("COPY", Some(stage)) => {
                assert_eq!(stage, build, "COPY {}", instruction.args);
                let to = instruction.operands().pop().unwrap();
                out.push_str(&format!("COPY d365mcp {to}\n"));
            }
            ("RUN", _) => panic!("RUN in the final stage: {}", instruction.args),
            (keyword, _) => out.push_str(&format!("{keyword} {}\n", instruction.args)),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_builds_the_final_stage_and_its_filesystem_serves() {
    let podman = Podman::new("image");
    let context = podman.context("image");
    let binary = env!("CARGO_BIN_EXE_d365mcp");
    stand_in_runtime(&context.join("rootfs"), binary);
    place(Path::new(binary), &context.join("d365mcp"));
    let file = Containerfile::deployed();
    std::fs::write(
        context.join("Containerfile"),
        final_stage_on_stand_in(&file),
    )
    .unwrap();
    let image = "localhost/d365mcp-test";
    let context_arg = context.to_string_lossy().into_owned();
    // Docker's format: OCI's has no HEALTHCHECK.
    podman.run(&[
        "build",
        "--quiet",
        "--format",
        "docker",
        "--layers=false",
        "--build-arg",
        "D365MCP_COMMIT=0123456789ab",
        "-t",
        image,
        &context_arg,
    ]);

    let inspected = podman.inspect(image);
    let config = &inspected["Config"];
    assert_eq!(config["User"], "65532:65532", "{config:#}");
    assert_eq!(config["Entrypoint"], serde_json::json!([BINARY]));
    let (_, run) = stages(&file);
    let cmd = run.last("CMD").and_then(Instruction::exec_form).unwrap();
    assert_eq!(config["Cmd"], serde_json::json!(cmd));
    for port in ["8080/tcp", "50051/tcp", "8090/tcp", "9464/tcp"] {
        assert!(
            config["ExposedPorts"].get(port).is_some(),
            "{port}: {config:#}"
        );
    }
    assert_eq!(
        config["Labels"]["org.opencontainers.image.revision"], "0123456789ab",
        "{config:#}"
    );
    // podman shows it beside the configuration, docker inside it.
    let health = match &inspected["Healthcheck"] {
        serde_json::Value::Null => &config["Healthcheck"],
        health => health,
    };
    let test: Vec<String> = serde_json::from_value(health["Test"].clone())
        .unwrap_or_else(|_| panic!("no HEALTHCHECK in the image: {inspected:#}"));
    assert_eq!(test[..3], ["CMD", BINARY, "healthcheck"], "{health:#}");
    assert_eq!(health["Interval"], 30_000_000_000_u64, "{health:#}");

    // The image's filesystem, run as the image's user: what a container of
    // it would do, but for namespaces and the address (tests listen on
    // loopback, port 0).
    let root = podman.mount(image);
    let env: Vec<String> = serde_json::from_value(config["Env"].clone()).unwrap_or_default();
    let user = config["User"].as_str().unwrap().to_owned();
    let in_image = |args: &[&str]| {
        let mut command = tokio::process::Command::new("chroot");
        command
            .arg(format!("--userspec={user}"))
            .arg(&root)
            .arg(BINARY)
            .args(args)
            .env_clear()
            .envs(env.iter().filter_map(|kv| kv.split_once('=')))
            .env("RUST_LOG", "warn");
        command
    };
    let dev = Process::spawn("dev", in_image(&["dev", "--listen", "127.0.0.1:0"])).await;
    let reply = call_a_tool(&format!("{}/mcp", dev.url())).await;
    assert!(
        reply.contains("CustomerAccount") && !reply.contains("\"isError\":true"),
        "a tool call to dev run from the image: {reply}"
    );
    let mut probe = in_image(&test[2..].iter().map(String::as_str).collect::<Vec<_>>());
    probe.env("D365MCP_HEALTHCHECK_URL", format!("{}/health", dev.url()));
    let out = tokio::time::timeout(Duration::from_secs(10), probe.output())
        .await
        .expect("the HEALTHCHECK finishes")
        .expect("run the HEALTHCHECK");
    assert!(
        out.status.success(),
        "the image's HEALTHCHECK: {}",
        text(&out)
    );
}

/// `tools/call` of d365fo_query_entities in the 2026-07-28 era (no
/// handshake); the reply's body.
async fn call_a_tool(mcp: &str) -> String {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {
            "name": "d365fo_query_entities",
            "arguments": {"entity_set": "CustomersV3", "top": 1, "select": ["CustomerAccount"]},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}
            }
        }
    });
    let reply = reqwest::Client::new()
        .post(mcp)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", "d365fo_query_entities")
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("POST tools/call");
    assert_eq!(reply.status(), 200);
    reply.text().await.expect("the reply's body")
}
