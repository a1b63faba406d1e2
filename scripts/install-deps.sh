#!/usr/bin/env bash
# Installs what jts-storage's build and tests need on a fresh Debian machine (run as root).
set -euo pipefail

packages=(
    acl        # getfacl/setfacl: the tests check ACLs with the real tools
    passwd     # useradd, groupadd, usermod (with --prefix)
    util-linux # setpriv: the tests run plan/check as an unprivileged user
)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if command -v rustup >/dev/null 2>&1; then
    rustup component add clippy rustfmt >/dev/null 2>&1 || true
fi
echo "dependencies: ok"
