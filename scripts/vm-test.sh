#!/usr/bin/env bash
# VM tier: runs the `vm_*` test binaries inside a qemu guest that boots Debian's kernel
# with this machine's root filesystem (virtme-ng), with sparse files as virtual disks.
# This machine's kernel has no device-mapper and no NFS; the guest's has both.
#
# One boot runs every VM test binary (a boot costs ~30 s under TCG). A missing qemu,
# kernel or virtme-ng is a failure, never a silent skip. The `vm_*` tests are #[ignore]d
# (and fail outside the guest): the guest runs them with --include-ignored.
#
# Usage: scripts/vm-test.sh [TEST-NAME-FILTER...]
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "vm-test: $*" >&2; exit 1; }
# pip may have put vng where PATH does not look yet (a fresh pyenv without a rehash).
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)"
command -v vng >/dev/null || fail "vng (virtme-ng) not found: run scripts/install-deps.sh"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 not found: run scripts/install-deps.sh"
kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
[[ -n $kernel ]] || fail "no kernel in /boot: apt-get install linux-image-amd64"

# Build the binary and the VM test binaries on the host; the guest runs them from the
# shared root.
cargo build -p jts-provision --locked
mapfile -t binaries < <(
    cargo test --workspace --locked --no-run --message-format=json 2>/dev/null |
        python3 -c '
import json, sys, os
for line in sys.stdin:
    msg = json.loads(line)
    exe = msg.get("executable")
    if msg.get("reason") == "compiler-artifact" and exe and os.path.basename(exe).startswith("vm_"):
        print(exe)
'
)
((${#binaries[@]})) || fail "no vm_* test binaries were built"

work=$(mktemp -d /tmp/jts-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
truncate -s 3G "$work/nvme.img"
truncate -s 2G "$work/sata.img"

{
    echo 'set -u'
    echo 'modprobe -a dm_mod dm_snapshot dm_bufio xfs btrfs nfsd nfs 2>/dev/null || true'
    echo 'export LVM_SUPPRESS_FD_WARNINGS=1 JTS_VM_GUEST=1 JTS_VM_DISKS="/dev/vda /dev/vdb" RUST_BACKTRACE=1'
    echo "export JTS_VM_WORK=$work"
    echo 'status=0'
    for binary in "${binaries[@]}"; do
        echo "echo \"== $(basename "$binary")\""
        echo "( cd $PWD && $binary --test-threads=1 --include-ignored ${*:-} ) || status=1"
    done
    echo "echo \$status > $work/status"
} > "$work/inside.sh"

echo "== booting $(basename "$kernel") for ${#binaries[@]} VM test binaries"
vng --run "$kernel" --disable-kvm --force-9p --memory 2G \
    --disk "$work/nvme.img" --disk "$work/sata.img" --rwdir "$work" \
    --exec "bash $work/inside.sh" 2>&1 | grep --line-buffered -v "Image format was not specified\|Automatically detecting the format\|Specify the 'raw' format"
[[ -f $work/status ]] || fail "the guest did not finish (no status written)"
exit "$(cat "$work/status")"
