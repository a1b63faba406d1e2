#!/usr/bin/env bash
# Benchmark: repairing owner and mode of a large existing tree (`recursive = true`)
# with `jts-provision apply`, against what an operator would otherwise run:
#   chown -R USER:GROUP DIR && chmod -R u=rwX,g=rX,o= DIR
# Same machine, same data, same run; caches are warm for both (the tree was just made).
#
# Usage (as root): bench/recursive-fix.sh [FILES] [ROUNDS] (defaults 100000 and 5)
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-100000}
rounds=${2:-5}
per_dir=500
cargo build -q --release -p jts-provision
bin=$PWD/target/release/jts-provision
work=$(mktemp -d /tmp/jts-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

make_tree() { # $1 = directory; files of 1 byte, 500 per directory, owned 0:0 mode 0644
    python3 - "$1" "$files" "$per_dir" <<'PY'
import os, sys
top, files, per_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(files):
    d = os.path.join(top, f"d{i // per_dir:05d}")
    if i % per_dir == 0:
        os.makedirs(d, mode=0o755)
    with open(os.path.join(d, f"f{i:07d}"), "w") as f:
        f.write("x")
PY
}

cat > "$work/spec.toml" <<TOML
version = 1
[groups.bench]
gid = 4321
[users.bench]
uid = 4321
group = "bench"
[[directories]]
path = "/data"
owner = "bench"
group = "bench"
mode = "0750"
recursive = true
TOML

mkdir -p "$work/jts/data" "$work/peer/data"
make_tree "$work/jts/data"
make_tree "$work/peer/data"
sync
# Accounts first, so that the timed run measures only the tree.
"$bin" --config "$work/spec.toml" --root "$work/jts" apply >/dev/null 2>&1 || true
chown -R 0:0 "$work/jts/data"; chmod -R u=rwX,go=rX "$work/jts/data"

# Each round puts both trees back to 0:0 with 0644/0755, flushes the journal (`sync`,
# so neither run pays for the other's writeback), then times jts and the peer in turn.
reset() { chown -R 0:0 "$1" && chmod -R u=rwX,go=rX "$1"; }
now() { date +%s.%N; }
for round in $(seq "$rounds"); do
    reset "$work/jts/data"; reset "$work/peer/data"; sync
    t0=$(now)
    "$bin" -q --config "$work/spec.toml" --root "$work/jts" apply >/dev/null
    t1=$(now)
    sync
    t2=$(now)
    chown -R 4321:4321 "$work/peer/data" && chmod -R u=rwX,g=rX,o= "$work/peer/data"
    t3=$(now)
    "$bin" -q --config "$work/spec.toml" --root "$work/jts" validate >/dev/null
    t4=$(now)
    find "$work/peer/data" \( ! -user 4321 -o ! -group 4321 \) -print -quit >/dev/null
    t5=$(now)
    echo "$t0 $t1 $t2 $t3 $t4 $t5"
done | python3 -c '
import statistics, sys
files = int(sys.argv[1])
rows = [list(map(float, line.split())) for line in sys.stdin]
repair = [(r[1] - r[0], r[3] - r[2]) for r in rows]
check = [(r[4] - r[3], r[5] - r[4]) for r in rows]
print(f"files: {files}, rounds: {len(rows)}")
for name, pairs, what in (("repair", repair, "apply vs chown -R && chmod -R"), ("verify", check, "validate vs find ! -user -o ! -group")):
    for jts, peer in pairs:
        print(f"  {name}: jts {jts:.3f} s, peer {peer:.3f} s, jts/peer {jts / peer:.2f}")
    ratio = statistics.median(jts / peer for jts, peer in pairs)
    print(f"{name} ({what}): median jts {statistics.median(p[0] for p in pairs):.3f} s, "
          f"peer {statistics.median(p[1] for p in pairs):.3f} s, median jts/peer {ratio:.2f}")
' "$files"
