#!/usr/bin/env bash
# Installs the external validators imggen's platform tests run (tests/integration/platforms.rs)
# and the engine front-ends tests/integration/engine_access.rs uses, on Debian bookworm, and
# leaves no web server bound to a port. Idempotent: installs only what is missing and does
# nothing else when everything is there.
#   systemd       systemd-analyze verify / security (the VM unit)
#   caddy         caddy validate, caddy fmt, caddy run (the VM Caddyfile)
#   nginx         nginx -t and nginx serving the spa fixture (the VM nginx site)
#   yamllint      every generated YAML file
#   shellcheck    the `run:` scripts of the generated GitHub workflow (through actionlint)
#   python3-yaml  PyYAML, a YAML 1.1 reader like Cloud Run's
#   openssl       a self-signed certificate for the nginx site
#   curl          requests to the proxies in the end-to-end tests
#   socat         the engine on a loopback TCP port (imggen build with DOCKER_HOST=tcp://)
#   podman        a Podman API socket (imggen build against Podman)
#   skopeo        OCI layouts from engine images, registry inspection, and the layouts of
#                 imggen build --engine oci (tests/integration/registry.rs, oci.rs)
#   libnginx-mod-stream  nginx's TCP proxy: the engine behind a TLS port that checks client
#                 certificates (imggen build with DOCKER_TLS_VERIFY, tests/integration/ci.rs)
set -euo pipefail

packages=(systemd caddy nginx yamllint shellcheck python3-yaml openssl curl socat podman libnginx-mod-stream skopeo)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi

# Keep the packages' scripts from starting nginx or caddy on ports 80/443 while installing.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    own_policy=true
fi
cleanup() {
    if [ "$own_policy" = true ]; then
        $sudo rm -f "$policy"
    fi
}
trap cleanup EXIT

$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"

# Stop any server the install started anyway (a host whose init ignores policy-rc.d).
for service in nginx caddy; do
    for p in "${missing[@]}"; do
        if [ "$p" = "$service" ]; then
            if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
                $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true
            fi
            $sudo service "$service" stop >/dev/null 2>&1 || true
        fi
    done
done
