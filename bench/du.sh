#!/usr/bin/env bash
# Benchmark: directory usage of a 200,000-file tree, jts-health's scanner
# (crates/jts-health/examples/du.rs, the code `health` runs for [health.directory_budgets])
# against `du -sxB1`, same tree, same run.
#
# The tree: 200 directories x 1,000 files of 0..8 KiB, plus 1,000 hard links, on a tmpfs
# (as root) or under /var/tmp. Both tools are run warm (one untimed run each first), then
# RUNS times each, alternating; the mean of each and the ratio are printed, and the byte
# counts are compared (they must be equal).
#
# Usage: bench/du.sh [RUNS] (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build -q --release -p jts-health --example du
bin=$PWD/target/release/examples/du

work=$(mktemp -d /var/tmp/jts-du-bench.XXXXXX)
cleanup() {
    mountpoint -q "$work" 2>/dev/null && umount "$work"
    rm -rf "$work"
}
trap cleanup EXIT
if [ "$(id -u)" = 0 ]; then
    mount -t tmpfs -o size=3g tmpfs "$work"
    where=tmpfs
else
    where="/var/tmp ($(stat -f -c %T /var/tmp))"
fi
tree=$work/tree
python3 - "$tree" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(200):
    dir = os.path.join(root, f"d{d:03}", "sub")
    os.makedirs(dir)
    for f in range(1000):
        with open(os.path.join(dir, f"f{f}"), "wb") as fh:
            fh.write(b"x" * ((d * 1000 + f) * 37 % 8192))
for i in range(1000):
    os.link(os.path.join(root, "d000", "sub", f"f{i}"), os.path.join(root, f"d{i % 200:03}", f"h{i}"))
PY
files=$(find "$tree" | wc -l)

now() { date +%s.%N; }
ours=$("$bin" "$tree" 2>/dev/null | cut -f1)
theirs=$(du -sxB1 "$tree" | cut -f1)
[ "$ours" = "$theirs" ] || { echo "MISMATCH: jts $ours bytes, du $theirs bytes" >&2; exit 1; }

t_ours=0; t_du=0
for _ in $(seq "$runs"); do
    a=$(now); "$bin" "$tree" >/dev/null 2>&1; b=$(now)
    du -sxB1 "$tree" >/dev/null; c=$(now)
    t_ours=$(echo "$t_ours + $b - $a" | bc -l); t_du=$(echo "$t_du + $c - $b" | bc -l)
done
"$bin" "$tree" >/dev/null
awk -v n="$runs" -v o="$t_ours" -v d="$t_du" -v f="$files" -v w="$where" -v bytes="$ours" 'BEGIN {
    printf "tree: %d entries on %s, %d bytes allocated (equal for both)\n", f, w, bytes
    printf "jts-health scan: %.1f ms   du -sxB1: %.1f ms   (mean of %d)\n", o / n * 1000, d / n * 1000, n
    printf "ratio jts/du: %.2f (below 1 is faster than du)\n", o / d
}'
