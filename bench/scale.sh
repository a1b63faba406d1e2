#!/usr/bin/env bash
# Benchmark: how the cost of jts's tree jobs grows with the tree.
#
# For each size N (files, 500 per directory, 1 byte each, 30 days old) on a tmpfs "hot"
# tier under a scratch root, with a tmpfs "warm" tier beside it:
#   plan       jts-provision plan      (the tree owned by root: every entry to fix)
#   apply      jts-provision apply     (owner and mode of every entry repaired)
#   validate   jts-provision validate  (the repaired tree walked again)
#   tier-plan  jts-provision tier plan (every file selected by a 7-day rule)
#   tier-run   jts-provision tier run  (every file moved to warm, verify = "copy")
# Each step is one process: wall seconds from the clock around it, peak RSS from
# /usr/bin/time.
#
# Writes bench/scale.csv (files,step,seconds,us_per_file,peak_rss_mib) and, when
# gnuplot is installed (apt-get install gnuplot-nox), bench/scale.svg: time per file and
# peak memory against the tree's size. Flat lines are the goal.
#
# Usage (as root): bench/scale.sh [SIZES...]   (default 10000 100000 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/scale.sh needs root (tmpfs mounts, chown)" >&2; exit 1; }
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
cargo build -q --release -p jts-provision
jts=$PWD/target/release/jts-provision
csv=$PWD/bench/scale.csv
svg=$PWD/bench/scale.svg

work=$(mktemp -d /tmp/jts-scale-bench.XXXXXX)
cleanup() {
    for m in "$work"/root/hot "$work"/root/warm; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/root/hot" "$work/root/warm"

cat >"$work/spec.toml" <<'EOF'
version = 1
[groups.bench]
gid = 4321
[users.bench]
uid = 4321
group = "bench"
[[directories]]
path = "/hot/data"
owner = "bench"
group = "bench"
mode = "0750"
recursive = true
[[directories]]
path = "/warm/data"
owner = "bench"
group = "bench"
mode = "0750"
[[rules]]
name = "scale"
from = "/hot/data"
to = "/warm/data"
include = ["**/*"]
older_than = "7d"
action = "move"
reserve = "1MiB"
EOF

make_tree() { # DIR FILES: 1-byte files, 500 per directory, 30 days old, owned 0:0
    python3 - "$1" "$2" <<'PY'
import os, sys, time
top, files = sys.argv[1], int(sys.argv[2])
old = time.time() - 30 * 86400
for i in range(files):
    d = os.path.join(top, f"d{i // 500:05d}")
    if i % 500 == 0:
        os.makedirs(d, mode=0o755)
    path = os.path.join(d, f"f{i:07d}")
    with open(path, "w") as f:
        f.write("x")
    os.utime(path, (old, old))
PY
}

step() { # NAME FILES ARGS...: one timed process, one CSV row
    local name=$1 files=$2 start end seconds rss_kib
    shift 2
    start=$(date +%s.%N)
    /usr/bin/time -o "$work/time" -f '%M' \
        "$jts" -q --config "$work/spec.toml" --root "$work/root" "$@" >/dev/null 2>"$work/err" || {
        # A failing step would time nothing useful: stop with its message.
        echo "step $name failed:" >&2
        cat "$work/err" >&2
        exit 1
    }
    end=$(date +%s.%N)
    seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
    rss_kib=$(tail -1 "$work/time")
    awk -v n="$files" -v s="$name" -v t="$seconds" -v m="$rss_kib" \
        'BEGIN { printf "%d,%s,%.3f,%.3f,%.1f\n", n, s, t, t * 1e6 / n, m / 1024 }' | tee -a "$csv"
}

echo "files,step,seconds,us_per_file,peak_rss_mib" >"$csv"
for n in "${sizes[@]}"; do
    for tier in hot warm; do
        mountpoint -q "$work/root/$tier" && umount "$work/root/$tier"
        mount -t tmpfs -o size=8g,nr_inodes=4m tmpfs "$work/root/$tier"
    done
    mkdir -p "$work/root/hot/data"
    echo "generating $n files..." >&2
    make_tree "$work/root/hot/data" "$n"
    # Accounts, /warm/data and the top directory first, so the steps time the tree only.
    "$jts" -q --config "$work/spec.toml" --root "$work/root" apply >/dev/null
    chown -R 0:0 "$work/root/hot/data"/*
    chmod -R u=rwX,go=rX "$work/root/hot/data"/*
    sync
    step plan "$n" plan
    step apply "$n" apply
    step validate "$n" validate
    step tier-plan "$n" tier plan
    step tier-run "$n" tier run
    moved=$(find "$work/root/warm/data" -type f | wc -l)
    [ "$moved" = "$n" ] || { echo "tier run moved $moved of $n files" >&2; exit 1; }
done

if command -v gnuplot >/dev/null; then
    # One row per size, one column per step: microseconds per file, then peak MiB.
    awk -F, 'NR > 1 { us[$1, $2] = $4; mib[$1, $2] = $5; if (!($1 in seen)) { seen[$1]; sizes[++n] = $1 } }
        END { split("plan apply validate tier-plan tier-run", steps, " ")
            for (i = 1; i <= n; i++) { f = sizes[i]; printf "%s", f
            for (j = 1; j <= 5; j++) printf " %s", us[f, steps[j]]
            for (j = 1; j <= 5; j++) printf " %s", mib[f, steps[j]]
            print "" } }' "$csv" >"$work/pivot.dat"
    gnuplot <<EOF
set terminal svg size 960,440 dynamic font "sans,11"
set output "$svg"
set multiplot layout 1,2 title "jts-provision: cost per file and peak memory against tree size (bench/scale.sh)"
set logscale x
set format x "%.0s%c"
set xlabel "files in the tree"
set key top left
set grid
set ylabel "microseconds per file"
set yrange [0:*]
plot for [i=1:5] "$work/pivot.dat" using 1:(column(i+1)) with linespoints lw 2 pt 7 title word("plan apply validate tier-plan tier-run", i)
set ylabel "peak RSS, MiB"
set logscale y
set yrange [*:*]
plot for [i=1:5] "$work/pivot.dat" using 1:(column(i+6)) with linespoints lw 2 pt 7 title word("plan apply validate tier-plan tier-run", i)
unset multiplot
EOF
    echo "chart: $svg" >&2
else
    echo "gnuplot not installed (apt-get install gnuplot-nox): no chart" >&2
fi
