#!/usr/bin/env bash
# The whole test suite: format, lints, unit and property tests, the root tier and the VM tier.
# Run as root to include the root tier (root_* tests); as another user they skip and say so.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) == 0 ]]; then
    bash scripts/install-deps.sh   # idempotent; installs only what is missing
fi

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --document-private-items --locked --quiet
echo "== the plan_host example: a second front end over jts-host"
cargo run --quiet --locked -p jts-host --example plan_host -- examples/three-tier.toml | tail -n 1
echo "== cargo test (unit, proptest, doc, root tier)"
cargo test --workspace --locked
echo "== VM tier (real LVM in a qemu guest)"
bash scripts/vm-test.sh
