#!/usr/bin/env bash
# Benchmark: repairing owner and mode of a large existing tree (`recursive = true`)
# with `jts-provision apply`, against what an operator would otherwise run:
#   chown -R USER:GROUP DIR && chmod -R u=rwX,g=rX,o= DIR
# Same machine, same data, same run; caches are warm for both (the tree was just made).
#
# Usage (as root): bench/recursive-fix.sh [FILES] (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-100000}
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

now() { date +%s.%N; }
t0=$(now)
"$bin" -q --config "$work/spec.toml" --root "$work/jts" apply >/dev/null
t1=$(now)
chown -R 4321:4321 "$work/peer/data" && chmod -R u=rwX,g=rX,o= "$work/peer/data"
t2=$(now)
"$bin" -q --config "$work/spec.toml" --root "$work/jts" validate >/dev/null
t3=$(now)
find "$work/peer/data" \( ! -user 4321 -o ! -group 4321 \) -print -quit >/dev/null
t4=$(now)

python3 - "$files" "$t0" "$t1" "$t2" "$t3" "$t4" <<'PY'
import sys
files = int(sys.argv[1])
t0, t1, t2, t3, t4 = map(float, sys.argv[2:])
repair_jts, repair_peer, verify_jts, verify_peer = t1 - t0, t2 - t1, t3 - t2, t4 - t3
print(f"files: {files}")
print(f"repair  jts-provision apply (recursive, incl. its verify walk): {repair_jts:7.3f} s")
print(f"repair  chown -R && chmod -R u=rwX,g=rX,o=                   : {repair_peer:7.3f} s   jts/peer = {repair_jts / repair_peer:.2f}")
print(f"verify  jts-provision validate                               : {verify_jts:7.3f} s")
print(f"verify  find DIR ! -user -o ! -group                         : {verify_peer:7.3f} s   jts/peer = {verify_jts / verify_peer:.2f}")
PY
