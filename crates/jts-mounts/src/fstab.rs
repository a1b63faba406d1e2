//! A lossless /etc/fstab parser and editor.
//!
//! The file is kept as its lines, each with its own terminator, so that rendering gives
//! back the input byte for byte, whatever it holds: comments, blank lines, tabs, odd
//! spacing, trailing whitespace, a missing final newline, lines that are not entries.
//! Entries are keyed by their mount point (octal escapes decoded, a trailing `/` ignored).
//! [`Fstab::upsert`] changes only the line of that mount point, or appends one.

use serde::{Deserialize, Serialize};

use crate::escape::{decode_octal, encode_octal};

/// One fstab entry: `source mount_point fstype options freq passno`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FstabEntry {
    /// The first field, decoded: `UUID=…`, `LABEL=…`, `/dev/sdb1`, `host:/path`.
    pub source: String,
    /// The second field, decoded.
    pub mount_point: String,
    /// The third field, e.g. `ext4` or `nfs4`.
    pub fstype: String,
    /// The fourth field split on commas (`defaults` when the field is absent).
    pub options: Vec<String>,
    /// The fifth field (dump frequency), 0 when absent.
    pub freq: u32,
    /// The sixth field (fsck order), 0 when absent.
    pub passno: u32,
}

impl FstabEntry {
    /// An entry with freq and passno 0; empty `options` means `defaults`.
    pub fn new(source: &str, mount_point: &str, fstype: &str, options: &[String]) -> Self {
        let options = if options.is_empty() { vec!["defaults".to_owned()] } else { options.to_vec() };
        Self {
            source: source.to_owned(),
            mount_point: mount_point.to_owned(),
            fstype: fstype.to_owned(),
            options,
            freq: 0,
            passno: 0,
        }
    }

    /// Sets the fsck order (1 for `/`, 2 for other local filesystems, 0 for none).
    pub fn with_passno(mut self, passno: u32) -> Self {
        self.passno = passno;
        self
    }

    /// The entry as one line, without its newline, fields separated by one space.
    ///
    /// ```
    /// use jts_mounts::FstabEntry;
    /// let entry = FstabEntry::new("LABEL=pg", "/srv/pg data", "ext4", &["noatime".into()]).with_passno(2);
    /// assert_eq!(entry.render(), r"LABEL=pg /srv/pg\040data ext4 noatime 0 2");
    /// ```
    pub fn render(&self) -> String {
        let options: Vec<String> = self.options.iter().map(|o| encode_octal(o)).collect();
        format!(
            "{} {} {} {} {} {}",
            encode_octal(&self.source),
            encode_octal(&self.mount_point),
            encode_octal(&self.fstype),
            options.join(","),
            self.freq,
            self.passno
        )
    }

    /// Parses one line (without its terminator); `None` for comments, blank lines and
    /// lines that are not entries.
    pub fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
        if fields.first().is_none_or(|f| f.starts_with('#')) || !(3..=6).contains(&fields.len()) {
            return None;
        }
        let number = |index: usize| fields.get(index).map_or(Some(0), |f| f.parse::<u32>().ok());
        let options = fields.get(3).map_or_else(|| vec!["defaults".to_owned()], |f| split_options(&decode_octal(f)));
        Some(Self {
            source: decode_octal(fields[0]),
            mount_point: decode_octal(fields[1]),
            fstype: decode_octal(fields[2]),
            options,
            freq: number(4)?,
            passno: number(5)?,
        })
    }

    fn key(&self) -> &str {
        mount_key(&self.mount_point)
    }
}

fn split_options(field: &str) -> Vec<String> {
    field.split(',').map(str::to_owned).collect()
}

/// A mount point as a key: a trailing `/` does not make another mount point.
fn mount_key(mount_point: &str) -> &str {
    if mount_point.len() > 1 { mount_point.trim_end_matches('/') } else { mount_point }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    /// The line as read, with its `\n` when it had one.
    text: String,
    entry: Option<FstabEntry>,
}

impl Line {
    fn new(text: String) -> Self {
        let entry = FstabEntry::parse(text.strip_suffix('\n').unwrap_or(&text));
        Self { text, entry }
    }

    fn content(&self) -> &str {
        self.text.strip_suffix('\n').unwrap_or(&self.text)
    }
}

/// An fstab file: every line as it was read, with the entries parsed out of it.
///
/// ```
/// use jts_mounts::{Fstab, FstabEntry};
/// let text = "# static file system information\nUUID=1 /  ext4  errors=remount-ro 0 1\n";
/// let mut fstab = Fstab::parse(text);
/// assert_eq!(fstab.render(), text);
/// let warm = FstabEntry::new("LABEL=jts-warm", "/data/warm", "btrfs", &["compress=zstd:3".into()]);
/// assert!(fstab.upsert(warm.clone()));
/// assert!(!fstab.upsert(warm), "a second upsert changes nothing");
/// assert_eq!(fstab.render(), format!("{text}LABEL=jts-warm /data/warm btrfs compress=zstd:3 0 0\n"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fstab {
    lines: Vec<Line>,
}

impl Fstab {
    /// Parses any text; nothing is rejected, and [`Fstab::render`] gives it back unchanged.
    pub fn parse(text: &str) -> Self {
        Self { lines: text.split_inclusive('\n').map(|line| Line::new(line.to_owned())).collect() }
    }

    /// The file's text.
    pub fn render(&self) -> String {
        self.lines.iter().map(|line| line.text.as_str()).collect()
    }

    /// The lines without their terminators.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(Line::content)
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> impl Iterator<Item = &FstabEntry> {
        self.lines.iter().filter_map(|line| line.entry.as_ref())
    }

    /// The first entry of `mount_point`.
    pub fn get(&self, mount_point: &str) -> Option<&FstabEntry> {
        self.entries().find(|entry| entry.key() == mount_key(mount_point))
    }

    /// The text of the first line of `mount_point`, without its terminator.
    pub fn line_of(&self, mount_point: &str) -> Option<&str> {
        self.position(mount_point).map(|index| self.lines[index].content())
    }

    fn position(&self, mount_point: &str) -> Option<usize> {
        let key = mount_key(mount_point);
        self.lines.iter().position(|line| line.entry.as_ref().is_some_and(|entry| entry.key() == key))
    }

    /// Makes `entry` the one line of its mount point and says whether the text changed.
    ///
    /// An existing line that already says the same is kept byte for byte; one that says
    /// something else is replaced in place; further lines of the same mount point (left
    /// by scripts that appended on every run) are removed; otherwise the entry is
    /// appended. No other line changes.
    pub fn upsert(&mut self, entry: FstabEntry) -> bool {
        let key = mount_key(&entry.mount_point).to_owned();
        let Some(first) = self.position(&key) else {
            if let Some(last) = self.lines.last_mut().filter(|line| !line.text.ends_with('\n')) {
                last.text.push('\n');
            }
            self.lines.push(Line::new(format!("{}\n", entry.render())));
            return true;
        };
        let removed = self.remove_after(first, &key);
        let line = &mut self.lines[first];
        if line.entry.as_ref() == Some(&entry) {
            return removed > 0;
        }
        let newline = if line.text.ends_with('\n') { "\n" } else { "" };
        *line = Line::new(format!("{}{newline}", entry.render()));
        true
    }

    /// Removes every line of `mount_point`; returns how many there were.
    pub fn remove(&mut self, mount_point: &str) -> usize {
        let key = mount_key(mount_point).to_owned();
        match self.position(&key) {
            Some(first) => {
                let removed = self.remove_after(first, &key) + 1;
                self.lines.remove(first);
                removed
            }
            None => 0,
        }
    }

    /// Removes the lines of `key` after index `first`.
    fn remove_after(&mut self, first: usize, key: &str) -> usize {
        let before = self.lines.len();
        let mut index = 0;
        self.lines.retain(|line| {
            let keep = index <= first || line.entry.as_ref().is_none_or(|entry| entry.key() != key);
            index += 1;
            keep
        });
        before - self.lines.len()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn entry(mount_point: &str, options: &str) -> FstabEntry {
        FstabEntry::new("/dev/sdb", mount_point, "ext4", &split_options(options))
    }

    #[test]
    fn parses_fields_escapes_and_defaults() {
        let parsed = FstabEntry::parse("LABEL=a\\040b\t/srv/x\\040y  xfs").unwrap();
        assert_eq!(parsed.source, "LABEL=a b");
        assert_eq!(parsed.mount_point, "/srv/x y");
        assert_eq!((parsed.options.as_slice(), parsed.freq, parsed.passno), (&["defaults".to_owned()][..], 0, 0));
        assert_eq!(FstabEntry::parse("  # /dev/sda /x ext4 defaults 0 0"), None);
        assert_eq!(FstabEntry::parse("/dev/sda /x ext4 defaults zero 0"), None);
        assert_eq!(FstabEntry::parse("just-a-word"), None);
        assert_eq!(FstabEntry::parse("a b c d 0 0 extra"), None);
    }

    #[test]
    fn replaces_in_place_keeping_other_lines_and_position() {
        let text = "# head\n/dev/a /data ext4 defaults 0 2\n\t\n/dev/b  /logs  ext4  noatime  0  2   \n# tail";
        let mut fstab = Fstab::parse(text);
        assert!(fstab.upsert(entry("/data", "noatime")));
        assert_eq!(fstab.get("/data/").unwrap().options, ["noatime"], "a trailing slash names the same mount point");
        let out = fstab.render();
        assert_eq!(out, text.replace("/dev/a /data ext4 defaults 0 2", "/dev/sdb /data ext4 noatime 0 0"));
        assert!(fstab.upsert(entry("/new", "defaults")));
        assert!(fstab.render().ends_with("# tail\n/dev/sdb /new ext4 defaults 0 0\n"));
    }

    #[test]
    fn an_equal_line_is_kept_byte_for_byte() {
        let text = "/dev/sdb\t\t/data   ext4 noatime\t0 0  \n";
        let mut fstab = Fstab::parse(text);
        assert!(!fstab.upsert(entry("/data", "noatime")));
        assert_eq!(fstab.render(), text);
    }

    #[test]
    fn duplicates_left_by_appending_scripts_collapse_to_one_line() {
        let line = "/dev/sda2 /data/warm-storage btrfs defaults,compress=zstd:3,autodefrag,noatime 0 2\n";
        let mut fstab = Fstab::parse(&format!("{line}# x\n{line}{line}"));
        assert!(fstab.upsert(FstabEntry::parse(line.trim_end()).unwrap()));
        assert_eq!(fstab.render(), format!("{line}# x\n"));
        assert_eq!(fstab.remove("/data/warm-storage"), 1);
        assert_eq!(fstab.render(), "# x\n");
        assert_eq!(fstab.remove("/data/warm-storage"), 0);
    }

    #[test]
    fn a_last_line_without_newline_keeps_lacking_one_when_replaced() {
        let mut fstab = Fstab::parse("/dev/a /data ext4 defaults 0 2");
        fstab.upsert(entry("/data", "noatime"));
        assert_eq!(fstab.render(), "/dev/sdb /data ext4 noatime 0 0");
    }

    /// Lines as real files have them, and some that are not entries at all.
    fn line() -> impl Strategy<Value = String> {
        let space = "[ \t]{1,3}";
        let word = "[A-Za-z0-9=/:._,-]{1,12}";
        prop_oneof![
            "[ \t]*#[ -~\t]{0,30}".prop_map(|s| s),
            "[ \t]{0,4}".prop_map(|s| s),
            (space, word, space, "/[a-z]{1,6}(\\\\040[a-z]{1,3})?", space, word, space, word, "[ \t]{0,3}")
                .prop_map(|(s1, w1, s2, mp, s3, w3, s4, w4, tail)| format!("{s1}{w1}{s2}{mp}{s3}{w3}{s4}{w4}{tail}")),
            (word, space, "/[a-z]{1,4}", space, word, space, word, space, "[0-9]", space, "[0-2]")
                .prop_map(|(a, s1, b, s2, c, s3, d, s4, e, s5, f)| format!("{a}{s1}{b}{s2}{c}{s3}{d}{s4}{e}{s5}{f}")),
            "[ -~\t\r]{0,40}".prop_map(|s| s),
        ]
    }

    fn file() -> impl Strategy<Value = String> {
        (prop::collection::vec(line(), 0..12), any::<bool>()).prop_map(|(lines, final_newline)| {
            let mut text = lines.join("\n");
            if final_newline && !text.is_empty() {
                text.push('\n');
            }
            text
        })
    }

    fn new_entry() -> impl Strategy<Value = FstabEntry> {
        ("/[a-z]{1,4}( [a-z]{1,2})?", prop::sample::select(vec!["noatime", "defaults", "noatime,commit=10"]))
            .prop_map(|(mp, opts)| entry(&mp, opts))
    }

    proptest! {
        #[test]
        fn round_trip_is_byte_identical_for_any_text(text in any::<String>()) {
            prop_assert_eq!(Fstab::parse(&text).render(), text);
        }

        #[test]
        fn round_trip_is_byte_identical_for_fstab_like_text(text in file()) {
            prop_assert_eq!(Fstab::parse(&text).render(), text);
        }

        #[test]
        fn upsert_is_idempotent(text in file(), new in new_entry()) {
            let mut fstab = Fstab::parse(&text);
            fstab.upsert(new.clone());
            let once = fstab.render();
            prop_assert!(!fstab.upsert(new.clone()));
            prop_assert_eq!(fstab.render(), once.clone());
            let reparsed = Fstab::parse(&once);
            prop_assert_eq!(reparsed.entries().filter(|e| e.key() == mount_key(&new.mount_point)).count(), 1);
            prop_assert_eq!(reparsed.get(&new.mount_point), Some(&new));
        }

        #[test]
        fn upsert_never_changes_other_lines(text in file(), new in new_entry()) {
            let before = Fstab::parse(&text);
            let mut after = before.clone();
            after.upsert(new.clone());
            let key = mount_key(&new.mount_point);
            let others = |fstab: &Fstab| -> Vec<String> {
                fstab.lines.iter()
                    .filter(|l| l.entry.as_ref().is_none_or(|e| e.key() != key))
                    .map(|l| l.content().to_owned())
                    .collect()
            };
            prop_assert_eq!(others(&before), others(&after));
        }
    }
}
