#!/usr/bin/env bash
# Benchmark: the tier mover against the tools an operator would otherwise use, same
# machine, same data, same run, between two real filesystems (ext4 loop → btrfs loop).
#
# Data set (issue 5): 1,000 files of 1–8 MiB plus 50,000 files of 1–16 KiB in nested
# directories, all 30 days old. Before every trial the source is refilled from a golden
# copy, everything is synced and the page cache dropped, so each tool starts cold.
#
# Movers timed (wall clock, peak RSS from /usr/bin/time):
#   rsync      rsync -a --remove-source-files SRC/ DST/
#   cp+rm      cp -a SRC/. DST/ && rm -rf SRC/*
#   jts        jts-provision tier run with the default verify = "copy" (blake3 of what
#              was read, journaled; size on disk checked; durable before any source
#              is unlinked: rsync's guarantee, plus durability)
#   jts-readback  the same with verify = "readback" (every copy also evicted from the
#              page cache, re-read from the device and its hash compared)
# rsync and cp leave their writes in the page cache; jts returns only when they are on
# disk. So each peer is timed alone and with a final `sync` (same durability as jts).
#
# Writes: the MiB each tool made the source and destination devices write, its own
# writes left in the page cache included (a `sync` after it, not timed): metadata and
# journal commits on top of the data, which an SSD pays in wear.
#
# Physical limit: `dd` with O_DIRECT reads the source device and writes as many bytes to
# the destination, in the same run; each tool is reported as a share of that time. For
# `readback`, whose verification reads every byte again from the destination, the limit
# adds a `dd` read of as many bytes from the destination device.
#
# Selection: `jts-provision tier plan` against `find -type f -name '*.log' -mtime +7` on a
# 200,000-file tree (half old), warm cache, best of 5.
#
# Images: the loop devices' backing files go in the scratch directory on the root disk,
# whose speed varies from run to run on a shared host. With TIER_BENCH_IMAGES=/dev/shm
# they go on tmpfs instead (it needs free memory for about twice the data set): the
# devices then cost only memory copies, the disk's noise is gone, and what is left is
# what each tool costs the CPUs, as on a fast NVMe device.
#
# Usage: [TIER_BENCH_IMAGES=DIR] bench/tier.sh [LARGE_FILES] [SMALL_FILES] [ROUNDS]
#        (default 1000 50000 2)
set -euo pipefail
cd "$(dirname "$0")/.."
large=${1:-1000}
small=${2:-50000}
rounds=${3:-2}
[ "$(id -u)" = 0 ] || { echo "bench/tier.sh needs root (loop devices)" >&2; exit 1; }
cargo build -q --release -p jts-provision
jts=$PWD/target/release/jts-provision

work=$(mktemp -d /tmp/jts-tier-bench.XXXXXX)
images=$(mktemp -d "${TIER_BENCH_IMAGES:-$work}/jts-tier-images.XXXXXX")
loops=()
cleanup() {
    for m in "$work"/root/hot "$work"/root/warm; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
    for dev in "${loops[@]}"; do losetup -d "$dev"; done
    rm -rf "$images" "$work"
}
trap cleanup EXIT

attach() { # VAR IMAGE SIZE MKFS... → the loop device in VAR, and in `loops` for cleanup
    # (not printed for a command substitution: its subshell's `loops` would be lost, and
    # the device, never detached, would keep the deleted image on disk)
    truncate -s "$3" "$2"
    local dev
    dev=$(losetup -f --show "$2")
    loops+=("$dev")
    "${@:4}" "$dev" >/dev/null
    printf -v "$1" %s "$dev"
}
mkdir -p "$work/root/hot" "$work/root/warm" "$work/golden"
# Inode tables and journal initialised by mkfs, not by a kernel thread writing in the
# background during the first trials.
attach hot "$images/hot.img" 8G mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0
attach warm "$images/warm.img" 8G mkfs.btrfs -q -f
mount -o noatime "$hot" "$work/root/hot"
mount -o noatime "$warm" "$work/root/warm"

echo "generating $large large + $small small files..." >&2
python3 - "$work/golden" "$large" "$small" <<'EOF'
import os, random, sys, time
root, large, small = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
old = time.time() - 30 * 86400
def put(rel, size):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(rng.randbytes(size))
    os.utime(path, (old, old))
for i in range(large):
    put(f"large/{i % 20:02d}/file-{i:05d}.log", rng.randint(1 << 20, 8 << 20))
for i in range(small):
    put(f"small/{i % 100:03d}/{(i // 100) % 10}/file-{i:06d}.log", rng.randint(1 << 10, 16 << 10))
EOF
bytes=$(du -sb --apparent-size "$work/golden" | cut -f1)
files=$((large + small))

cat >"$work/spec.toml" <<EOF
version = 1
[[rules]]
name = "bench"
from = "/hot/data"
to = "/warm/data"
include = ["**/*.log"]
older_than = "7d"
action = "move"
reserve = "1MiB"
EOF
sed 's/^reserve/verify = "readback"\nreserve/' "$work/spec.toml" >"$work/spec-readback.toml"

refill() {
    rm -rf "$work/root/hot/data" "$work/root/warm/data"
    mkdir -p "$work/root/warm/data"
    cp -a "$work/golden" "$work/root/hot/data"
    sync
    echo 3 >/proc/sys/vm/drop_caches
}
check_moved() {
    local left moved
    left=$(find "$work/root/hot/data" -type f | wc -l)
    moved=$(find "$work/root/warm/data" -type f | wc -l)
    [ "$left" = 0 ] && [ "$moved" = "$files" ] || { echo "$1 moved $moved of $files, left $left" >&2; exit 1; }
}
written() { # DEVICE → MiB written to it so far (the kernel's counter; only differences count)
    awk '{ printf "%.0f", $7 * 512 / 1048576 }' "/sys/block/${1#/dev/}/stat"
}
timed() { # NAME COMMAND... → appends "NAME SECONDS RSS_KIB HOT_MIB WARM_MIB" to results
    local hot_before warm_before
    hot_before=$(written "$hot")
    warm_before=$(written "$warm")
    /usr/bin/time -f "%e %M" -o "$work/time" "${@:2}" >/dev/null
    sync
    echo "$1 $(cat "$work/time") $(($(written "$hot") - hot_before)) $(($(written "$warm") - warm_before))" >>"$work/results"
}

: >"$work/results"
for round in $(seq "$rounds"); do
    echo "round $round..." >&2
    refill
    timed rsync rsync -a --remove-source-files "$work/root/hot/data/" "$work/root/warm/data/"
    check_moved rsync
    refill
    timed rsync+sync sh -c "rsync -a --remove-source-files '$work/root/hot/data/' '$work/root/warm/data/' && sync"
    check_moved rsync+sync
    refill
    timed cp+rm sh -c "cp -a '$work/root/hot/data/.' '$work/root/warm/data/' && rm -rf '$work/root/hot/data/'*"
    check_moved cp+rm
    refill
    timed cp+rm+sync sh -c "cp -a '$work/root/hot/data/.' '$work/root/warm/data/' && sync && rm -rf '$work/root/hot/data/'* && sync"
    check_moved cp+rm+sync
    refill
    timed jts "$jts" --config "$work/spec.toml" --root "$work/root" tier run --json
    check_moved jts
    refill
    timed jts-readback "$jts" --config "$work/spec-readback.toml" --root "$work/root" tier run --json
    check_moved jts-readback
done

# The physical limit in this run: the source device read sequentially, then as many
# bytes written to the destination filesystem, both with O_DIRECT (no page cache), fsynced.
# A move reads and writes every byte once; metadata and small files only add to it.
mib=$((bytes / 1048576 + 1))
refill
/usr/bin/time -f "%e" -o "$work/time" dd if="$hot" of=/dev/null bs=1M count="$mib" iflag=direct status=none
read_s=$(cat "$work/time")
/usr/bin/time -f "%e" -o "$work/time" dd if=/dev/zero of="$work/root/warm/dd.tmp" bs=1M count="$mib" oflag=direct conv=fsync status=none
write_s=$(cat "$work/time")
sync
echo 3 >/proc/sys/vm/drop_caches
/usr/bin/time -f "%e" -o "$work/time" dd if="$warm" of=/dev/null bs=1M count="$mib" iflag=direct status=none
reread_s=$(cat "$work/time")
rm -f "$work/root/warm/dd.tmp"
echo "limit $(python3 -c "print($read_s + $write_s)") 0 0 0" >>"$work/results"
echo "readback-limit $(python3 -c "print($read_s + $write_s + $reread_s)") 0 0 0" >>"$work/results"

echo
echo "Moving $files files, $((bytes / 1048576)) MiB, ext4 loop → btrfs loop, images in $(df --output=fstype "$images" | tail -1), cold cache (best of $rounds):"
echo "physical limit: dd read of the source device ${read_s}s + dd write to the destination ${write_s}s (O_DIRECT)"
echo "with read-back: plus dd read of the destination device ${reread_s}s"
python3 - "$work/results" "$bytes" <<'EOF'
import sys
rows = [line.split() for line in open(sys.argv[1])]
total = int(sys.argv[2])
best = {}
for name, secs, rss, hot, warm in rows:
    secs, rss, hot, warm = float(secs), int(rss), int(hot), int(warm)
    if name not in best or secs < best[name][0]:
        best[name] = (secs, max(rss, best.get(name, (0, 0))[1]), hot, warm)
jts, limit, readback_limit = best["jts"][0], best.pop("limit")[0], best.pop("readback-limit")[0]
print(f"{'tool':<12} {'seconds':>8} {'MB/s':>8} {'peak RSS':>10}  {'jts speed relative to it':>24}  "
      f"{'share of the limit':>18}  {'MiB written (source + destination)':>34}")
for name, (secs, rss, hot, warm) in best.items():
    print(f"{name:<12} {secs:>8.2f} {total / secs / 1e6:>8.0f} {rss / 1024:>7.1f} MiB  {secs / jts:>23.2f}x  "
          f"{limit / secs:>18.0%}  {hot:>15} + {warm}")
print(f"(jts-readback relative to rsync+sync: {best['rsync+sync'][0] / best['jts-readback'][0]:.2f}x; "
      f"share of the limit with read-back, {readback_limit:.2f}s: {readback_limit / best['jts-readback'][0]:.0%})")
EOF

echo
echo "Selection on a 200,000-file tree (half older than 7 days), warm cache, best of 5:"
rm -rf "$work/root/hot/data" "$work/root/warm/data" "$work/golden"
python3 - "$work/root/hot/data" <<'EOF'
import os, sys, time
root = sys.argv[1]
old = time.time() - 30 * 86400
for i in range(200_000):
    d = os.path.join(root, f"{i % 200:03d}", f"{(i // 200) % 20:02d}")
    if i % 200 == 0 or not os.path.isdir(d):
        os.makedirs(d, exist_ok=True)
    p = os.path.join(d, f"f{i:06d}.log")
    open(p, "wb").close()
    if i % 2 == 0:
        os.utime(p, (old, old))
EOF
mkdir -p "$work/root/warm/data"
best() { # COMMAND... → best wall seconds of 5
    local b=999 t
    for _ in 1 2 3 4 5; do
        t=$( { /usr/bin/time -f "%e" "$@" >/dev/null; } 2>&1 | tail -n 1)
        b=$(python3 -c "print(min($b, $t))")
    done
    echo "$b"
}
find_s=$(best find "$work/root/hot/data" -type f -name '*.log' -mtime +7)
jts_s=$(best "$jts" --config "$work/spec.toml" --root "$work/root" tier plan --json)
selected=$("$jts" --config "$work/spec.toml" --root "$work/root" tier plan --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rules"][0]["files"])')
found=$(find "$work/root/hot/data" -type f -name '*.log' -mtime +7 | wc -l)
echo "find -mtime +7: ${find_s}s ($found files)   jts tier plan: ${jts_s}s ($selected files)   ratio find/jts: $(python3 -c "print(f'{$find_s / max($jts_s, 0.001):.2f}')")"
