//! Real-world fstab files: byte-identical round trip, one edit each, and the atomic write.

use std::path::Path;

use jts_core::Root;
use jts_mounts::{Fstab, FstabEntry, read_fstab, write_fstab};

fn corpus() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fstab");
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "the corpus is missing");
    files
}

fn warm() -> FstabEntry {
    let options = ["compress=zstd:3", "noatime"].map(String::from);
    FstabEntry::new("LABEL=jts-warm", "/data/warm-storage", "btrfs", &options)
}

#[test]
fn every_file_round_trips_byte_for_byte() {
    for (name, text) in corpus() {
        assert_eq!(Fstab::parse(&text).render(), text, "{name}");
    }
}

#[test]
fn one_edit_changes_one_line_and_keeps_the_rest() {
    for (name, text) in corpus() {
        let mut fstab = Fstab::parse(&text);
        let had = fstab.get("/data/warm-storage").is_some();
        assert!(fstab.upsert(warm()), "{name}");
        let out = fstab.render();
        let kept: Vec<&str> = text.lines().filter(|l| !l.contains("/data/warm-storage")).collect();
        let after: Vec<&str> = out.lines().filter(|l| !l.contains("/data/warm-storage")).collect();
        assert_eq!(kept, after, "{name}: other lines changed");
        assert_eq!(out.lines().filter(|l| l.contains("/data/warm-storage")).count(), 1, "{name}");
        if had {
            // The seed's duplicated line is replaced where the first one was.
            let index = text.lines().position(|l| l.contains("/data/warm-storage")).unwrap();
            assert_eq!(out.lines().nth(index).unwrap(), warm().render(), "{name}");
        } else {
            assert!(out.ends_with(&format!("{}\n", warm().render())), "{name}");
        }
        let mut again = Fstab::parse(&out);
        assert!(!again.upsert(warm()), "{name}: a second upsert changed something");
    }
}

#[test]
fn escaped_and_labelled_entries_are_keyed_by_decoded_mount_points() {
    let (_, text) = corpus().into_iter().find(|(name, _)| name.starts_with("escapes")).unwrap();
    let fstab = Fstab::parse(&text);
    assert_eq!(fstab.get("/srv/pg data").unwrap().source, "LABEL=pg data");
    assert_eq!(fstab.get("/mnt/tab\tdir").unwrap().fstype, "xfs");
    assert_eq!(fstab.get("/mnt/back\\slash").unwrap().options, ["subvol=@data", "compress=zstd"]);
    assert_eq!(fstab.get("/boot").unwrap().source, "PARTUUID=6a1f2e3d-01");
    assert_eq!(fstab.entries().count(), 5, "the garbage line is kept but is not an entry");
    let mut edited = fstab.clone();
    let entry = FstabEntry::new("LABEL=pg data", "/srv/pg data", "ext4", &["noatime".into()]).with_passno(2);
    edited.upsert(entry);
    assert!(edited.render().contains("LABEL=pg\\040data /srv/pg\\040data ext4 noatime 0 2\n"));
}

fn scratch(text: &str) -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(dir.path().join("etc/fstab"), text).unwrap();
    let root = Root::new(dir.path()).unwrap();
    (dir, root)
}

/// While one thread rewrites fstab back and forth, another reads the final name as fast
/// as it can: every read sees the whole old file or the whole new one, never a partial
/// or empty file. (This proves the rename is atomic for readers; durability across a
/// power cut rests on the fsync of the file and of /etc, which a test cannot cut.)
#[test]
fn readers_only_ever_see_the_old_or_the_new_file() {
    let old = corpus().into_iter().find(|(n, _)| n.starts_with("debian")).unwrap().1;
    let mut edited = Fstab::parse(&old);
    edited.upsert(warm());
    let new = edited.render();
    let (dir, root) = scratch(&old);
    let path = dir.path().join("etc/fstab");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let seen = std::fs::read_to_string(&path).unwrap();
                assert!(seen == old || seen == new, "a reader saw a partial file: {seen:?}");
                reads += 1;
            }
            reads
        });
        for i in 0..200 {
            let text = if i % 2 == 0 { &edited } else { &Fstab::parse(&old) };
            write_fstab(&root, text).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
}

/// A crash between the temp write and the rename leaves a stray temp file: it is not
/// under the final name, and the next write works and removes nothing it does not own.
#[test]
fn a_stray_temp_file_from_a_crash_does_not_affect_the_next_write() {
    let (dir, root) = scratch("/dev/a /a ext4 defaults 0 2\n");
    std::fs::write(dir.path().join("etc/.fstab.jts-tmp.999.0"), "/dev/a /a ext4 def").unwrap();
    assert_eq!(read_fstab(&root).unwrap().unwrap(), "/dev/a /a ext4 defaults 0 2\n");
    let mut fstab = Fstab::parse(&read_fstab(&root).unwrap().unwrap());
    fstab.upsert(warm());
    write_fstab(&root, &fstab).unwrap();
    assert_eq!(read_fstab(&root).unwrap().unwrap(), fstab.render());
}
