#!/usr/bin/env bash
# Benchmark: a full jts-health `check` of real mounts against `df` over the same mounts,
# same machine, same run, warm caches.
#
# Mounts: / and /dev/shm, plus (as root) three 256 MiB ext4 loop mounts standing in for
# the hot, warm and cold tiers. A full check reads /proc/self/mountinfo once, checks each
# mount is mounted read-write, and stat+statvfs's each mount root on its worker thread.
#
# Figures:
#   process: `service TIER=PATH...` (one check, table output) per run vs `df PATHS` per run,
#            in rounds (RUNS of each, in turn), as built by default (dynamically linked,
#            like df) and built static-pie (`-C target-feature=+crt-static`: no dynamic
#            loader, no libgcc_s), to show how much of the gap is process start-up;
#   linked:  the mean of 20,000 checks in one process (what a service linking the library
#            pays per check, workers already started) vs `df` per run.
#
# Usage: bench/health.sh [RUNS] [ROUNDS] (defaults 50 and 10)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-50}
rounds=${2:-10}
cargo build -q --release -p jts-health --example service
bin=$PWD/target/release/examples/service
target=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --release -p jts-health --example service --target "$target"
static=$PWD/target/$target/release/examples/service

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
"$static" "${mounts[@]}" >/dev/null
df "${paths[@]}" >/dev/null

for _ in $(seq "$rounds"); do
    t0=$(now)
    for _ in $(seq "$runs"); do "$bin" "${mounts[@]}" >/dev/null; done
    t1=$(now)
    for _ in $(seq "$runs"); do "$static" "${mounts[@]}" >/dev/null; done
    t2=$(now)
    for _ in $(seq "$runs"); do df "${paths[@]}" >/dev/null; done
    t3=$(now)
    echo "$t0 $t1 $t2 $t3"
done >"$work/rounds"
linked=$("$bin" --repeat 20000 "${mounts[@]}" 2>&1 >/dev/null | sed -n 's/^mean check: \([0-9.]*\) µs.*/\1/p')

"$bin" "${mounts[@]}" || true
python3 - "$runs" "${#mounts[@]}" "$linked" "$work/rounds" <<'PY'
import statistics, sys
runs, mounts, linked = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
rows = [list(map(float, line.split())) for line in open(sys.argv[4])]
ms = lambda a, b: (b - a) / runs * 1000
dynamic = [ms(r[0], r[1]) for r in rows]
static = [ms(r[1], r[2]) for r in rows]
df = [ms(r[2], r[3]) for r in rows]
med = statistics.median
print(f"mounts: {mounts}, rounds: {len(rows)} of {runs} runs each")
print(f"process, dynamic:    jts check {med(dynamic):.2f} ms/run, df {med(df):.2f} ms/run, "
      f"median ratio {med(d / f for d, f in zip(dynamic, df)):.2f}")
print(f"process, static-pie: jts check {med(static):.2f} ms/run, df {med(df):.2f} ms/run, "
      f"median ratio {med(s / f for s, f in zip(static, df)):.2f}")
print(f"linked:  jts check {linked / 1000:.3f} ms/check (mean of 20000), df {med(df):.2f} ms/run, "
      f"ratio {linked / 1000 / med(df):.3f}")
PY
