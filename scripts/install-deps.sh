#!/usr/bin/env bash
# Installs what jts-storage's build and tests need on a fresh Debian machine (run as root).
set -euo pipefail

packages=(
    acl             # getfacl/setfacl: the tests check ACLs with the real tools
    attr            # getfattr/setfattr: the backup tests compare xattrs with the real tools
    passwd          # useradd, groupadd, usermod (with --prefix)
    util-linux      # setpriv, losetup, mount, blkid, wipefs
    e2fsprogs       # mkfs.ext4, tune2fs, resize2fs
    xfsprogs        # mkfs.xfs, xfs_info, xfs_growfs
    btrfs-progs     # mkfs.btrfs, btrfs
    lvm2            # VM tier: real LVM in the guest
    qemu-system-x86 # VM tier: the guest
    linux-image-amd64 # VM tier: Debian's kernel, with device-mapper and NFS
    busybox-static  # VM tier: virtme-ng builds its initramfs with it
    nfs-kernel-server # VM tier: loopback NFS server
    postgresql      # VM tier: a live database backed up by volume snapshot and pg_dump, then restored
    postgresql-contrib # VM tier: pgbench writes while the backups run
    rsync           # benchmarks: the peer tool
    b3sum           # benchmarks: the peer of `backup verify`
    zstd            # root tier: decompresses what the mover compressed
    systemd         # systemd-analyze verify checks the rendered units
    prometheus      # promtool: the tests parse the health metrics with Prometheus's own parser
    fio             # verify performance: the I/O engine (root tier runs it on loop filesystems)
    dpkg-dev        # the .deb: dpkg-shlibdeps computes its libc dependency for cargo-deb
    man-db          # the .deb's test: `man -w jts-provision` finds the installed page
    binutils        # readelf: the test that the binary does not load libgcc_s
)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v vng >/dev/null 2>&1; then
    pip install -q virtme-ng   # provides vng and virtme-run
    command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
if ! command -v ansible-playbook >/dev/null 2>&1 || ! command -v yamllint >/dev/null 2>&1; then
    pip install -q ansible-core yamllint   # the Ansible collection's fleet test, ansible-doc, ansible-test
    command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
if ! command -v cargo-deb >/dev/null 2>&1; then
    cargo install -q --locked cargo-deb   # scripts/build-deb.sh; about 3 minutes to compile
fi
if command -v rustup >/dev/null 2>&1; then
    rustup component add clippy rustfmt >/dev/null 2>&1 || true
fi
echo "dependencies: ok"
