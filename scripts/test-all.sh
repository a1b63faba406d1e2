#!/usr/bin/env bash
# The whole test suite: format, lints, unit and property tests, the end-to-end tests, the
# root tier and the VM tier (docs/architecture.md, "Testing tiers").
#
# The root tier (`root_*`) and the VM tier (`vm_*`) are #[ignore]d tests that fail, never
# skip, when run where they cannot work. As root this runs the root tier; as another user
# it says that it did not.
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
echo "== cargo build -p jts-provision (the binary the end-to-end tests run)"
cargo build -p jts-provision --locked
echo "== cargo test (unit, property, doc, end-to-end)"
cargo test --workspace --locked
if [[ $(id -u) == 0 ]]; then
    # The ignored tests but the VM tier's. Not one `--include-ignored --skip vm_` run:
    # --skip matches anywhere in a name, and "vm_" is in plain tests' "lvm_" too.
    echo "== cargo test, root tier (root_*)"
    cargo test --workspace --locked --tests -- --ignored --skip vm_
else
    echo "== root tier NOT run: it needs root (run this script as root to include it)"
fi
echo "== VM tier (real LVM and NFS in a qemu guest)"
bash scripts/vm-test.sh
