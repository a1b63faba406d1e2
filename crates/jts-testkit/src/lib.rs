//! Test helpers shared by jts-storage's tests, written once.
//!
//! Used only as a dev-dependency: by the crates' own root-tier tests and by the
//! end-to-end tests of `jts-provision` in the workspace's top-level `tests/` package.
//! The tiers are described in `docs/architecture.md` ("Testing tiers"):
//!
//! - **Plain tests** run as any user and need nothing but this checkout.
//! - **Root tier** (`root_*`): real loop devices, mkfs, mount, chown and ACLs. Every
//!   such test is `#[ignore = "root tier: needs uid 0 (loop devices, mount, chown,
//!   ACLs)"]` and starts with [`require_root`], which *fails* (never skips) when the
//!   test is run without root.
//! - **VM tier** (`vm_*`): real LVM and NFS inside the qemu guest that
//!   `scripts/vm-test.sh` boots. Every such test is `#[ignore = "VM tier: run by
//!   scripts/vm-test.sh"]` and starts with [`require_vm_guest`].
//!
//! What is here, by module:
//!
//! | module | what |
//! | --- | --- |
//! | [`gate`] | [`is_root`], [`require_root`], [`in_vm_guest`], [`require_vm_guest`] |
//! | [`run`] | [`tool`] (and [`tool_within`], with a longer limit): run a program with a timeout into a [`Run`] that prints everything |
//! | [`scratch`] | [`tempdir`], [`write_file`], [`under`] (a spec path below a scratch `--root`), [`tier_journals`] |
//! | [`repo`] | [`repo_root`] and [`example`]: files of this checkout |
//! | [`provision`] | [`provision_bin`], [`jts`], [`jts_at`], [`spawn_jts`], [`SpecDir`]: the binary under test |
//! | [`loopdev`] | [`ImageFile`] and [`LoopDevice`]: sparse files on loop devices, detached on drop |
//! | [`mounts`] | [`Mount`], [`UnmountBelow`] and the mount table ([`mountinfo`], [`mounted_at`]) |
//! | [`tree`](mod@tree) | [`snapshot`] and [`assert_same_snapshot`] ("nothing touched"), [`tree()`] of [`FileMeta`] |
//! | [`perms`] | [`getfacl`] and [`chmod`] |
//! | [`vm`] | the guest's disks ([`two_disks`], [`BlankDisks`]) and shared directory |
//! | [`nfs`] | the guest's loopback NFS server ([`ensure_nfs_server`], [`stop_nfsd`], ...) |
//!
//! Every guard (loop device, mount) cleans up in `Drop`, so also when the test panics.
//!
//! A plain test: a command run, and a tree proven untouched by it.
//!
//! ```
//! use jts_testkit::{assert_same_snapshot, snapshot, tempdir, tool, write_file};
//!
//! let dir = tempdir();
//! let file = write_file(dir.path(), "greeting.txt", "hello");
//! let before = snapshot(dir.path());
//! let run = tool("cat", &[&file]);
//! run.expect_code(0);
//! assert_eq!(run.stdout, "hello", "{run:?}");
//! assert_same_snapshot(&before, &snapshot(dir.path()), "the scratch directory");
//! ```
//!
//! A root-tier test: ignored unless asked for, failing loudly without root, and leaving
//! no loop device or mount behind.
//!
//! ```no_run
//! use jts_testkit::{LoopDevice, MIB, require_root, tempdir};
//!
//! #[test]
//! #[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
//! fn root_an_ext4_filesystem_mounts() {
//!     require_root();
//!     let scratch = tempdir();
//!     let mut disk = LoopDevice::new(64 * MIB).formatted("mkfs.ext4", &["-q", "-F"]);
//!     disk.mount(scratch.path(), "ext4", &["noatime"]);
//!     assert!(jts_testkit::mounted_at(scratch.path()).is_some());
//! } // unmounted, then detached, then the image removed
//! # fn main() {}
//! ```

pub mod gate;
pub mod loopdev;
pub mod mounts;
pub mod nfs;
pub mod perms;
pub mod provision;
pub mod repo;
pub mod run;
pub mod scratch;
pub mod tree;
pub mod vm;

pub use gate::{in_vm_guest, is_root, require_root, require_vm_guest};
pub use loopdev::{GIB, ImageFile, LoopDevice, MIB};
pub use mounts::{Mount, MountEntry, UnmountBelow, mounted_at, mounted_below, mountinfo, unmount, unmount_below};
pub use nfs::{NFS_EXPORT, RestartNfsdOnDrop, ensure_nfs_server, start_nfsd, stop_nfsd};
pub use perms::{chmod, getfacl};
pub use provision::{SpecDir, jts, jts_at, provision_bin, spawn_jts};
pub use repo::{example, repo_root};
pub use run::{Run, have_program, tool, tool_within};
pub use scratch::{TempDir, tempdir, tier_journals, under, write_file};
pub use tree::{
    DirMeta, FileMeta, Inode, Tree, assert_same_snapshot, file_meta, file_paths, is_mover_temporary, snapshot, tree,
};
pub use vm::{BlankDisks, disks, two_disks, work_dir};
