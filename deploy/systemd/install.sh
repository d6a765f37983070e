#!/usr/bin/env bash
# Installs d365mcp as systemd services on this machine:
#   the binary            -> /usr/local/bin/d365mcp (replaced: an upgrade)
#   the units             -> /usr/local/lib/systemd/system/d365mcp-{edge,worker,sim}.service
#                            (replaced; local changes belong in drop-ins)
#   the settings          -> /etc/d365mcp/{edge,worker,sim}.env, 0600, from the
#                            examples, only when absent
#   the internal secret   -> /etc/d365mcp/internal-secret, 0600, generated only
#                            when absent: copy one file to every edge and worker
# then `systemctl daemon-reload`. It enables and starts nothing. Running it
# again changes only the binary and the units. No user is created: the units
# run with DynamicUser=yes.
#
# Usage: install.sh [--binary PATH] [--root DIR] [--dry-run]
#   --binary PATH  the d365mcp binary (default: target/release/d365mcp of
#                  this checkout)
#   --root DIR     install under DIR instead of / (no root needed, no
#                  daemon-reload): for packaging and tests
#   --dry-run      print what would be done, change nothing
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="$here/../../target/release/d365mcp"
root=""
dry_run=false
while (($#)); do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --root) root="${2%/}"; shift 2 ;;
        --dry-run) dry_run=true; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
[ -x "$binary" ] || { echo "install.sh: no executable d365mcp at $binary (cargo build --release, or --binary PATH)" >&2; exit 1; }

run() {
    if $dry_run; then echo "+ $*"; else "$@"; fi
}

bin_dir="$root/usr/local/bin"
unit_dir="$root/usr/local/lib/systemd/system"
conf_dir="$root/etc/d365mcp"

run install -d -m 0755 "$bin_dir" "$unit_dir" "$conf_dir"
run install -m 0755 "$binary" "$bin_dir/d365mcp"
for role in edge worker sim; do
    run install -m 0644 "$here/d365mcp-$role.service" "$unit_dir/d365mcp-$role.service"
    if [ -e "$conf_dir/$role.env" ]; then
        echo "kept $conf_dir/$role.env"
    else
        run install -m 0600 "$here/$role.env.example" "$conf_dir/$role.env"
    fi
done

secret="$conf_dir/internal-secret"
if [ -e "$secret" ]; then
    echo "kept $secret"
elif $dry_run; then
    echo "+ generate $secret (48 random bytes, base64, 0600)"
else
    (umask 077 && head -c 48 /dev/urandom | base64 -w0 > "$secret")
    echo "generated $secret: copy this same file to every edge and worker machine"
fi

if [ -z "$root" ]; then
    run systemctl daemon-reload
else
    echo "installed under $root; not reloading systemd"
fi
echo "next: edit $conf_dir/<role>.env, then systemctl enable --now d365mcp-<role>"
