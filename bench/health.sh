#!/usr/bin/env bash
# Benchmark: a full jts-health `check` of real mounts against `df` over the same mounts,
# same machine, same run, warm caches.
#
# Mounts: / and /dev/shm, plus (as root) three 256 MiB ext4 loop mounts standing in for
# the hot, warm and cold tiers. A full check reads /proc/self/mountinfo once, checks each
# mount is mounted read-write, and stat+statvfs's each mount root on its worker thread.
#
# Three figures:
#   process: `service TIER=PATH...` (one check, table output) per run vs `df PATHS` per run;
#   linked:  the mean of 20,000 checks in one process (what a service linking the library
#            pays per check, workers already started) vs `df` per run.
#
# Usage: bench/health.sh [RUNS] (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-300}
cargo build -q --release -p jts-health --example service
bin=$PWD/target/release/examples/service

work=$(mktemp -d /tmp/jts-health-bench.XXXXXX)
loops=()
cleanup() {
    for tier in hot warm cold; do
        mountpoint -q "$work/$tier" 2>/dev/null && umount "$work/$tier"
    done
    for dev in "${loops[@]}"; do losetup -d "$dev"; done
    rm -rf "$work"
}
trap cleanup EXIT

mounts=(root=/ shm=/dev/shm)
if [ "$(id -u)" = 0 ]; then
    for tier in hot warm cold; do
        truncate -s 256M "$work/$tier.img"
        dev=$(losetup -f --show "$work/$tier.img")
        loops+=("$dev")
        mkfs.ext4 -q -F "$dev"
        mkdir "$work/$tier"
        mount -o noatime "$dev" "$work/$tier"
        mounts+=("$tier=$work/$tier")
    done
else
    echo "not root: benchmarking / and /dev/shm only" >&2
fi
paths=("${mounts[@]#*=}")

now() { date +%s.%N; }
"$bin" "${mounts[@]}" >/dev/null  # warm up
df "${paths[@]}" >/dev/null

t0=$(now)
for _ in $(seq "$runs"); do "$bin" "${mounts[@]}" >/dev/null; done
t1=$(now)
for _ in $(seq "$runs"); do df "${paths[@]}" >/dev/null; done
t2=$(now)
linked=$("$bin" --repeat 20000 "${mounts[@]}" 2>&1 >/dev/null | sed -n 's/^mean check: \([0-9.]*\) µs.*/\1/p')

"$bin" "${mounts[@]}" || true
awk -v n="$runs" -v m="${#mounts[@]}" -v a="$t0" -v b="$t1" -v c="$t2" -v linked="$linked" 'BEGIN {
    jts = (b - a) / n * 1000; df = (c - b) / n * 1000; lk = linked / 1000;
    printf "mounts: %d, runs: %d\n", m, n;
    printf "process: jts check %.2f ms/run, df %.2f ms/run, ratio %.2f\n", jts, df, jts / df;
    printf "linked:  jts check %.3f ms/check (mean of 20000), df %.2f ms/run, ratio %.3f\n", lk, df, lk / df;
}'
