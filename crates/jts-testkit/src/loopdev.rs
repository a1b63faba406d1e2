//! Sparse image files on loop devices, for the root tier.
//!
//! A [`LoopDevice`] owns its [`ImageFile`] and the [`Mount`]s made on it: dropped (also
//! when the test panics) it unmounts them, newest first, detaches the device, then
//! removes the image.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::mounts::Mount;
use crate::run::tool;

/// One mebibyte.
pub const MIB: u64 = 1 << 20;
/// One gibibyte.
pub const GIB: u64 = 1 << 30;

/// A sparse file in a temporary directory of its own, removed on drop.
pub struct ImageFile {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl ImageFile {
    /// A new sparse file of `size` bytes.
    pub fn new(size: u64) -> Self {
        let dir = crate::scratch::tempdir();
        let path = dir.path().join("disk.img");
        let file = File::create(&path).unwrap_or_else(|err| panic!("create {}: {err}", path.display()));
        file.set_len(size).unwrap_or_else(|err| panic!("size {} to {size}: {err}", path.display()));
        Self { path, _dir: dir }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Grows (or shrinks) the file to `size` bytes; see [`LoopDevice::refresh_capacity`].
    pub fn resize(&self, size: u64) {
        let file = File::options().write(true).open(&self.path).expect("open the image file");
        file.set_len(size).unwrap_or_else(|err| panic!("resize {} to {size}: {err}", self.path.display()));
    }
}

/// A loop device on an [`ImageFile`]; on drop, its mounts are unmounted (newest first),
/// the device detached and the image removed.
pub struct LoopDevice {
    device: PathBuf,
    mounts: Vec<Mount>,
    image: ImageFile,
}

impl LoopDevice {
    /// A loop device on a new sparse image of `size` bytes.
    pub fn new(size: u64) -> Self {
        Self::attach(ImageFile::new(size))
    }

    /// Attaches `image` to the first free loop device.
    pub fn attach(image: ImageFile) -> Self {
        let run = tool("losetup", &["--find".as_ref(), "--show".as_ref(), image.path().as_os_str()]);
        run.expect_code(0);
        Self { device: PathBuf::from(run.stdout.trim()), mounts: Vec::new(), image }
    }

    /// Runs `mkfs ARGS DEVICE` (e.g. `formatted("mkfs.ext4", &["-q", "-F"])`), asserting it
    /// succeeds.
    pub fn formatted(self, mkfs: &str, args: &[&str]) -> Self {
        let mut all: Vec<&str> = args.to_vec();
        all.push(self.device());
        tool(mkfs, &all).expect_code(0);
        self
    }

    /// The device node, e.g. `/dev/loop3`.
    pub fn path(&self) -> &Path {
        &self.device
    }

    /// The device node as text, for command lines and specs.
    pub fn device(&self) -> &str {
        self.device.to_str().expect("a loop device's path is UTF-8")
    }

    /// The backing file.
    pub fn image(&self) -> &ImageFile {
        &self.image
    }

    /// Makes the device take the backing file's current size (`losetup -c`).
    pub fn refresh_capacity(&self) {
        tool("losetup", &["-c", self.device()]).expect_code(0);
    }

    /// Mounts the device at `at` (which must exist), asserting it succeeds; unmounted when
    /// the device is dropped.
    pub fn mount(&mut self, at: &Path, fstype: &str, options: &[&str]) {
        let mount = Mount::new(self.device.clone(), at, Some(fstype), options);
        self.mounts.push(mount);
    }

    /// Unmounts `at` before the device is detached: for a mount that the code under test
    /// makes on this device.
    pub fn unmount_on_drop(&mut self, at: impl Into<PathBuf>) {
        self.mounts.push(Mount::adopt(at));
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        while let Some(mount) = self.mounts.pop() {
            drop(mount);
        }
        let _ = tool("losetup", &["-d".as_ref(), self.device.as_os_str()]);
    }
}
