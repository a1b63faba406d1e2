#!/usr/bin/env bash
# Benchmark: `jts-provision backup run`, `backup restore` and `backup verify` of a
# directory against the stock tools on the same tree, same run:
#
#   backup run      vs  tar -I 'zstd -3 -T0' -cf          (pax tar + zstd -3, all cores)
#   backup restore  vs  tar --zstd -xf                     (into an empty directory)
#   backup verify   vs  zstd -t ARCHIVE + b3sum of the extracted files
#
# The tree (on a tmpfs as root, else under /var/tmp): 60 files of 2 MiB (half random,
# half text-like) and 3,000 files of 1-16 KiB text, about 140 MB. Each pair is run warm,
# RUNS times, alternating; the means and the ratio (peer time / jts time: above 1.0 means
# jts is faster) are printed. Then the peak RSS of `backup run`, `list` and `verify` over
# a tree of RSS_FILES empty files (default 100,000), from /usr/bin/time.
#
# Usage: bench/backup.sh [RUNS] [RSS_FILES]   (default 3 and 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
rss_files=${2:-100000}
cargo build -q --release -p jts-provision
bin=$PWD/target/release/jts-provision
for tool in tar zstd b3sum /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh" >&2; exit 1; }
done

work=$(mktemp -d /var/tmp/jts-backup-bench.XXXXXX)
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
root=$work/root
src=$root/srv/data
mkdir -p "$src" "$root/backups"
python3 - "$src" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(17)
words = [("%x" % rng.getrandbits(24)) for _ in range(4000)]
def text(n):
    out = []
    size = 0
    while size < n:
        w = rng.choice(words)
        out.append(w)
        size += len(w) + 1
    return (" ".join(out))[:n].encode()
os.makedirs(os.path.join(root, "big"))
for i in range(60):
    with open(os.path.join(root, "big", f"f{i}.bin"), "wb") as fh:
        fh.write(os.urandom(2 << 20) if i % 2 else text(2 << 20))
for d in range(30):
    dir = os.path.join(root, "small", f"d{d:02}")
    os.makedirs(dir)
    for f in range(100):
        with open(os.path.join(dir, f"f{f}.txt"), "wb") as fh:
            fh.write(text(rng.randint(1024, 16384)))
PY
bytes=$(du -sb "$src" | cut -f1)
files=$(find "$src" -type f | wc -l)
spec=$work/storage.toml
printf 'version = 1\n[backups.bench]\npath = "/srv/data"\nto = "/backups"\n' > "$spec"
jts() { "$bin" --config "$spec" --root "$root" -q "$@"; }

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$1" "$2"; }
declare -A total
add() { total[$1]=$(python3 -c "import sys; print(float(sys.argv[1]) + float(sys.argv[2]))" "${total[$1]:-0}" "$2"); }
time_it() { # name command...
    local name=$1; shift
    local t0 t1; t0=$(now); "$@" >/dev/null; t1=$(now)
    add "$name" "$(elapsed "$t0" "$t1")"
}
clean_backups() { rm -f "$root"/backups/*.tar.zst "$work"/peer.tar.zst; rm -rf "$root"/var/lib/jts/backup; }

# Warm-up: one untimed run of each.
jts backup run >/dev/null; tar -C "$src" -I 'zstd -3 -T0' -cf "$work/peer.tar.zst" .; clean_backups
for run in $(seq "$runs"); do
    clean_backups
    time_it jts_run jts backup run
    time_it tar_create tar -C "$src" -I 'zstd -3 -T0' -cf "$work/peer.tar.zst" .
    archive=$(ls "$root"/backups/bench-*.tar.zst)
    rm -rf "$work/r1" "$work/r2"; mkdir "$work/r2"
    time_it jts_restore jts backup restore bench --to "$work/r1"
    time_it tar_extract tar -C "$work/r2" --zstd -xf "$archive"
    time_it jts_verify jts backup verify
    time_it peer_verify bash -c "zstd -qt '$archive' && cd '$work/r2' && find . -type f -print0 | xargs -0 b3sum > /dev/null"
    sleep 1   # archive ids are per second
done
jts_size=$(stat -c %s "$archive"); tar_size=$(stat -c %s "$work/peer.tar.zst")

report() { # label ours peer
    python3 - "$1" "${total[$2]}" "${total[$3]}" "$runs" "$bytes" <<'PY'
import sys
label, ours, peer, runs, size = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
o, p = ours / runs, peer / runs
print(f"{label:<48} jts {o:6.3f}s ({size / o / 1e6:6.0f} MB/s)  peer {p:6.3f}s  ratio peer/jts {p / o:5.2f}x")
PY
}
echo "backup benchmark: $files files, $((bytes / 1000000)) MB on $where, $(nproc) cores, mean of $runs runs"
report "backup run      vs tar -I 'zstd -3 -T0' -cf" jts_run tar_create
report "backup restore  vs tar --zstd -xf" jts_restore tar_extract
report "backup verify   vs zstd -t + b3sum" jts_verify peer_verify
echo "archive size: jts $jts_size bytes, tar+zstd $tar_size bytes (ratio $(python3 -c "print(round($jts_size / $tar_size, 3))"))"

# Peak RSS of `backup run` over many small files.
rm -rf "$src"; mkdir -p "$src"
python3 - "$src" "$rss_files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range((n + 999) // 1000):
    dir = os.path.join(root, f"d{d:04}")
    os.makedirs(dir)
    for f in range(min(1000, n - d * 1000)):
        open(os.path.join(dir, f"file-{f:04}.txt"), "wb").close()
PY
clean_backups
for command in run list verify; do
    rss=$(/usr/bin/time -f %M "$bin" --config "$spec" --root "$root" -q backup "$command" 2>&1 >/dev/null | tail -1)
    echo "peak RSS of backup $command over $rss_files files: $((rss / 1024)) MiB"
done
