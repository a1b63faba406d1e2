//! The tier gates: the first line of every root-tier and VM-tier test.
//!
//! Those tests are `#[ignore]`d, so a plain `cargo test` lists them as ignored. Asked for
//! (`--ignored`, `--include-ignored`) in the wrong place, the gate *panics* with what to
//! do instead: a tier that could not run must never count as passed.

/// The variable `scripts/vm-test.sh` sets to `1` inside the qemu guest.
pub const VM_GUEST_VAR: &str = "JTS_VM_GUEST";

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Panics, saying how to run the root tier, unless this process runs as root.
///
/// The first line of every `root_*` test, which is also
/// `#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]`.
#[track_caller]
pub fn require_root() {
    assert!(
        is_root(),
        "root tier: this test needs uid 0 (loop devices, mount, chown, ACLs) and runs as uid {}. \
         Run the root tier as root: `bash scripts/test-all.sh`, or \
         `cargo build -p jts-provision && cargo test --workspace -- --ignored --skip vm_` \
         (docs/architecture.md, \"Testing tiers\")",
        nix::unistd::geteuid()
    );
}

/// Whether this process runs inside the VM tier's guest (`JTS_VM_GUEST=1`).
pub fn in_vm_guest() -> bool {
    std::env::var(VM_GUEST_VAR).is_ok_and(|value| value == "1")
}

/// Panics, saying how to run the VM tier, unless this runs inside its guest.
///
/// The first line of every `vm_*` test, which is also
/// `#[ignore = "VM tier: run by scripts/vm-test.sh"]`.
#[track_caller]
pub fn require_vm_guest() {
    assert!(
        in_vm_guest(),
        "VM tier: this test needs the qemu guest that scripts/vm-test.sh boots (real LVM, NFS and blank \
         virtual disks; {VM_GUEST_VAR}=1 there). Run it with `bash scripts/vm-test.sh [TEST-NAME-FILTER]` \
         (docs/architecture.md, \"Testing tiers\")"
    );
}
