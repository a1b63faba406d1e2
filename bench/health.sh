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
#            in rounds (RUNS of each, in turn), built twice: by default (the dynamic
#            loader maps libgcc_s.so.1 for std's unwinder, and libc) and linked as
#            `jts-provision` is (bins/jts-provision/build.rs: the same unwinder linked in
#            from libgcc_eh.a, libc still dynamic, like df's);
#   package: as root, `jts-provision health` (the command its timer runs each minute: the
#            spec read and checked, then the same check) over the three loop mounts,
#            declared as `[filesystems]`, vs `df` over the same three;
#   linked:  the mean of 20,000 checks in one process (what a service linking the library
#            pays per check, workers already started) vs `df` per run.
#
# Usage: bench/health.sh [RUNS] [ROUNDS] (defaults 50 and 10)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-50}
rounds=${2:-10}
work=$(mktemp -d /tmp/jts-health-bench.XXXXXX)
cargo build -q --release -p jts-health --example service -p jts-provision
provision=$PWD/target/release/jts-provision
bin=$work/service-default
cp target/release/examples/service "$bin"
cargo rustc -q --release -p jts-health --example service -- -l static:+whole-archive=gcc_eh
unwinder=$work/service-unwinder-linked
cp target/release/examples/service "$unwinder"
if ldd "$unwinder" | grep -q libgcc_s; then
    echo "the unwinder-linked build still loads libgcc_s" >&2
    exit 1
fi
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
echo "version = 1" >"$work/spec.toml"
if [ "$(id -u)" = 0 ]; then
    for tier in hot warm cold; do
        truncate -s 256M "$work/$tier.img"
        dev=$(losetup -f --show "$work/$tier.img")
        loops+=("$dev")
        mkfs.ext4 -q -F "$dev"
        mkdir "$work/$tier"
        mount -o noatime "$dev" "$work/$tier"
        mounts+=("$tier=$work/$tier")
        printf '[filesystems.%s]\ndevice = "%s"\nfilesystem = "ext4"\nmount_point = "%s"\nmount_options = ["noatime"]\n' \
            "$tier" "$dev" "$work/$tier" >>"$work/spec.toml"
    done
else
    echo "not root: benchmarking / and /dev/shm only" >&2
fi
paths=("${mounts[@]#*=}")
tiers=("${paths[@]:2}")
package() { [ ${#tiers[@]} = 0 ] || "$provision" --config "$work/spec.toml" health >/dev/null; }

now() { date +%s.%N; }
"$bin" "${mounts[@]}" >/dev/null  # warm up
"$unwinder" "${mounts[@]}" >/dev/null
df "${paths[@]}" >/dev/null
package

for _ in $(seq "$rounds"); do
    t0=$(now)
    for _ in $(seq "$runs"); do "$bin" "${mounts[@]}" >/dev/null; done
    t1=$(now)
    for _ in $(seq "$runs"); do "$unwinder" "${mounts[@]}" >/dev/null; done
    t2=$(now)
    for _ in $(seq "$runs"); do df "${paths[@]}" >/dev/null; done
    t3=$(now)
    for _ in $(seq "$runs"); do package; done
    t4=$(now)
    for _ in $(seq "$runs"); do [ ${#tiers[@]} = 0 ] || df "${tiers[@]}" >/dev/null; done
    t5=$(now)
    echo "$t0 $t1 $t2 $t3 $t4 $t5"
done >"$work/rounds"
linked=$("$bin" --repeat 20000 "${mounts[@]}" 2>&1 >/dev/null | sed -n 's/^mean check: \([0-9.]*\) µs.*/\1/p')

"$bin" "${mounts[@]}" || true
python3 - "$runs" "${#mounts[@]}" "$linked" "$work/rounds" <<'PY'
import statistics, sys
runs, mounts, linked = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
rows = [list(map(float, line.split())) for line in open(sys.argv[4])]
ms = lambda a, b: (b - a) / runs * 1000
dynamic = [ms(r[0], r[1]) for r in rows]
unwinder = [ms(r[1], r[2]) for r in rows]
df = [ms(r[2], r[3]) for r in rows]
package = [ms(r[3], r[4]) for r in rows]
df_tiers = [ms(r[4], r[5]) for r in rows]
med = statistics.median
print(f"mounts: {mounts}, rounds: {len(rows)} of {runs} runs each")
print(f"process, default build:         jts check {med(dynamic):.2f} ms/run, df {med(df):.2f} ms/run, "
      f"median ratio {med(d / f for d, f in zip(dynamic, df)):.2f}")
print(f"process, as jts-provision links: jts check {med(unwinder):.2f} ms/run, df {med(df):.2f} ms/run, "
      f"median ratio {med(u / f for u, f in zip(unwinder, df)):.2f}")
if med(package) > 0.1:
    print(f"package, jts-provision health, 3 loop mounts: {med(package):.2f} ms/run, df (same 3) {med(df_tiers):.2f} ms/run, "
          f"median ratio {med(p / f for p, f in zip(package, df_tiers)):.2f}")
print(f"linked:  jts check {linked / 1000:.3f} ms/check (mean of 20000), df {med(df):.2f} ms/run, "
      f"ratio {linked / 1000 / med(df):.3f}")
PY
